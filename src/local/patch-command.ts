// `basyn patch [options] FILE|- DEST` and `basyn patch --rollback [FILE] DEST`: the subcommand that
// applies a patch file (patch-format.md §4). A patch read from a pipe is spooled to the state folder
// first, so the whole patch is checked before the first write, as for a file.
import { createReadStream, promises as fs } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { BasynError, EXIT_OK, EXIT_SYNC, EXIT_USAGE, PatchError, UsageError, describeSystemError } from '../shared/errors';
import type { SizeMode } from '../shared/patch-format';
import { applyPatch, rollbackPatch, type ApplyOutcome } from '../remote/patch-apply';
import { defaultStateDir } from '../remote/patch-journal';
import { Spool } from '../remote/patch-spool';
import { SIZE_MODE } from '../shared/patch-format';
import { MSG } from '../shared/protocol';
import { addConnectionOptions, connectionOf, type ConnectionRawOptions } from './connection-cli';
import { HELP_LAYOUT } from './manual-render';
import { remotePatch } from './patch-remote';
import { parseSizeMode } from './options';

interface PatchRawOptions extends ConnectionRawOptions {
  host?: string;
  rollback?: boolean;
  diffsize?: string;
  spoolDir?: string;
  stateDir?: string;
  verbose?: boolean;
  debug?: boolean;
}

export function buildPatchProgram(): Command {
  const program = new Command('basyn patch')
    .description('Apply a patch made by basyn --diff (or by bdsync) to DEST: the whole patch and DEST are checked before the first write, and the write is journalled (a killed apply is finished by running it again, or undone with --rollback).')
    .configureHelp(HELP_LAYOUT)
    .usage('[options] FILE|- DEST   |   --rollback [FILE] DEST')
    .argument('<args...>')
    .helpOption('--help', 'display help')
    .option('-h, --host <host>', 'DEST is on this SSH host: the patch is streamed there, spooled, checked and applied there');
  return addConnectionOptions(program)
    .option('--rollback', 'undo an unfinished (killed) apply to DEST from its journal')
    .option('--diffsize <mode>', 'strict (default): DEST must have the patched size; resize: grow an image file; minsize: write what fits')
    .option('--spool-dir <dir>', 'where a patch read from stdin is spooled (default: the state folder)')
    .option('--state-dir <dir>', 'folder of the undo journal (default: $XDG_STATE_HOME/basyn)')
    .option('--verbose', 'say what is being done, on stderr')
    .option('--debug', 'stack traces on stderr')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
}

export async function patchMain(argv: string[]): Promise<number> {
  const program = buildPatchProgram();
  try {
    program.parse(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    throw error;
  }
  const raw = program.opts<PatchRawOptions>();
  const args = program.args;
  const say = (text: string) => { if (raw.verbose) process.stderr.write(`${text}\n`); };
  let spooled: string | undefined;
  try {
    if (raw.host === undefined) {
      for (const [given, name] of [[raw.port, '-p/--port'], [raw.user, '-u/--user'], [raw.rsh, '--rsh']] as const) {
        if (given !== undefined) throw new UsageError(`Option ${name} can be only used with -h/--host`);
      }
    }
    let outcome: ApplyOutcome;
    if (raw.rollback) {
      if (args.length < 1 || args.length > 2) throw new UsageError('usage: basyn patch --rollback [FILE] DEST');
      if (raw.diffsize !== undefined) throw new UsageError('--diffsize has no meaning with --rollback');
      const target = args[args.length - 1];
      outcome = raw.host !== undefined
        ? await remotePatch(connectionOf(raw.host, raw), { type: MSG.PATCH_ROLLBACK, stateDir: raw.stateDir ?? '', target }, say)
        : await rollbackPatch({ target, stateDir: raw.stateDir ?? defaultStateDir(), log: say });
    } else {
      if (args.length !== 2) throw new UsageError('usage: basyn patch [options] FILE|- DEST');
      const sizeMode: SizeMode | undefined = raw.diffsize === undefined ? undefined : parseSizeMode(raw.diffsize);
      const [file, target] = args;
      if (file !== '-') await fs.stat(file).catch((error) => { throw new UsageError(describeSystemError(error, file)); });
      if (raw.host !== undefined) {
        const begin = { size: file === '-' ? 0 : (await fs.stat(file)).size, sizeMode: sizeMode === undefined ? 0xff : SIZE_MODE[sizeMode], stateDir: raw.stateDir ?? '', spoolDir: raw.spoolDir ?? '', target };
        outcome = await remotePatch(connectionOf(raw.host, raw), { type: MSG.PATCH_APPLY, begin, input: file === '-' ? process.stdin : createReadStream(file) }, say);
      } else {
        const stateDir = raw.stateDir ?? defaultStateDir();
        await fs.stat(target).catch((error) => { throw new UsageError(describeSystemError(error, target)); });
        let patchPath = file;
        if (file === '-') {
          const spool = await Spool.fromStream(process.stdin, raw.spoolDir ?? stateDir);
          spooled = spool.path;
          patchPath = spooled;
        }
        outcome = await applyPatch({ patchPath, target, stateDir, sizeMode, log: say });
      }
    }
    const messages: Record<ApplyOutcome, string> = {
      'applied': 'patch applied',
      'resumed': 'interrupted apply finished: patch applied',
      'already-applied': 'already applied: the target already holds the patch\'s result; nothing written',
      'rolled-back': 'interrupted apply rolled back: the target is as before the patch',
    };
    process.stderr.write(`${messages[outcome]}\n`);
    return EXIT_OK;
  } catch (error) {
    const known = error instanceof BasynError ? error : new PatchError(describeSystemError(error, 'basyn patch'));
    process.stderr.write(`${known.message}\n`);
    if (raw.debug) process.stderr.write(`${(error as Error).stack}\n`);
    return error instanceof BasynError ? error.exitCode : EXIT_SYNC;
  } finally {
    if (spooled) await fs.unlink(spooled).catch(() => undefined);
  }
}

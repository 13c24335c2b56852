// `basyn patch [options] FILE|- DEST` and `basyn patch --rollback [FILE] DEST`: the subcommand that
// applies a patch file (patch-format.md §4). A patch read from a pipe is spooled to the state folder
// first, so the whole patch is checked before the first write, as for a file.
import { createReadStream, promises as fs } from 'node:fs';
import { Command } from 'commander';
import { EXIT_OK, systemErrorText, basynError } from '../shared/errors';
import { parseCommand, reportError } from './command-errors';
import type { SizeMode } from '../shared/patch-format';
import { applyPatch, rollbackPatch, type ApplyOutcome } from '../remote/patch-apply';
import { defaultStateDir } from '../remote/patch-journal';
import { Spool } from '../remote/patch-spool';
import { SIZE_MODE } from '../shared/patch-format';
import { MSG } from '../shared/protocol';
import { addConnectionOptions, connectionOf, type ConnectionRawOptions } from './connection-cli';
import { HELP_LAYOUT } from './manual-render';
import { remotePatch } from './patch-remote';
import { parseSizeMode } from './option-values';

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
  const parsed = parseCommand(program, argv);
  if (parsed !== undefined) return parsed;
  const raw = program.opts<PatchRawOptions>();
  const args = program.args;
  const say = (text: string) => { if (raw.verbose) process.stderr.write(`${text}\n`); };
  let spooled: string | undefined;
  try {
    if (raw.host === undefined) {
      for (const [given, name] of [[raw.port, '-p/--port'], [raw.user, '-u/--user'], [raw.rsh, '--rsh']] as const) {
        if (given !== undefined) throw basynError('USAGE_NEEDS_HOST', name);
      }
    }
    let outcome: ApplyOutcome;
    if (raw.rollback) {
      if (args.length < 1 || args.length > 2) throw basynError('USAGE_ROLLBACK_ARGUMENTS');
      if (raw.diffsize !== undefined) throw basynError('USAGE_ROLLBACK_DIFFSIZE');
      const target = args[args.length - 1];
      outcome = raw.host !== undefined
        ? await remotePatch(connectionOf(raw.host, raw), { type: MSG.PATCH_ROLLBACK, stateDir: raw.stateDir ?? '', target }, say)
        : await rollbackPatch({ target, stateDir: raw.stateDir ?? defaultStateDir(), log: say });
    } else {
      if (args.length !== 2) throw basynError('USAGE_PATCH_ARGUMENTS');
      const sizeMode: SizeMode | undefined = raw.diffsize === undefined ? undefined : parseSizeMode(raw.diffsize);
      const [file, target] = args;
      if (file !== '-') await fs.stat(file).catch((error) => { throw basynError('USAGE_PATCH_FILE', file, systemErrorText(error)); });
      if (raw.host !== undefined) {
        const begin = { size: file === '-' ? 0 : (await fs.stat(file)).size, sizeMode: sizeMode === undefined ? 0xff : SIZE_MODE[sizeMode], stateDir: raw.stateDir ?? '', spoolDir: raw.spoolDir ?? '', target };
        outcome = await remotePatch(connectionOf(raw.host, raw), { type: MSG.PATCH_APPLY, begin, input: file === '-' ? process.stdin : createReadStream(file) }, say);
      } else {
        const stateDir = raw.stateDir ?? defaultStateDir();
        await fs.stat(target).catch((error) => { throw basynError('USAGE_PATCH_FILE', target, systemErrorText(error)); });
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
    // A system error nothing below named (e.g. ENOSPC while spooling) is a patch error: exit 2.
    return reportError(error, (text) => process.stderr.write(text), !!raw.debug, (cause) => basynError('PATCH_SYSTEM_ERROR', systemErrorText(cause))).exitCode;
  } finally {
    if (spooled) await fs.unlink(spooled).catch(() => undefined);
  }
}

// The command line: commander turns argv into RawOptions, options.ts validates them into Options,
// session.ts does the work. Errors become one line on stderr and an exit code (0 ok, 1 usage, 2 sync);
// stack traces only with --debug.
import { Command, CommanderError, Option } from 'commander';
import { EXIT_OK, EXIT_USAGE } from '../shared/errors';
import { reportError } from './command-errors';
import { validateOptions, type RawOptions } from './options';
import { JsonEvents } from './json-output';
import { createReporter, PROCESS_IO, type Io } from './progress';
import { runEndpoints } from './run-endpoints';
import type { TransportFor } from './transport/index';
import { buildPatchProgram, patchMain } from './patch-command';
import { buildCheckHostProgram, checkHostMain } from './check-host';
import { completionScript } from './completion';
import { VERSION } from '../shared/build-info';
import { HELP_DESCRIPTION, HELP_LAYOUT, HELP_USAGE, helpEpilogue, versionText } from './manual-render';
import { buildTasksProgram, tasksMain } from './tasks/tasks-command';
// lvm+snapshot:// and loop:// as SOURCE/TARGET endpoints (registered with resource.ts).
import './resources/register';
import { addPortAndUser, addSshOptions } from './connection-cli';

export function buildProgram(io: Io = PROCESS_IO): Command {
  const program = new Command('basyn')
    .description(HELP_DESCRIPTION)
    .usage(HELP_USAGE)
    .version(versionText(), '--version', 'print the version, build id and protocol version')
    .helpOption('--help', 'display help') // -h is the host, as in Python basyn
    .option('-l, --local <device>', 'local device (e.g. /dev/sda1)')
    .option('-r, --remote <device>', 'remote device (e.g. /dev/vg_backups/copy-sda1)')
    .option('-h, --host <host>', 'remote SSH host; omitted: the remote device is on this machine (no SSH)');
  addPortAndUser(program)
    .option('-a, --action <action>', 'PUSH (local -> remote) or PULL (remote -> local); omitted: only check the devices')
    .option('-m, --mode <mode>', 'SYNC (send only changed blocks) or COPY (send everything)')
    .option('--recheck', 'compare both devices after the sync (or alone; with -a -b and no -m, invalidate the bitmap entries found different)')
    .option('--repair', 'with --recheck and -a: send the differing ranges, flush, and compare them again')
    .option('--verify-bitmap', 'hash the destination only and compare it with the bitmap (-a PUSH -r DEST -b FILE, or -a PULL -l DEST -b FILE)')
    .option('--stat', 'print transfer statistics at the end')
    .option('-v, --verbose', 'say what is being done, on stdout (-vv: and --debug)')
    .option('--progress', 'show progress on stderr (rate, ETA, changed bytes found so far); --progress=none|dot|full (dot: one per buffer)')
    .addOption(new Option('--progress-style <style>').hideHelp()) // what --progress=STYLE becomes (see main)
    .option('--json', 'one JSON object per line on stdout (start, progress, warnings, ranges, end; see docs/json.md); human output goes to stderr')
    .option('--debug', 'print debug details (and stack traces) on stderr')
    .option('--hash <name>', 'XXH128 (the default without -b: fast, salted per run, never in a bitmap), SHA1 (the default with -b), SHA224, SHA256, SHA384, SHA512, BLAKE2B, BLAKE2S, MD5, or XXH3 (fast, unsalted: for -b bitmaps)')
    .option('--buffer <KB>', 'buffer size in KB for sequential comparison (default: 2048)')
    .option('--block <size>', 'the buffer size with units (e.g. 1M, 512K; B K M G T or kB MB GB TB), as iblocksync spells it')
    .option('--block-size <size>', 'the same as --block')
    .option('--chunk <KB>', 'chunk size in KB: a differing buffer is compared chunk by chunk; 0 = off (default: 64, or none when the buffer is no larger; an existing bitmap keeps its own)')
    .option('--algo <name>', 'the same as --hash; also adler32 or crc32 (32-bit: a warning, never with -b)')
    .option('--zlevel <0-9>', 'compression level, 0 = none (default: 6)')
    .option('--passes <N>', 'after the sync, re-hash what was sent and resend what changed on the source meanwhile, up to N passes in all (default: 1 = off)')
    .option('--no-resume', 'ignore the checkpoint of an interrupted run: start the sync over (with -b: only an interrupted --reset-bitmap run)')
    .option('--bwlimit <rate>', 'cap the bytes over the link to the remote side, per second (e.g. 10M = 10 MiB/s, 500kB; 0 = no limit)')
    .option('-b, --bitmap <file>', 'bitmap file of source digests: the destination is not read (SYNC only)')
    .option('--reset-bitmap', 'rebuild the bitmap from scratch: every buffer is sent')
    .option('--update-bitmap', 'compare with the destination itself, and rewrite the bitmap')
    .option('--changes <file>', 'bitmap-only mode: write the changed ranges, one "offset length" per line')
    .option('--diff <file>', 'write the differences to FILE (- for stdout) as a patch; the destination is only read')
    .option('--diff-format <format>', 'basyn (default) or bdsync (BDSYNC 0.3, for bdsync --patch)')
    .option('--diff-advances-bitmap', 'with -b: advance the bitmap as if the patch were applied (apply every patch, in order)')
    .option('--diffsize <mode>', 'strict (default): sizes must match; resize: the patch resizes the target; minsize: compare the common size');
  return addSshOptions(program)
    .option('-f, --force', 'SOURCE TARGET form: sync into a TARGET larger than the SOURCE without asking')
    .option('--source-rsh <command>', 'SOURCE TARGET form: --rsh for the SOURCE only (env BASYN_SOURCE_RSH)')
    .option('--target-rsh <command>', 'SOURCE TARGET form: --rsh for the TARGET only (env BASYN_TARGET_RSH)')
    .option('--source-wrap <command>', 'SOURCE TARGET form: run the SOURCE agent as `COMMAND node ...`, e.g. "sudo -n" (env BASYN_SOURCE_WRAP)')
    .option('--target-wrap <command>', 'SOURCE TARGET form: run the TARGET agent as `COMMAND node ...` (env BASYN_TARGET_WRAP)')
    .argument('[endpoints...]', 'SOURCE TARGET: a local path, file://PATH, [user@]host:PATH or ssh://[user@]host[:port]/PATH (see docs/endpoints.md)')
    .allowExcessArguments(false)
    .configureHelp(HELP_LAYOUT)
    .addHelpText('after', helpEpilogue())
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout(text), writeErr: (text) => io.stderr(text) });
}

/** What a test may replace: where the text goes, how each side's agent is started, the environment. */
export interface Seams {
  readonly io?: Io;
  readonly transports?: TransportFor;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * iblocksync's spellings that commander cannot read as they are, rewritten before parsing (never
 * after `--`): `--progress=STYLE` (a value only with `=`, so a bare --progress never swallows an
 * endpoint) and `-vv` (--verbose and --debug).
 */
function rewriteSpellings(argv: string[]): string[] {
  const end = argv.indexOf('--');
  const head = end < 0 ? argv : argv.slice(0, end);
  const tail = end < 0 ? [] : argv.slice(end);
  return [
    ...head.flatMap((arg) => {
      if (arg.startsWith('--progress=')) return ['--progress-style', arg.slice('--progress='.length)];
      if (/^-vv+$/.test(arg)) return ['--verbose', '--debug'];
      return [arg];
    }),
    ...tail,
  ];
}

/** `basyn completion bash`: the script completes the options of every form, as defined here. */
function completionMain(argv: string[], io: Io): number {
  try {
    io.stdout(completionScript(argv, { sync: buildProgram(io), patch: buildPatchProgram(), checkHost: buildCheckHostProgram(io), tasks: buildTasksProgram() }, VERSION));
    return EXIT_OK;
  } catch (error) {
    return reportError(error, io.stderr, false).exitCode;
  }
}

/** Runs basyn with `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[], seams: Seams = {}): Promise<number> {
  // Reserved first words: `basyn patch ...`, `basyn tasks ...` (a file of that name is `./patch`).
  if (argv[0] === 'patch') return patchMain(argv.slice(1));
  if (argv[0] === 'tasks') return tasksMain(argv.slice(1));
  const io = seams.io ?? PROCESS_IO;
  if (argv[0] === 'check-host') return checkHostMain(argv.slice(1), { io });
  if (argv[0] === 'completion') return completionMain(argv.slice(1), io);
  const program = buildProgram(io);
  argv = rewriteSpellings(argv);
  // Known before parsing, so that even an error while validating can show its stack (or end the JSON).
  const debug = argv.includes('--debug');
  let json = argv.includes('--json') ? new JsonEvents(io) : undefined;
  const fail = (code: number, error: { code: string; message: string }): number => {
    json?.end(code, error);
    return code;
  };
  try {
    program.parse(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version "fail" with exit code 0; commander has already printed what it had to.
      return error.exitCode === 0 ? EXIT_OK : fail(EXIT_USAGE, { code: 'EUSAGE', message: error.message.replace(/^error: /, '') });
    }
    throw error;
  }
  try {
    const raw: RawOptions = { ...program.opts<RawOptions>(), endpoints: program.processedArgs[0] as string[] };
    const style = raw.progressStyle?.toLowerCase();
    const flags = { verbose: !!raw.verbose, debug, progress: !!raw.progress || style === 'full', dots: 0, json: !!raw.json, diff: raw.diff };
    const reporter = createReporter(flags, io);
    json = reporter.json;
    const options = validateOptions(raw, Boolean(process.stdin.isTTY), seams.env ?? process.env);
    if (options.progressDots) flags.dots = options.bufferSize;
    for (const warning of options.warnings) reporter.warn(warning);
    await runEndpoints(options, reporter, seams.transports);
    json?.end(EXIT_OK);
    return EXIT_OK;
  } catch (error) {
    const known = reportError(error, io.stderr, debug);
    return fail(known.exitCode, { code: known.code, message: known.message });
  }
}

// The typed options of one run, and the validation of option combinations (Python basyn's rules,
// plus ours). Everything here is pure: no file is opened.
import { UsageError } from '../shared/errors';
import { hashByName, HASH_NAMES, WEAK_HASH_NAMES, type HashAlgorithm } from '../shared/hash';
import { MAX_BUFFER_SIZE } from '../shared/protocol';
import { parseSize } from '../shared/size';
import { sameFile } from './same-file';
import { SIZE_MODE, type SizeMode } from '../shared/patch-format';
import type { DiffFormat } from './patch-writer';
import { checkBasynForm, endpointForm, type EndpointRun, type Environment } from './endpoint-options';

/** --diffsize's names (bdsync's). */
export function parseSizeMode(value: string | undefined): SizeMode {
  const mode = (value ?? 'strict').toLowerCase();
  if (!(mode in SIZE_MODE)) throw new UsageError(`--diffsize must be strict, resize or minsize, got '${value}'`);
  return mode as SizeMode;
}

export type Action = 'PUSH' | 'PULL';

export const DEFAULT_ZLEVEL = 6;

/** Refinement chunk of a SYNC without --chunk (see Options.chunkSize). */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
export type Mode = 'SYNC' | 'COPY';

/** --passes: the default (see README, "The source changing during a run", for the measured cost), and the most allowed. */
export const DEFAULT_PASSES = 1;
export const MAX_PASSES = 10;

/** How to reach the remote side. No host: the local pipe. */
export interface ConnectionOptions {
  host?: string;
  port?: number;
  user?: string;
  /** -F / --ssh-config: OpenSSH client config file (default ~/.ssh/config). */
  sshConfig?: string;
  /** -i / --identity: private key files, tried after the ssh-agent. */
  identities: string[];
  /** --known-hosts: files to verify host keys against (default ~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts). */
  knownHosts: string[];
  /** --accept-new: record unknown host keys (never changed ones). */
  acceptNew: boolean;
  /** --remote-node: node binary on the remote host. */
  remoteNode?: string;
  /** --rsh: external remote shell command instead of ssh2. */
  rsh?: string;
  /**
   * --source-wrap / --target-wrap (SOURCE TARGET form): a command the agent runs under on that side,
   * `CMD node -e ...` (e.g. `sudo -n`); a shell command line on a remote host, split into words
   * (no shell) on this one.
   */
  wrap?: string;
  /** -o KEY=VALUE options, OpenSSH style. */
  sshOptions: Record<string, string>;
  /** Batch mode: never prompt (no TTY on stdin). */
  interactive: boolean;
}

export interface Options {
  local?: string;
  remote?: string;
  action?: Action;
  mode?: Mode;
  recheck: boolean;
  /** --repair (with --recheck and -a): send the differing ranges, flush, compare them again. */
  repair: boolean;
  /** --verify-bitmap: hash the destination only and compare it with the bitmap's digests. */
  verifyBitmap: boolean;
  stat: boolean;
  verbose: boolean;
  progress: boolean;
  /** --progress=dot: a dot on stderr per buffer done, as iblocksync prints. */
  progressDots: boolean;
  /** -f/--force: a TARGET larger than the SOURCE is synced without asking. */
  force: boolean;
  /** Said once at the start, not failing the run (e.g. --algo crc32). */
  warnings: string[];
  /** The SOURCE TARGET form: what the endpoints were (undefined in the -l/-r form). */
  endpoints?: EndpointRun;
  /**
   * How to reach the local role's agent when it is not this machine's plain pipe (SOURCE TARGET form:
   * a remote SOURCE of a remote to remote run, or --source-wrap/--target-wrap on a local endpoint).
   */
  localConnection?: ConnectionOptions;
  /** --json: events on stdout (json-output.ts); human output on stderr. */
  json: boolean;
  debug: boolean;
  hash: HashAlgorithm;
  bufferSize: number;
  /**
   * Chunk size for refining a differing buffer. --chunk 0 turns refinement off; without --chunk a
   * SYNC refines with DEFAULT_CHUNK_SIZE (so a changed byte costs 64 KiB, not a whole buffer; none
   * when the buffer is no larger), and a run on an existing bitmap keeps the bitmap's chunk size.
   */
  chunkSize: number;
  /** No --chunk was given: chunkSize is the default, and an existing bitmap's own chunk size wins. */
  chunkSizeDefaulted: boolean;
  zlevel: number;
  /** --bwlimit: bytes per second over the link to the remote agent, both directions; 0 = no limit. */
  bwlimit: number;
  /** false with --no-resume: a checkpoint left by an interrupted run is ignored (the sync starts over). */
  resume: boolean;
  /** --passes: the main pass plus up to passes - 1 passes re-hashing what the previous one sent (source-passes.ts); 1 = off. */
  passes: number;
  bitmap?: string;
  resetBitmap: boolean;
  updateBitmap: boolean;
  /** --changes FILE: write changed ranges (bitmap-only mode), one `offset length` per line. */
  changes?: string;
  /** --diff FILE|-: write the differences as a patch instead of writing the destination. */
  diff?: string;
  diffFormat: DiffFormat;
  diffAdvancesBitmap: boolean;
  /** --diffsize (bdsync's meaning), for --diff and for `basyn patch`. */
  diffSize: SizeMode;
  /** Digest of basyn patches: --hash when unsalted and given, else SHA-256 (bitmap-only: the bitmap's). */
  patchHash: HashAlgorithm;
  connection: ConnectionOptions;
}

/** The options as commander hands them over: strings, booleans, undefined. */
export interface RawOptions {
  local?: string;
  remote?: string;
  host?: string;
  port?: string;
  user?: string;
  action?: string;
  mode?: string;
  recheck?: boolean;
  repair?: boolean;
  verifyBitmap?: boolean;
  stat?: boolean;
  /** --verbose is true; -v counts (-vv: 2, --debug's meaning). */
  verbose?: boolean | number;
  progress?: boolean;
  /** --progress=none|dot|full (the cli turns `--progress=X` into this, so a bare --progress never takes a value). */
  progressStyle?: string;
  /** The positional arguments: SOURCE TARGET. */
  endpoints?: string[];
  force?: boolean;
  sourceRsh?: string;
  targetRsh?: string;
  sourceWrap?: string;
  targetWrap?: string;
  /** --block / --block-size SIZE: the buffer size, with the size parser's units. */
  block?: string;
  blockSize?: string;
  /** --algo NAME: --hash, plus iblocksync's adler32 and crc32. */
  algo?: string;
  json?: boolean;
  debug?: boolean;
  hash?: string;
  buffer?: string;
  chunk?: string;
  zlevel?: string;
  bwlimit?: string;
  resume?: boolean;
  passes?: string;
  bitmap?: string;
  resetBitmap?: boolean;
  updateBitmap?: boolean;
  changes?: string;
  sshConfig?: string;
  identity?: string[];
  knownHosts?: string[];
  acceptNew?: boolean;
  remoteNode?: string;
  rsh?: string;
  option?: string[];
  diff?: string;
  diffFormat?: string;
  diffAdvancesBitmap?: boolean;
  diffsize?: string;
}

function integer(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\s*\d+\s*$/.test(value)) throw new UsageError(`Argument conversion error: ${name} must be a whole number, got '${value}'`);
  const number = Number(value);
  if (number < min || number > max) throw new UsageError(`${name} must be between ${min} and ${max}, got ${number}`);
  return number;
}

function sshOptions(pairs: string[] = []): Record<string, string> {
  const result: Record<string, string> = {};
  for (const pair of pairs) {
    const match = /^\s*([A-Za-z]+)\s*[= ]\s*(.+?)\s*$/.exec(pair);
    if (!match) throw new UsageError(`-o expects KEY=VALUE, got '${pair}'`);
    result[match[1].toLowerCase()] = match[2];
  }
  return result;
}

/** --verify-bitmap: `-a PUSH -r DEST -b FILE` or `-a PULL -l DEST -b FILE`, and no sync. */
function validateVerifyBitmap(raw: RawOptions, action: string | undefined, mode: string | undefined): void {
  if (!action || raw.bitmap === undefined) throw new UsageError('--verify-bitmap needs -a/--action and -b/--bitmap (-a PUSH -r DEST -b FILE, or -a PULL -l DEST -b FILE)');
  if (mode !== undefined) throw new UsageError('--verify-bitmap syncs nothing: it cannot be used with -m/--mode');
  if (raw.recheck) throw new UsageError('--verify-bitmap and --recheck cannot be used together (--recheck reads both devices)');
  if (raw.changes !== undefined) throw new UsageError('--verify-bitmap cannot be used with --changes');
  if (!(action === 'PUSH' ? raw.remote : raw.local)) {
    throw new UsageError(`--verify-bitmap needs the destination device: ${action === 'PUSH' ? '-r/--remote' : '-l/--local'}`);
  }
}

/** Blanks and control characters: never part of a host or user name. */
// eslint-disable-next-line no-control-regex
const BLANK_OR_CONTROL = /[\s\x00-\x1f\x7f]/;

/** Control characters shown escaped in a message, so a bad argument cannot draw on the terminal. */
function printable(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}

/**
 * -h: a host name, an ssh config alias, an IPv4 or IPv6 address ([v6] too), optionally `user@` in
 * front (for --rsh). Empty (it used to run locally and exit 0) or starting with '-' (it would become an
 * option of the --rsh command) is a usage error, as is anything with blanks or shell characters.
 */
export function validateHost(host: string): void {
  if (host === '') throw new UsageError('-h/--host is empty: give a host name or address, or leave -h out to sync on this machine');
  const at = host.lastIndexOf('@');
  const name = host.slice(at + 1);
  if (host.startsWith('-') || name.startsWith('-')) {
    throw new UsageError(`-h/--host '${printable(host)}': a host name cannot start with '-' (it would be read as an option)`);
  }
  if (at === 0 || !/^[A-Za-z0-9._%:[\]-]+$/.test(name) || BLANK_OR_CONTROL.test(host)) {
    throw new UsageError(`-h/--host '${printable(host)}' is not a host name or address`);
  }
}

/** --hash or --algo (never both): the digest, and the warning a 32-bit one gets. */
function chooseHash(raw: RawOptions, warnings: string[]): HashAlgorithm {
  if (raw.hash !== undefined && raw.algo !== undefined) throw new UsageError('--hash and --algo are the same option: give one');
  const name = raw.algo ?? raw.hash ?? 'SHA1';
  const hash = hashByName(name);
  if (!hash || (hash.weak && raw.algo === undefined)) {
    const names = raw.algo !== undefined ? [...HASH_NAMES, ...WEAK_HASH_NAMES] : HASH_NAMES;
    throw new UsageError(`Unsupported hash function: ${name} (one of ${names.join(', ')})`);
  }
  if (hash.weak) warnings.push(`--algo ${name.toLowerCase()} is a 32-bit digest: a change can go unnoticed (about 1 in 4 billion per differing block); prefer the default SHA1 or XXH128`);
  return hash;
}

/** --buffer KB, or --block/--block-size SIZE (iblocksync's spelling, with units): one of them. */
function bufferBytes(raw: RawOptions): number {
  const given = [raw.buffer !== undefined ? '--buffer' : '', raw.block !== undefined ? '--block' : '', raw.blockSize !== undefined ? '--block-size' : ''].filter(Boolean);
  if (given.length > 1) throw new UsageError(`${given.join(' and ')} all set the buffer size: give one`);
  const block = raw.block ?? raw.blockSize;
  if (block === undefined) return (integer(raw.buffer, '--buffer', 1, MAX_BUFFER_SIZE / 1024) ?? 2048) * 1024;
  const name = raw.block !== undefined ? '--block' : '--block-size';
  const bytes = parseSize(block, name);
  if (bytes < 1024 || bytes > MAX_BUFFER_SIZE || bytes % 1024 !== 0) {
    throw new UsageError(`${name} must be a whole number of KiB from 1K to ${MAX_BUFFER_SIZE / 1024 / 1024}M, got '${block}'`);
  }
  return bytes;
}

/** --progress, --progress=none|dot|full. */
function progressStyle(raw: RawOptions): 'none' | 'dot' | 'full' {
  if (raw.progressStyle === undefined) return raw.progress ? 'full' : 'none';
  if (raw.progress) throw new UsageError('--progress given twice');
  const style = raw.progressStyle.toLowerCase();
  if (style !== 'none' && style !== 'dot' && style !== 'full') throw new UsageError(`--progress= must be none, dot or full, got '${raw.progressStyle}'`);
  return style;
}

/**
 * `env`: where BASYN_SOURCE_RSH, BASYN_TARGET_RSH, BASYN_SOURCE_WRAP and BASYN_TARGET_WRAP are read
 * (SOURCE TARGET form only: the -l/-r form is not changed by them).
 */
export function validateOptions(given: RawOptions, interactive: boolean, env: Environment = {}): Options {
  const form = given.endpoints !== undefined && given.endpoints.length > 0 ? endpointForm(given, env) : undefined;
  if (!form) checkBasynForm(given);
  const raw = form?.raw ?? given;
  const action = raw.action?.toUpperCase();
  const mode = raw.mode?.toUpperCase();
  if (action !== undefined && action !== 'PUSH' && action !== 'PULL') throw new UsageError(`Unknown action - '${raw.action}'`);
  // -a without -m: a verification that syncs nothing (--recheck says which side is the source, for -b
  // and --repair; --verify-bitmap which side is the destination).
  const verifying = !!raw.recheck || !!raw.verifyBitmap;
  if (action && mode !== 'COPY' && mode !== 'SYNC' && !(mode === undefined && verifying)) {
    throw new UsageError(mode === undefined ? `Option -m/--mode must be provided with -a/--action` : `Unknown mode - '${raw.mode}' for action '${action}'`);
  }
  if (!action && mode !== undefined) throw new UsageError('Option -m/--mode can be only used with -a/--action');
  if (raw.verifyBitmap) validateVerifyBitmap(raw, action, mode);
  // With -b, the side the run does not read may be left out: the destination in bitmap-only mode, the
  // source with --verify-bitmap.
  const omittable = raw.bitmap !== undefined && action !== undefined ? (raw.verifyBitmap ? (action === 'PUSH' ? 'local' : 'remote') : (action === 'PUSH' ? 'remote' : 'local')) : undefined;
  if (!raw.local && omittable !== 'local') throw new UsageError('Option must be provided: -l/--local');
  if (!raw.remote && omittable !== 'remote') throw new UsageError('Option must be provided: -r/--remote');
  if (raw.repair && !raw.recheck) throw new UsageError('--repair can be only used with --recheck');
  if (raw.repair && !action) throw new UsageError('--repair needs -a/--action: it says which device is the source');
  // Checked here, not after the sync: exit 1 promises that nothing (not even the bitmap) was written.
  if (raw.recheck && (!raw.local || !raw.remote)) throw new UsageError('--recheck needs both devices: -l/--local and -r/--remote');
  if (raw.host !== undefined) validateHost(raw.host);
  if (raw.user !== undefined && (raw.user === '' || raw.user.startsWith('-') || BLANK_OR_CONTROL.test(raw.user))) {
    throw new UsageError(`-u/--user '${printable(raw.user)}' is not a user name`);
  }
  if (!raw.host && raw.user !== undefined) throw new UsageError('Option -u/--user can be only used with -h/--host');
  if (!raw.host && raw.port !== undefined) throw new UsageError('Option -p/--port can be only used with -h/--host');
  if (raw.rsh !== undefined && !raw.host) throw new UsageError('Option --rsh can be only used with -h/--host');
  // Both on this machine: syncing a device with itself is a typo, and reading while writing it is unsafe.
  if (!raw.host && raw.local && raw.remote && sameFile(raw.local, raw.remote)) {
    throw new UsageError(`-l/--local and -r/--remote are the same file (${raw.local} and ${raw.remote})`);
  }

  const warnings: string[] = [];
  const hash = chooseHash(raw, warnings);
  const bufferKb = bufferBytes(raw) / 1024;
  const defaultChunkKb = DEFAULT_CHUNK_SIZE / 1024 < bufferKb ? DEFAULT_CHUNK_SIZE / 1024 : 0;
  const chunkKb = integer(raw.chunk, '--chunk', 0, MAX_BUFFER_SIZE / 1024) ?? defaultChunkKb;
  if (chunkKb > bufferKb) throw new UsageError("--chunk can't be greater than --buffer");
  // Default 6, not Python basyn's 9: level 9 deflates text half as fast for 0.1 % fewer bytes
  // (docs/benchmarks.md, compression table).
  const zlevel = integer(raw.zlevel, '--zlevel', 0, 9) ?? DEFAULT_ZLEVEL;
  const port = integer(raw.port, '-p/--port', 1, 65535);
  const bwlimit = raw.bwlimit === undefined ? 0 : parseSize(raw.bwlimit, '--bwlimit');
  if (raw.bwlimit !== undefined && bwlimit < 1024 && bwlimit !== 0) throw new UsageError(`--bwlimit must be at least 1K (1024 bytes per second), or 0 for no limit; got '${raw.bwlimit}'`);

  const passes = integer(raw.passes, '--passes', 1, MAX_PASSES) ?? DEFAULT_PASSES;
  if (raw.passes !== undefined && passes > 1 && (!mode || raw.diff !== undefined || (raw.bitmap !== undefined && !(action === 'PUSH' ? raw.remote : raw.local)))) {
    throw new UsageError('--passes needs a sync that writes a destination (-a and -m, not --diff nor bitmap-only mode)');
  }

  if (raw.bitmap !== undefined && mode !== 'SYNC' && !(mode === undefined && action && verifying)) {
    throw new UsageError('--bitmap can be used with --mode==SYNC only'); // Python basyn's text; -a with --recheck or --verify-bitmap needs no -m
  }
  if (raw.bitmap !== undefined && hash.salted) {
    throw new UsageError(`--hash ${hash.name} is salted for each run and cannot be stored in a bitmap; use SHA1 or another basyn hash`);
  }
  if (raw.bitmap !== undefined && hash.weak) {
    throw new UsageError(`--algo ${hash.name.toLowerCase()} is a 32-bit digest and is never stored in a bitmap; use SHA1 or another basyn hash`);
  }
  if ((raw.resetBitmap || raw.updateBitmap) && raw.bitmap === undefined) {
    throw new UsageError(`--${raw.resetBitmap ? 'reset' : 'update'}-bitmap can be only used with -b/--bitmap`);
  }
  if ((raw.resetBitmap || raw.updateBitmap) && mode !== 'SYNC') {
    throw new UsageError(`--${raw.resetBitmap ? 'reset' : 'update'}-bitmap can be only used with -m SYNC`);
  }
  if (raw.resetBitmap && raw.updateBitmap) throw new UsageError('--reset-bitmap and --update-bitmap cannot be used together');
  const destination = action === 'PUSH' ? raw.remote : raw.local;
  if (raw.updateBitmap && !destination) throw new UsageError('--update-bitmap needs the destination device (it reads it)');
  if (raw.changes !== undefined && (raw.bitmap === undefined || destination)) {
    throw new UsageError('--changes can be only used in bitmap-only mode (-b without a destination device)');
  }

  const diffFormat = (raw.diffFormat ?? 'basyn').toLowerCase();
  if (diffFormat !== 'basyn' && diffFormat !== 'bdsync') throw new UsageError(`--diff-format must be basyn or bdsync, got '${raw.diffFormat}'`);
  if (raw.diff !== undefined) {
    if (mode !== 'SYNC') throw new UsageError('--diff can be used with -m SYNC only');
    if (raw.recheck) throw new UsageError('--diff and --recheck cannot be used together (the destination is not written)');
    if (raw.diff === '-' && raw.json) throw new UsageError('--diff - and --json cannot be used together: both would write to stdout');
    if (raw.updateBitmap || raw.resetBitmap) throw new UsageError('--diff cannot be used with --update-bitmap or --reset-bitmap');
    if (raw.bitmap !== undefined && !destination && !raw.diffAdvancesBitmap) {
      throw new UsageError('--diff in bitmap-only mode needs --diff-advances-bitmap: the bitmap then stands for the target once this patch is applied, so every patch must be applied, in order');
    }
    if (diffFormat === 'bdsync' && !destination) throw new UsageError('--diff-format bdsync needs the destination (-r for PUSH, -l for PULL): it names it');
  } else if (raw.diffFormat !== undefined || raw.diffAdvancesBitmap || raw.diffsize !== undefined) {
    throw new UsageError('--diff-format, --diff-advances-bitmap and --diffsize can be only used with --diff');
  }
  if (raw.diffAdvancesBitmap && raw.bitmap === undefined) throw new UsageError('--diff-advances-bitmap can be only used with -b/--bitmap');
  const diffSize = parseSizeMode(raw.diffsize);
  const patchHash = (raw.hash ?? raw.algo) !== undefined && !hash.salted && !hash.weak ? hash : (hashByName('SHA256') as HashAlgorithm);
  const progress = progressStyle(raw);
  const verbosity = typeof raw.verbose === 'number' ? raw.verbose : raw.verbose ? 1 : 0;

  const options: Options = {
    diff: raw.diff,
    diffFormat,
    diffAdvancesBitmap: !!raw.diffAdvancesBitmap,
    diffSize,
    patchHash,
    local: raw.local,
    remote: raw.remote,
    action: action as Action | undefined,
    mode: mode as Mode | undefined,
    recheck: !!raw.recheck,
    repair: !!raw.repair,
    verifyBitmap: !!raw.verifyBitmap,
    stat: !!raw.stat,
    verbose: verbosity > 0,
    progress: progress === 'full',
    progressDots: progress === 'dot',
    force: !!raw.force,
    warnings,
    endpoints: form?.run,
    json: !!raw.json,
    debug: !!raw.debug || verbosity >= 2,
    hash,
    bufferSize: bufferKb * 1024,
    chunkSize: chunkKb * 1024,
    chunkSizeDefaulted: raw.chunk === undefined,
    zlevel,
    bwlimit,
    resume: raw.resume !== false,
    passes,
    bitmap: raw.bitmap,
    resetBitmap: !!raw.resetBitmap,
    updateBitmap: !!raw.updateBitmap,
    changes: raw.changes,
    connection: {
      host: raw.host,
      port,
      user: raw.user,
      sshConfig: raw.sshConfig,
      identities: raw.identity ?? [],
      knownHosts: raw.knownHosts ?? [],
      acceptNew: !!raw.acceptNew,
      remoteNode: raw.remoteNode,
      rsh: raw.rsh,
      wrap: form?.remote.wrap,
      sshOptions: sshOptions(raw.option),
      interactive,
    },
  };
  if (form?.local) {
    if (form.local.host !== undefined) validateHost(form.local.host);
    const { host, port, user, rsh, wrap } = form.local;
    options.localConnection = { ...options.connection, host, port, user, rsh, wrap };
  }
  return options;
}

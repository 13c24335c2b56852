// The typed options of one run, and the validation of option combinations (Python basyn's rules,
// plus ours). Everything here is pure: no file is opened.
// One option's value is read in option-values.ts; every message is a row of errors-usage.ts.
import { basynError } from '../shared/errors';
import { hashByName, type HashAlgorithm } from '../shared/hash';
import { MAX_BUFFER_SIZE } from '../shared/protocol';
import { sameFile } from './same-file';
import type { SizeMode } from '../shared/patch-format';
import type { DiffFormat } from './patch-writer';
import { checkBasynForm, endpointForm, type EndpointRun, type Environment } from './endpoint-options';
import { bandwidthLimit, bufferBytes, chooseHash, integer, parsePort, parseSizeMode, progressStyle, validateHost, validateUser } from './option-values';
import { connectionOf, type ConnectionRawOptions } from './connection-cli';

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
export interface RawOptions extends ConnectionRawOptions {
  local?: string;
  remote?: string;
  host?: string;
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
  diff?: string;
  diffFormat?: string;
  diffAdvancesBitmap?: boolean;
  diffsize?: string;
}

/** --verify-bitmap: `-a PUSH -r DEST -b FILE` or `-a PULL -l DEST -b FILE`, and no sync. */
function validateVerifyBitmap(raw: RawOptions, action: string | undefined, mode: string | undefined): void {
  if (!action || raw.bitmap === undefined) throw basynError('USAGE_VERIFY_BITMAP_NEEDS');
  if (mode !== undefined) throw basynError('USAGE_VERIFY_BITMAP_WITH_MODE');
  if (raw.recheck) throw basynError('USAGE_VERIFY_BITMAP_WITH_RECHECK');
  if (raw.changes !== undefined) throw basynError('USAGE_VERIFY_BITMAP_WITH_CHANGES');
  if (!(action === 'PUSH' ? raw.remote : raw.local)) throw basynError('USAGE_VERIFY_BITMAP_DESTINATION', action === 'PUSH' ? '-r/--remote' : '-l/--local');
}

/** --diff and its companions; `destination`: the destination device, if the run names one. */
function validateDiff(raw: RawOptions, mode: string | undefined, destination: string | undefined, hash: HashAlgorithm): DiffFormat {
  const diffFormat = (raw.diffFormat ?? 'basyn').toLowerCase();
  if (diffFormat !== 'basyn' && diffFormat !== 'bdsync') throw basynError('USAGE_DIFF_FORMAT', String(raw.diffFormat));
  if (raw.diff !== undefined) {
    if (mode !== 'SYNC') throw basynError('USAGE_DIFF_NEEDS_SYNC');
    if (raw.recheck) throw basynError('USAGE_DIFF_WITH_RECHECK');
    if (raw.diff === '-' && raw.json) throw basynError('USAGE_DIFF_STDOUT_WITH_JSON');
    if (raw.updateBitmap || raw.resetBitmap) throw basynError('USAGE_DIFF_WITH_BITMAP_REWRITE');
    if (raw.bitmap !== undefined && !destination && !raw.diffAdvancesBitmap) throw basynError('USAGE_DIFF_BITMAP_ONLY');
    if (raw.bitmap !== undefined && !hash.nodeName) throw basynError('USAGE_DIFF_FAST_BITMAP', hash.name);
    if (diffFormat === 'bdsync' && !destination) throw basynError('USAGE_DIFF_BDSYNC_NEEDS_DESTINATION');
  } else if (raw.diffFormat !== undefined || raw.diffAdvancesBitmap || raw.diffsize !== undefined) {
    throw basynError('USAGE_DIFF_OPTION_NEEDS_DIFF');
  }
  if (raw.diffAdvancesBitmap && raw.bitmap === undefined) throw basynError('USAGE_DIFF_ADVANCES_NEEDS_BITMAP');
  return diffFormat;
}

/** -b and its companions. */
function validateBitmap(raw: RawOptions, action: string | undefined, mode: string | undefined, verifying: boolean, hash: HashAlgorithm, destination: string | undefined): void {
  if (raw.bitmap !== undefined && mode !== 'SYNC' && !(mode === undefined && action && verifying)) {
    throw basynError('USAGE_BITMAP_NEEDS_SYNC'); // -a with --recheck or --verify-bitmap needs no -m
  }
  if (raw.bitmap !== undefined && hash.salted) throw basynError('USAGE_SALTED_HASH_WITH_BITMAP', hash.name);
  if (raw.bitmap !== undefined && hash.weak) throw basynError('USAGE_WEAK_HASH_WITH_BITMAP', hash.name.toLowerCase());
  const rewrite = raw.resetBitmap ? '--reset-bitmap' : '--update-bitmap';
  if ((raw.resetBitmap || raw.updateBitmap) && raw.bitmap === undefined) throw basynError('USAGE_BITMAP_OPTION_NEEDS_BITMAP', rewrite);
  if ((raw.resetBitmap || raw.updateBitmap) && mode !== 'SYNC') throw basynError('USAGE_BITMAP_OPTION_NEEDS_SYNC', rewrite);
  if (raw.resetBitmap && raw.updateBitmap) throw basynError('USAGE_RESET_AND_UPDATE');
  if (raw.updateBitmap && !destination) throw basynError('USAGE_UPDATE_NEEDS_DESTINATION');
  if (raw.changes !== undefined && (raw.bitmap === undefined || destination)) throw basynError('USAGE_CHANGES_NEEDS_BITMAP_ONLY');
}

/** -a, -m, -l, -r, --recheck, --repair, -h, -u, -p, --rsh: which run this is (Python basyn's rules, texts and order). */
function validateRoles(raw: RawOptions, action: string | undefined, mode: string | undefined, verifying: boolean): void {
  if (action !== undefined && action !== 'PUSH' && action !== 'PULL') throw basynError('USAGE_UNKNOWN_ACTION', String(raw.action));
  // -a without -m: a verification that syncs nothing (--recheck says which side is the source, for -b
  // and --repair; --verify-bitmap which side is the destination).
  if (action && mode !== 'COPY' && mode !== 'SYNC' && !(mode === undefined && verifying)) {
    throw mode === undefined ? basynError('USAGE_MODE_MISSING') : basynError('USAGE_UNKNOWN_MODE', String(raw.mode), action);
  }
  if (!action && mode !== undefined) throw basynError('USAGE_MODE_WITHOUT_ACTION');
  if (raw.verifyBitmap) validateVerifyBitmap(raw, action, mode);
  // With -b, the side the run does not read may be left out: the destination in bitmap-only mode, the
  // source with --verify-bitmap.
  const omittable = raw.bitmap !== undefined && action !== undefined ? (raw.verifyBitmap ? (action === 'PUSH' ? 'local' : 'remote') : (action === 'PUSH' ? 'remote' : 'local')) : undefined;
  if (!raw.local && omittable !== 'local') throw basynError('USAGE_DEVICE_MISSING', '-l/--local');
  if (!raw.remote && omittable !== 'remote') throw basynError('USAGE_DEVICE_MISSING', '-r/--remote');
  if (raw.repair && !raw.recheck) throw basynError('USAGE_REPAIR_NEEDS_RECHECK');
  if (raw.repair && !action) throw basynError('USAGE_REPAIR_NEEDS_ACTION');
  // Checked here, not after the sync: exit 1 promises that nothing (not even the bitmap) was written.
  if (raw.recheck && (!raw.local || !raw.remote)) throw basynError('USAGE_RECHECK_NEEDS_BOTH');
  if (raw.host !== undefined) validateHost(raw.host);
  if (raw.user !== undefined) validateUser(raw.user);
  if (!raw.host && raw.user !== undefined) throw basynError('USAGE_NEEDS_HOST', '-u/--user');
  if (!raw.host && raw.port !== undefined) throw basynError('USAGE_NEEDS_HOST', '-p/--port');
  if (raw.rsh !== undefined && !raw.host) throw basynError('USAGE_NEEDS_HOST', '--rsh');
  // Both on this machine: syncing a device with itself is a typo, and reading while writing it is unsafe.
  if (!raw.host && raw.local && raw.remote && sameFile(raw.local, raw.remote)) throw basynError('USAGE_SAME_DEVICE', raw.local, raw.remote);
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
  const verifying = !!raw.recheck || !!raw.verifyBitmap;
  validateRoles(raw, action, mode, verifying);

  const warnings: string[] = [];
  const hash = chooseHash(raw.hash, raw.algo, warnings, raw.bitmap !== undefined);
  const bufferKb = bufferBytes(raw) / 1024;
  const defaultChunkKb = DEFAULT_CHUNK_SIZE / 1024 < bufferKb ? DEFAULT_CHUNK_SIZE / 1024 : 0;
  const chunkKb = integer(raw.chunk, '--chunk', 0, MAX_BUFFER_SIZE / 1024) ?? defaultChunkKb;
  if (chunkKb > bufferKb) throw basynError('USAGE_CHUNK_ABOVE_BUFFER');
  // Default 6, not Python basyn's 9: level 9 deflates text half as fast for 0.1 % fewer bytes
  // (docs/benchmarks.md, compression table).
  const zlevel = integer(raw.zlevel, '--zlevel', 0, 9) ?? DEFAULT_ZLEVEL;
  parsePort(raw.port); // checked here, before the options that follow, as Python basyn does
  const bwlimit = bandwidthLimit(raw.bwlimit);

  const passes = integer(raw.passes, '--passes', 1, MAX_PASSES) ?? DEFAULT_PASSES;
  if (raw.passes !== undefined && passes > 1 && (!mode || raw.diff !== undefined || (raw.bitmap !== undefined && !(action === 'PUSH' ? raw.remote : raw.local)))) {
    throw basynError('USAGE_PASSES_NEEDS_SYNC');
  }
  const destination = action === 'PUSH' ? raw.remote : raw.local;
  validateBitmap(raw, action, mode, verifying, hash, destination);
  const diffFormat = validateDiff(raw, mode, destination, hash);
  const diffSize = parseSizeMode(raw.diffsize);
  // A patch holds cryptographic digests only (node:crypto's): XXH3 and the salted and 32-bit ones fall back to SHA-256.
  const patchHash = (raw.hash ?? raw.algo) !== undefined && hash.nodeName && !hash.salted && !hash.weak ? hash : (hashByName('SHA256') as HashAlgorithm);
  const progress = progressStyle(raw.progress, raw.progressStyle);
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
    connection: { ...connectionOf(raw.host, raw, interactive), wrap: form?.remote.wrap },
  };
  if (form?.local) {
    if (form.local.host !== undefined) validateHost(form.local.host);
    const { host, port, user, rsh, wrap } = form.local;
    options.localConnection = { ...options.connection, host, port, user, rsh, wrap };
  }
  return options;
}

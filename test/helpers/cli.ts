// Runs the built CLI (bin/basyn -> dist/basyn.js) as a user would, capturing exit code and output.
// `npm test` builds first; run `npm run build` before `npx ava` by hand.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

export const BASYN = join(__dirname, '..', '..', 'bin', 'basyn');

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs at most this many basyn processes at once per test worker (each starts two agents): ava runs a
 * file's tests concurrently, and dozens of node processes at once on a 2-core runner only thrash.
 */
const MAX_RUNNING = Math.max(2, availableParallelism() * 2);

/** A bound on how many `work`s run at once (the others wait their turn, in order). */
export function limiter(concurrency: number): <T>(work: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (work) => {
    while (running >= concurrency) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await work();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

const slot = limiter(MAX_RUNNING);

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  input?: string | Buffer;
  /** Working directory (default: this process's). */
  cwd?: string;
  /** Run as this user and group (root only): permission tests are meaningless as root. */
  uid?: number;
  gid?: number;
  /** Read nothing of basyn's stdout and stderr for this long (a slow reader: the pipes fill up). */
  pauseOutputMs?: number;
}

export function basyn(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return slot(() => spawnBasyn(args, options));
}

/** uid/gid of `nobody`, for running basyn unprivileged when the tests run as root. */
export const NOBODY = { uid: 65534, gid: 65534 } as const;

function spawnBasyn(args: string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BASYN, ...args], {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      uid: options.uid,
      gid: options.gid,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
    child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
    if (options.pauseOutputMs) {
      child.stdout.pause();
      child.stderr.pause();
      setTimeout(() => { child.stdout.resume(); child.stderr.resume(); }, options.pauseOutputMs);
    }
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`basyn ${args.join(' ')} timed out`)); }, options.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
    child.stdin.end(options.input ?? '');
  });
}

/** Python basyn's --stat line; groups: size, Rx, Tx, Both, ratio. */
export const STAT_LINE =
  /^STAT\. Device size:(\d+)B\. Traffic: Rx:(\d+)B, Tx:(\d+)B, Both:(\d+)B Ratio: (\d+\.\d{4})%\. Time: \d+\.\d{2}s\. Bandwidth: Real:\d+\.\d{2}kB\/s, Effective:\d+\.\d{2}kB\/s$/m;

export interface Stat {
  readonly size: number;
  readonly rx: number;
  readonly tx: number;
  readonly both: number;
  readonly ratio: string;
}

/** The numbers of the --stat line in `stdout`; throws when there is none, or Both is not Rx + Tx. */
export function parseStat(stdout: string): Stat {
  const match = STAT_LINE.exec(stdout);
  if (!match) throw new Error(`no --stat line in: ${JSON.stringify(stdout)}`);
  const [size, rx, tx, both] = match.slice(1, 5).map(Number);
  if (both !== rx + tx) throw new Error(`Both (${both}) is not Rx (${rx}) + Tx (${tx})`);
  return { size, rx, tx, both, ratio: match[5] };
}

/** True when stderr shows a stack trace (only --debug may print one). */
export function hasStackTrace(stderr: string): boolean {
  return /^\s+at /m.test(stderr);
}

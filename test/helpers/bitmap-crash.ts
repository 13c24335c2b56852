// One crash trial (issue 5, bitmap-format.md §5): a bitmap SYNC is killed with SIGKILL at a random
// moment (the controller, or one of its agents), the source then changes in random places — some
// ranges back to what they held before the interrupted run — and a rerun with the same bitmap must
// leave the destination byte-identical to the source.
import { spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { decodeBitmapFile, FLAG_RUN_IN_PROGRESS } from '../../src/shared/bitmap';
import { BASYN, basyn } from './cli';
import { tempDir } from './images';

export type Action = 'PUSH' | 'PULL';

export interface TrialConfig {
  readonly action: Action;
  /** KiB; 0: no --chunk. */
  readonly chunkKb: number;
}

export interface TrialOutcome {
  /** What was killed, or 'none' when the run ended before the kill. */
  readonly killed: 'controller' | 'agent' | 'none';
  /** The kill hit after the run had marked the bitmap "run in progress" (the bitmap was being used). */
  readonly landed: boolean;
  readonly diverged: boolean;
  /** Set when the trial went wrong: enough to replay it by hand. */
  readonly detail?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pids: number[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(alive) && Date.now() < deadline) await sleep(5);
}

/** Overwrites `count` random ranges (1 byte to 2 chunks long) with random bytes; returns their offsets. */
function scribble(data: Buffer, count: number, maxLength: number): Array<{ offset: number; length: number }> {
  const ranges = [];
  for (let index = 0; index < count; index++) {
    const length = randomInt(1, Math.min(maxLength, data.length) + 1);
    const offset = randomInt(0, data.length - length + 1);
    randomBytes(length).copy(data, offset);
    ranges.push({ offset, length });
  }
  return ranges;
}

/**
 * Whether the lock file names `pid` (`pid host start-time`): a lock left by a killed run (or brought
 * back by a power cut) exists before this run starts, so its mere existence says nothing.
 */
function holdsLock(lockPath: string, pid: number): boolean {
  try {
    return readFileSync(lockPath, 'utf8').startsWith(`${pid} `);
  } catch {
    return false;
  }
}

/**
 * Runs the interrupted SYNC: waits until the run holds the bitmap lock, then SIGKILLs the controller
 * or one of its agents after `delayMs`, and waits until every process of the run is gone (an orphaned
 * local agent finishes its queued writes first, as it would after a real crash). `startedWhen` is the
 * lock file the run writes its pid into, or a test of when the run has started (e.g. its journal exists).
 */
export async function interruptedRun(args: string[], startedWhen: string | (() => boolean), delayMs: number, victim: 'controller' | 'agent'): Promise<TrialOutcome['killed']> {
  const child = spawn(process.execPath, [BASYN, ...args], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pid = child.pid as number;
  let done = false;
  void exited.then(() => { done = true; });
  const agents = new Set<number>();
  const deadline = Date.now() + 20_000;
  const started = typeof startedWhen === 'string' ? () => holdsLock(startedWhen, pid) : startedWhen;
  while (!done && !started() && Date.now() < deadline) {
    for (const agent of children(pid)) agents.add(agent);
    await sleep(1);
  }
  const until = Date.now() + delayMs;
  while (!done && Date.now() < until) {
    for (const agent of children(pid)) agents.add(agent);
    await sleep(Math.min(2, until - Date.now()));
  }
  for (const agent of children(pid)) agents.add(agent);
  let killed: TrialOutcome['killed'] = 'none';
  if (!done) {
    const living = [...agents].filter(alive);
    if (victim === 'agent' && living.length > 0) {
      process.kill(living[randomInt(0, living.length)], 'SIGKILL');
      killed = 'agent';
    } else {
      child.kill('SIGKILL');
      killed = 'controller';
    }
  }
  await exited;
  await waitGone([...agents]);
  return killed;
}

/** Whether the bitmap says a run is in progress (the kill landed after the run opened the bitmap). */
function runInProgress(bitmap: string): boolean {
  try {
    return (decodeBitmapFile(bitmap, readFileSync(bitmap), '').header.flags & FLAG_RUN_IN_PROGRESS) !== 0;
  } catch {
    return false;
  }
}

/**
 * A chain of `trials` crash trials on one pair of images with one geometry: a first clean sync, then
 * for each trial changes to the source, a bitmap SYNC killed 0 to `killWindowMs` after it took the
 * bitmap lock, more changes (some ranges back to their content before the killed run), and, for
 * about half of the trials and always at the end, a rerun that must leave the destination equal to
 * the source. Trials without a rerun make the next kill hit a bitmap left by a kill.
 */
export async function runChain(config: TrialConfig, trials: number, killWindowMs: number): Promise<TrialOutcome[]> {
  const dir = tempDir('basyn-crash-');
  const outcomes: TrialOutcome[] = [];
  try {
    const small = randomInt(0, 2) === 0;
    const bufferKb = small ? 4 : 64;
    const buffers = small ? randomInt(96, 192) : randomInt(16, 33);
    const size = buffers * bufferKb * 1024 - randomInt(0, bufferKb * 1024);
    const chunkKb = config.chunkKb > 0 ? (small ? 1 : config.chunkKb) : 0;
    const chunkBytes = chunkKb > 0 ? chunkKb * 1024 : bufferKb * 1024;
    const source = randomBytes(size);
    const destinationSize = randomInt(0, 4) === 0 ? size + randomInt(1, 10_000) : size;
    const destination = randomBytes(destinationSize);
    const [sourcePath, destinationPath] = config.action === 'PUSH' ? [dir.path('local.img'), dir.path('remote.img')] : [dir.path('remote.img'), dir.path('local.img')];
    writeFileSync(sourcePath, source);
    writeFileSync(destinationPath, destination);
    const bitmap = dir.path('bitmap');
    const args = ['-l', dir.path('local.img'), '-r', dir.path('remote.img'), '-a', config.action, '-m', 'SYNC', '--buffer', String(bufferKb), '-b', bitmap,
      ...(chunkKb > 0 ? ['--chunk', String(chunkKb)] : [])];
    const describe = (step: string, extra = '') => `${config.action} buffer ${bufferKb} KiB chunk ${chunkKb} KiB size ${size} (destination ${destinationSize}): ${step} ${extra}`.trim();

    const first = await basyn(args);
    if (first.code !== 0) return [{ killed: 'none', landed: false, diverged: true, detail: describe('first sync failed', first.stderr) }];
    const pending: TrialOutcome[] = [];
    for (let trial = 0; trial < trials; trial++) {
      // Much of the source changes, so the killed run has known entries to mark and commits midway.
      scribble(source, randomInt(1, buffers * 2), 2 * chunkBytes);
      const beforeKilledRun = Buffer.from(source);
      const changed = scribble(source, randomInt(1, buffers), 2 * chunkBytes);
      writeFileSync(sourcePath, source);

      const killed = await interruptedRun(args, `${bitmap}.lock`, randomInt(0, killWindowMs + 1), randomInt(0, 2) === 0 ? 'controller' : 'agent');
      const landed = killed !== 'none' && runInProgress(bitmap);

      // The source moves on: some ranges go back to their content before the killed run, some change.
      for (const range of changed) {
        if (randomInt(0, 2) === 0) beforeKilledRun.copy(source, range.offset, range.offset, range.offset + range.length);
      }
      scribble(source, randomInt(0, 4), 2 * chunkBytes);
      writeFileSync(sourcePath, source);
      pending.push({ killed, landed, diverged: false });
      if (trial < trials - 1 && randomInt(0, 2) === 0) continue;

      const rerun = await basyn(args);
      const result = readFileSync(destinationPath);
      let detail: string | undefined;
      if (rerun.code !== 0) {
        detail = describe(`rerun exited ${rerun.code}`, rerun.stderr);
      } else if (!result.subarray(0, size).equals(source)) {
        let byte = 0;
        while (result[byte] === source[byte]) byte++;
        detail = describe(`destination differs from byte ${byte} (buffer ${Math.floor(byte / (bufferKb * 1024))}) after kills of ${pending.map((outcome) => outcome.killed).join(', ')}`);
      } else if (!result.subarray(size).equals(destination.subarray(size))) {
        detail = describe('the destination tail beyond the source size changed');
      }
      // A divergence is counted once, on the last trial before the rerun that found it.
      pending[pending.length - 1] = { ...pending[pending.length - 1], diverged: detail !== undefined, detail };
      outcomes.push(...pending.splice(0));
      if (detail) break;
    }
    return outcomes;
  } finally {
    dir.cleanup();
  }
}


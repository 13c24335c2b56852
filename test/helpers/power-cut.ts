// Power-cut trials (issue 17): a basyn run whose durable state lives on the power-loss file system
// (test/helpers/powerloss/) is SIGKILLed at a random moment, the power is cut (everything not made
// durable is lost), the file system comes back, and the same command is run again; then the power is
// cut once more right after that clean run: what a run that said "done" claimed must have been durable.
//
// killCutRerun() is the reusable part: it knows nothing of bitmaps. To add a trial for another durable
// state (a resume checkpoint, the patch journal):
//   1. mount a PowerLossFs and put the destination and the state file on it (fs.sync() after setup);
//   2. call killCutRerun() with the command, the lock file the run writes its pid into (the kill is timed from there),
//      a `checkDurable` that reads the state file after a cut and says what it wrongly claims (for a
//      checkpoint: every range it calls done must already equal the source on the destination), and a
//      `checkResult` for after the rerun (destination equal to the source, byte for byte);
//   3. count the outcomes' violations and assert 0 (test/power-cut.test.ts shows the bitmap case).
import { createHash, randomInt } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { decodeBitmapFile, FLAG_RUN_IN_PROGRESS, isUnknownDigest } from '../../src/shared/bitmap';
import { isBitmapV1, BITMAP_V1_HEADER_LENGTH } from '../../src/shared/bitmap-v1';
import { hashById } from '../../src/shared/hash';
import { interruptedRun } from './bitmap-crash';
import { basyn, type RunResult } from './cli';
import type { PowerLossFs } from './powerloss/mount';

/** A run on the FUSE file system of a loaded 2-core machine can take a minute; a hung one still fails. */
export const RUN_TIMEOUT_MS = 10 * 60_000;

export interface PowerCutStep {
  readonly fs: PowerLossFs;
  /** The command killed at a random moment. */
  readonly args: string[];
  /** The command that finishes the job after the cut (default: `args` again). */
  readonly rerunArgs?: string[];
  /**
   * The lock file the run writes its pid into (`pid host start-time`, e.g. the bitmap's): the kill is
   * timed from when it names this run (a lock left by a kill or brought back by a cut is there before).
   */
  readonly startedWhen: string;
  /** The kill lands 0 to this many ms after the run took `startedWhen` (or never, if the run ends first). */
  readonly killWindowMs: number;
  /** False: no rerun (the next step then starts from the state a kill and a cut left). */
  readonly rerun?: boolean;
  /**
   * After each power cut: what the durable state claims that is not true, or undefined. `finished`: the
   * cut came right after a run that exited 0, so everything that run wrote must have survived it.
   */
  checkDurable(when: string, finished: boolean): string | undefined;
  /** After the killed run's cut, before the rerun: e.g. the source moves on. */
  beforeRerun?(): void;
  /** After the rerun, and again after the cut that follows it: what is wrong, or undefined. */
  checkResult(when: string): string | undefined;
}

export interface PowerCutOutcome {
  /** What was killed, or 'none' when the run ended before the kill. */
  readonly killed: 'controller' | 'agent' | 'none';
  /** Everything found wrong (empty: the trial passed). */
  readonly violations: string[];
  /** How long the rerun held its lock (ms), when there was one: a measure for the next kill window. */
  readonly rerunMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs basyn to the end and measures how long it held `lockPath` (from when the lock shows new content,
 * not a lock left by a kill or brought back by a power cut, to the exit): the part of a run a kill should hit.
 */
export async function timedRun(args: string[], lockPath: string): Promise<{ result: RunResult; activeMs: number }> {
  const content = () => {
    try {
      return readFileSync(lockPath, 'utf8');
    } catch {
      return '';
    }
  };
  const stale = content();
  const started = Date.now();
  let locked: number | undefined;
  let running = true;
  const watch = (async () => {
    while (running && locked === undefined) {
      const now = content();
      if (now !== '' && now !== stale) locked = Date.now();
      await sleep(5);
    }
  })();
  const result = await basyn(args, { timeoutMs: RUN_TIMEOUT_MS });
  running = false;
  await watch;
  return { result, activeMs: Date.now() - (locked ?? started) };
}

/** One trial: run, SIGKILL, power cut, check, (rerun, check, power cut, check). */
export async function killCutRerun(step: PowerCutStep): Promise<PowerCutOutcome> {
  const violations: string[] = [];
  const note = (problem: string | undefined, when = '') => {
    if (problem) violations.push(when ? `${when}: ${problem}` : problem);
  };
  const killed = await interruptedRun(step.args, step.startedWhen, randomInt(0, step.killWindowMs + 1), randomInt(0, 2) === 0 ? 'controller' : 'agent');
  await step.fs.powerCycle();
  const afterKill = `after a run killed (${killed}) and a power cut`;
  note(step.checkDurable(afterKill, killed === 'none'), afterKill);
  step.beforeRerun?.();
  if (step.rerun === false) return { killed, violations };

  const { result: rerun, activeMs: rerunMs } = await timedRun(step.rerunArgs ?? step.args, step.startedWhen);
  if (rerun.code !== 0) {
    note(`the rerun after a kill (${killed}) and a power cut exited ${rerun.code}: ${rerun.stderr.trim()}`);
    return { killed, violations };
  }
  note(step.checkResult('after the rerun'), 'after the rerun');
  await step.fs.powerCycle();
  const afterDone = 'after the rerun and a power cut';
  note(step.checkDurable(afterDone, true), afterDone);
  note(step.checkResult(afterDone), afterDone);
  return { killed, violations, rerunMs };
}

/**
 * After a run that exited 0 and a power cut: the bitmap that run wrote is there, in version 2, and
 * says the run ended cleanly (its last header write was durable). Undefined when so.
 */
export function bitmapNotFinished(bitmapPath: string): string | undefined {
  if (!existsSync(bitmapPath)) return 'the bitmap of a finished run is gone (was the rename made durable?)';
  const bytes = readFileSync(bitmapPath);
  if (isBitmapV1(bytes)) return 'the bitmap of a finished run is back to version 1 (was the rename made durable?)';
  try {
    if (decodeBitmapFile(bitmapPath, bytes, '').header.flags & FLAG_RUN_IN_PROGRESS) return 'the bitmap of a finished run says a run is in progress';
  } catch (error) {
    return `the bitmap cannot be read: ${(error as Error).message}`;
  }
  return undefined;
}

/**
 * The bitmap invariant (bitmap-format.md §5), checked from the bytes: every known entry of the bitmap
 * at `bitmapPath` (version 1 or 2) is the digest of what the destination holds in its range. Returns
 * the first violation, or undefined. No bitmap at all claims nothing.
 */
export function bitmapViolation(bitmapPath: string, destinationPath: string): string | undefined {
  if (!existsSync(bitmapPath)) return undefined;
  const bytes = readFileSync(bitmapPath);
  const destination = readFileSync(destinationPath);
  let deviceSize: number;
  let bufferSize: number;
  let chunkSize: number;
  let hashId: number;
  let table: Buffer;
  if (isBitmapV1(bytes)) {
    deviceSize = Number(bytes.readBigUInt64LE(8));
    bufferSize = Number(bytes.readBigUInt64LE(16));
    hashId = bytes.readUInt8(24);
    chunkSize = 0;
    table = bytes.subarray(BITMAP_V1_HEADER_LENGTH);
  } else {
    try {
      const decoded = decodeBitmapFile(bitmapPath, bytes, '');
      ({ deviceSize, bufferSize, chunkSize } = decoded.header.layout);
      hashId = decoded.header.layout.hash.id;
      table = decoded.table;
    } catch (error) {
      return `the bitmap cannot be read: ${(error as Error).message}`;
    }
  }
  const algorithm = hashById(hashId);
  if (!algorithm?.nodeName) return `bitmap hash id ${hashId} has no node digest`;
  const nodeName = algorithm.nodeName;
  const digestLength = algorithm.digestLength;
  const chunks = chunkSize > 0 ? Math.ceil(bufferSize / chunkSize) : 0;
  const record = (1 + chunks) * digestLength;
  const digest = (start: number, end: number) => createHash(nodeName).update(destination.subarray(start, end)).digest();
  for (let index = 0; index * bufferSize < deviceSize; index++) {
    const start = index * bufferSize;
    const end = Math.min(deviceSize, start + bufferSize);
    const ranges = [{ slot: 0, start, end }];
    for (let chunk = 0; chunk < chunks && start + chunk * chunkSize < end; chunk++) {
      ranges.push({ slot: 1 + chunk, start: start + chunk * chunkSize, end: Math.min(end, start + (chunk + 1) * chunkSize) });
    }
    for (const range of ranges) {
      const entry = table.subarray(index * record + range.slot * digestLength, index * record + (range.slot + 1) * digestLength);
      if (entry.length !== digestLength) return `the bitmap table is short at buffer ${index}`;
      if (isUnknownDigest(entry)) continue;
      if (!entry.equals(digest(range.start, range.end))) {
        return `bitmap entry ${range.slot === 0 ? `of buffer ${index}` : `of chunk ${range.slot - 1} of buffer ${index}`} (bytes ${range.start}-${range.end}) `
          + 'is not the digest of what the destination durably holds there';
      }
    }
  }
  return undefined;
}

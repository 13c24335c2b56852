// Power-cut trials (issue 17): a basyn run whose durable state lives on the power-loss file system
// (test/helpers/powerloss/) is SIGKILLed at a random moment, the power is cut (everything not made
// durable is lost), the file system comes back, and the same command is run again; then the power is
// cut once more right after that clean run: what a run that said "done" claimed must have been durable.
//
// killCutRerun() is the reusable part: it knows nothing of bitmaps. To add a trial for another durable
// state (a resume checkpoint):
//   1. mount a PowerLossFs and put the destination and the state file on it (fs.sync() after setup);
//   2. call killCutRerun() with the command, `startedWhen` (the lock file the run writes its pid into, or
//      a test such as "its journal exists": the kill is timed from there), a `killWindowMs` (timedRun()
//      measures a clean run from the same moment), a `checkDurable` that reads the state file after a
//      cut and says what it wrongly claims (for a checkpoint: every range it calls done must already
//      equal the source on the destination), and a `checkResult` for after the rerun (destination equal
//      to the source, byte for byte); `rerunArgs` may be chosen after the cut (a function);
//   3. count the outcomes' violations and assert 0. test/power-cut.test.ts shows the bitmap case (a lock
//      file), test/power-cut-patch.test.ts the patch journal (a predicate, a rerun chosen after the cut).
//
// Timing: a run on the FUSE file system is slow (a Python daemon, about 30 MB/s) and its length varies
// tenfold with the machine's load: time each kill window from a clean run measured in the same chain.
import { createHash, randomInt } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { decodeBitmapFile, FLAG_RUN_IN_PROGRESS, isUnknownDigest, tableOffset } from '../../src/shared/bitmap';
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
  /** The command that finishes the job after the cut (default: `args` again); a function is called after the cut. */
  readonly rerunArgs?: string[] | (() => string[]);
  /**
   * When the run counts as started, the moment the kill is timed from: the lock file the run writes
   * its pid into (`pid host start-time`, e.g. the bitmap's; a lock left by a kill or brought back by a
   * cut is there before), or a test polled every millisecond (e.g. "the journal exists").
   */
  readonly startedWhen: StartedWhen;
  /** The kill lands 0 to this many ms after the run took `startedWhen` (or never, if the run ends first). */
  readonly killWindowMs: number;
  /** False: no rerun (the next step then starts from the state a kill and a cut left). */
  readonly rerun?: boolean;
  /**
   * After each power cut: what the durable state claims that is not true, or undefined. `finished`: the
   * cut came right after a run that exited 0, so everything that run wrote must have survived it.
   */
  checkDurable(when: string, finished: boolean): string | undefined | Promise<string | undefined>;
  /** After the killed run's cut, before the rerun: e.g. the source moves on. */
  beforeRerun?(): void;
  /** After the rerun, and again after the cut that follows it: what is wrong, or undefined. */
  checkResult(when: string): string | undefined | Promise<string | undefined>;
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

/** A lock file the run writes its pid into, or a test of whether the run has started. */
export type StartedWhen = string | (() => boolean);

/**
 * Runs basyn to the end and measures how long it ran after `startedWhen` (a lock file: from when it
 * shows new content, not a lock left by a kill or brought back by a power cut; a test: from when it
 * first holds) to the exit: the part of a run a kill should hit.
 */
export async function timedRun(args: string[], startedWhen: StartedWhen): Promise<{ result: RunResult; activeMs: number }> {
  let hasStarted: () => boolean;
  if (typeof startedWhen === 'string') {
    const content = () => {
      try {
        return readFileSync(startedWhen, 'utf8');
      } catch {
        return '';
      }
    };
    const stale = content();
    hasStarted = () => {
      const now = content();
      return now !== '' && now !== stale;
    };
  } else {
    hasStarted = startedWhen;
  }
  const started = Date.now();
  let locked: number | undefined;
  let running = true;
  const watch = (async () => {
    while (running && locked === undefined) {
      if (hasStarted()) locked = Date.now();
      await sleep(typeof startedWhen === 'string' ? 5 : 1);
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
  note(await step.checkDurable(afterKill, killed === 'none'), afterKill);
  step.beforeRerun?.();
  if (step.rerun === false) return { killed, violations };

  const rerunArgs = typeof step.rerunArgs === 'function' ? step.rerunArgs() : step.rerunArgs;
  const { result: rerun, activeMs: rerunMs } = await timedRun(rerunArgs ?? step.args, step.startedWhen);
  if (rerun.code !== 0) {
    note(`the rerun after a kill (${killed}) and a power cut exited ${rerun.code}: ${rerun.stderr.trim()}`);
    return { killed, violations };
  }
  note(await step.checkResult('after the rerun'), 'after the rerun');
  await step.fs.powerCycle();
  const afterDone = 'after the rerun and a power cut';
  note(await step.checkDurable(afterDone, true), afterDone);
  note(await step.checkResult(afterDone), afterDone);
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

/** The power-loss file system writes a page back whole or not at all (powerloss/README.md): tears fall between pages. */
export const TEAR_BOUNDARY = 4096;

/** What bitmapViolation() saw besides violations. */
export interface BitmapCheckStats {
  /**
   * Entries torn by a power cut (bitmap-format.md §5.2): an entry crossing a page boundary of the file
   * whose pages came back from different writes, one side zeros, the other side the true digest's bytes.
   */
  torn: number;
}

/**
 * How entry `entry` (at byte `filePosition` of the bitmap file) relates to `digest`, the digest of what
 * the destination durably holds: 'true', 'unknown' (zeros), 'torn' (split at a page boundary into
 * pieces that are each all zeros or equal to the digest's bytes there, with zeros on at least one side
 * and digest bytes on another), or 'wrong'. A torn entry is the mark or the commit of §5.1 cut between
 * its pwrite and its fsync, one page written back and the other not: the digest part is the true one
 * (a commit follows the FLUSH; a mark precedes every write of its range), and the zeros make it match no
 * source digest, so the range is sent again. Any other mix, e.g. half of an old digest and half of a
 * new one, would be a real violation.
 */
export function classifyEntry(entry: Buffer, filePosition: number, digest: Buffer): 'true' | 'unknown' | 'torn' | 'wrong' {
  if (isUnknownDigest(entry)) return 'unknown';
  if (entry.equals(digest)) return 'true';
  const cuts = [0];
  for (let boundary = (Math.floor(filePosition / TEAR_BOUNDARY) + 1) * TEAR_BOUNDARY; boundary < filePosition + entry.length; boundary += TEAR_BOUNDARY) {
    cuts.push(boundary - filePosition);
  }
  cuts.push(entry.length);
  let zeros = false;
  let digestBytes = false;
  for (let piece = 0; piece + 1 < cuts.length; piece++) {
    const part = entry.subarray(cuts[piece], cuts[piece + 1]);
    if (isUnknownDigest(part)) zeros = true;
    else if (part.equals(digest.subarray(cuts[piece], cuts[piece + 1]))) digestBytes = true;
    else return 'wrong';
  }
  return zeros && digestBytes ? 'torn' : 'wrong';
}

/**
 * The bitmap invariant (bitmap-format.md §5), checked from the bytes: every known entry of the bitmap
 * at `bitmapPath` (version 1 or 2) is the digest of what the destination holds in its range, or a
 * torn write of that digest and zeros (§5.2; counted in `stats.torn`, not a violation). Returns the
 * first violation, or undefined. No bitmap at all claims nothing.
 */
export function bitmapViolation(bitmapPath: string, destinationPath: string, stats?: BitmapCheckStats): string | undefined {
  if (!existsSync(bitmapPath)) return undefined;
  const bytes = readFileSync(bitmapPath);
  const destination = readFileSync(destinationPath);
  let deviceSize: number;
  let bufferSize: number;
  let chunkSize: number;
  let hashId: number;
  let table: Buffer;
  let tableStart: number;
  if (isBitmapV1(bytes)) {
    deviceSize = Number(bytes.readBigUInt64LE(8));
    bufferSize = Number(bytes.readBigUInt64LE(16));
    hashId = bytes.readUInt8(24);
    chunkSize = 0;
    tableStart = BITMAP_V1_HEADER_LENGTH;
    table = bytes.subarray(tableStart);
  } else {
    try {
      const decoded = decodeBitmapFile(bitmapPath, bytes, '');
      ({ deviceSize, bufferSize, chunkSize } = decoded.header.layout);
      hashId = decoded.header.layout.hash.id;
      table = decoded.table;
      tableStart = tableOffset(decoded.slotLength);
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
      const position = index * record + range.slot * digestLength;
      const entry = table.subarray(position, position + digestLength);
      if (entry.length !== digestLength) return `the bitmap table is short at buffer ${index}`;
      if (isUnknownDigest(entry)) continue;
      const verdict = classifyEntry(entry, tableStart + position, digest(range.start, range.end));
      if (verdict === 'torn' && stats) stats.torn++;
      if (verdict === 'wrong') {
        return `bitmap entry ${range.slot === 0 ? `of buffer ${index}` : `of chunk ${range.slot - 1} of buffer ${index}`} (bytes ${range.start}-${range.end}) `
          + 'is not the digest of what the destination durably holds there';
      }
    }
  }
  return undefined;
}

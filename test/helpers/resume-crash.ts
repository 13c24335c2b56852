// Resume kill trials (issue 11): a sync is SIGKILLed (the controller, or one of its agents) at a moment
// chosen from the run's observable progress, not from the clock: the kill comes once the run's
// checkpoint claims at least a random fraction of the source (or, for the smallest fractions, once the
// first write reached the destination), plus a random few milliseconds so that it lands anywhere
// between a WRITE, its FLUSH and the checkpoint save. A loaded machine makes the run slower, not the
// kill earlier. After each kill (every process of the run gone) every byte below the offset the
// checkpoint claims must equal the source on the destination (with -b: every buffer entry of the
// bitmap, a -b run's only checkpoint, must be the digest of what the destination holds there); then
// either another killed run, or the same command run to the end, which must say "Resuming at ..." (with
// -b "Resuming from the bitmap: ...") when there was something to resume, leave the destination
// byte-identical to the source (the tail beyond the source untouched) and remove the checkpoint.
// Without -b the source does not change within a chain (a resumed run promises the part before the
// checkpoint as the source was then); with -b it changes after every kill. The runs are paced with
// --bwlimit (which paces the pipe to the "remote" agent too) so that a run lasts about a second and a half.
import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkpointPath } from '../../src/local/checkpoint';
import { decodeBitmapFile, FLAG_RUN_IN_PROGRESS, isUnknownDigest, recordLength } from '../../src/shared/bitmap';
import { BASYN, basyn } from './cli';
import { tempDir } from './images';
import { alive, survivors } from './processes';

export interface ResumeConfig {
  readonly action: 'PUSH' | 'PULL';
  readonly mode: 'SYNC' | 'COPY';
  readonly bitmap: boolean;
}

export interface ResumeOutcome {
  /** What was killed, or 'none' when the run ended before the kill. */
  readonly killed: 'controller' | 'agent' | 'none';
  /** The kill left a checkpoint beyond 0 (the next run resumes from it). */
  readonly checkpointed: boolean;
  readonly diverged: boolean;
  /** Set when the trial went wrong: enough to replay it by hand. */
  readonly detail?: string;
}

/** Generous bounds for a machine at load 40: a run reaches its trigger, or is gone after a kill, within these. */
const TRIGGER_DEADLINE_MS = 180_000;
const GONE_DEADLINE_MS = 60_000;

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Pids of the direct children of `pid` (/proc/PID/task/PID/children). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The offset a checkpoint file claims: 0 when there is none, -1 when it is not whole JSON (must never happen). */
export function checkpointOffset(file: string): number {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return 0;
  }
  try {
    return (JSON.parse(text) as { offset: number }).offset;
  } catch {
    return -1;
  }
}

/**
 * What a bitmap file holds: how many buffers have their buffer entry (a -b run's checkpoint: committed
 * only after the destination's FLUSH), and when a run last ended cleanly (0: never since the file was
 * made). Undefined when there is no bitmap or it cannot be read (it is updated in place: a read torn by
 * a write in progress is retried by the caller's next poll).
 */
export function bitmapState(file: string): { known: number; lastClean: number; inProgress: boolean } | undefined {
  try {
    const { header, table } = decodeBitmapFile(file, readFileSync(file), '');
    const record = recordLength(header.layout);
    const digest = header.layout.hash.digestLength;
    let known = 0;
    for (let offset = 0; offset + record <= table.length; offset += record) if (!isUnknownDigest(table.subarray(offset, offset + digest))) known++;
    return { known, lastClean: header.lastClean, inProgress: (header.flags & FLAG_RUN_IN_PROGRESS) !== 0 };
  } catch {
    return undefined;
  }
}

/** Buffers whose buffer entry the bitmap file holds (0 without a readable bitmap). */
export function bitmapKnownBuffers(file: string): number {
  return bitmapState(file)?.known ?? 0;
}

/**
 * Runs basyn with `args` until `trigger()` holds, waits `delayMs` more, SIGKILLs the controller or one
 * of its agents, and waits until every process of the run is gone (an orphaned local agent finishes its
 * queued writes first, as after a real crash). 'none' when the run ended before the kill.
 */
export async function killWhen(
  args: string[], trigger: () => boolean, delayMs: number, victim: 'controller' | 'agent', env: NodeJS.ProcessEnv = process.env,
  /** Filled for this call, for messages: how often the trigger was polled, the run's stderr tail, its time. */
  details?: { polls: number; stderr: string; ms: number },
): Promise<ResumeOutcome['killed']> {
  const started = Date.now();
  // env explicitly: in an ava worker thread, process.env is the thread's own copy (the tests set theirs).
  const child = spawn(process.execPath, [BASYN, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const pid = child.pid as number;
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr = (stderr + text).slice(-2000); });
  let done = false;
  let exitCode: number | null = null;
  const exited = new Promise<void>((settle) => child.once('exit', (code) => { done = true; exitCode = code; settle(); }));
  const agents = new Set<number>();
  // The agents are the controller's children (cheap to read, unlike a walk over all of /proc).
  const watch = () => { for (const agent of childrenOf(pid)) agents.add(agent); };
  const deadline = Date.now() + TRIGGER_DEADLINE_MS;
  let polls = 0;
  while (!done && Date.now() < deadline && !trigger()) {
    if (polls++ % 10 === 0) watch();
    await sleep(2);
  }
  const until = Date.now() + delayMs;
  while (!done && Date.now() < until) await sleep(1);
  watch();
  let killed: ResumeOutcome['killed'] = 'none';
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
  const left = await survivors([...agents], GONE_DEADLINE_MS);
  if (left.length > 0) throw new Error(`processes ${left.join(', ')} of a killed run are still running after ${GONE_DEADLINE_MS / 1000} s`);
  if (killed === 'none' && exitCode !== 0) throw new Error(`basyn ${args.join(' ')} exited ${exitCode} before the kill: ${stderr}`);
  if (details) Object.assign(details, { polls, stderr, ms: Date.now() - started });
  return killed;
}

/** The first byte at which `a` and `b` differ (their common length when one is a prefix of the other). */
function firstDifference(a: Buffer, b: Buffer): number {
  let byte = 0;
  while (byte < a.length && byte < b.length && a[byte] === b[byte]) byte++;
  return byte;
}

/** `bytes` with about half of its `bufferBytes` buffers (COPY: all) overwritten with random bytes. */
function garbled(bytes: Buffer, bufferBytes: number, all: boolean): Buffer {
  const result = Buffer.from(bytes);
  for (let offset = 0; offset < result.length; offset += bufferBytes) {
    if (all || randomInt(0, 2) === 0) randomBytes(Math.min(bufferBytes, result.length - offset)).copy(result, offset);
  }
  return result;
}

/**
 * A -b run's claim after a kill: every buffer entry the bitmap holds is the digest of what the
 * destination holds there. Returns the first buffer that breaks it, as text, or undefined.
 */
function bitmapClaimBroken(bitmap: string, destination: Buffer, size: number): string | undefined {
  let decoded: ReturnType<typeof decodeBitmapFile>;
  try {
    decoded = decodeBitmapFile(bitmap, readFileSync(bitmap), '');
  } catch (error) {
    return existsSync(bitmap) ? `the bitmap cannot be read after the kill: ${(error as Error).message}` : undefined;
  }
  const { header, table } = decoded;
  const { bufferSize, hash } = header.layout;
  const record = recordLength(header.layout);
  for (let index = 0; index * bufferSize < size; index++) {
    const entry = table.subarray(index * record, index * record + hash.digestLength);
    if (isUnknownDigest(entry)) continue;
    const held = destination.subarray(index * bufferSize, Math.min(size, (index + 1) * bufferSize));
    if (!createHash(hash.nodeName as string).update(held).digest().equals(entry)) return `the bitmap claims buffer ${index}, but the destination holds other bytes there`;
  }
  return undefined;
}

/**
 * A chain of `trials` kills on one pair of images. Without -b, checkpoints go to $XDG_STATE_HOME/basyn
 * (the caller points it at a temp directory and sets BASYN_CHECKPOINT_EVERY_MS=0 so that one is saved
 * after every buffer), and the source never changes within a chain (a resumed run promises the part
 * before its checkpoint as the source was then). With -b the bitmap is the run's checkpoint: the kill
 * comes once it records a share of the buffers, and after every kill the source changes in a few random
 * places, also where the bitmap says synced: the rerun must send those too.
 * After a run that ended cleanly the next trial gets work again (otherwise a SYNC would find nothing to
 * send, so --bwlimit would not pace it, and it would end before its kill): the destination is garbled
 * again (and the bitmap removed).
 */
export async function runResumeChain(config: ResumeConfig, trials: number): Promise<ResumeOutcome[]> {
  const dir = tempDir('basyn-resume-');
  const outcomes: ResumeOutcome[] = [];
  try {
    // Small buffers: 32 are in flight at once, and a checkpoint can only claim what is no longer in flight.
    const bufferKb = [4, 8][randomInt(0, 2)];
    const bufferBytes = bufferKb * 1024;
    const size = randomInt(1024 * 1024, 2 * 1024 * 1024);
    const buffers = Math.ceil(size / bufferBytes);
    const source = randomBytes(size);
    // The destination differs everywhere in COPY; in SYNC, in about half of its buffers.
    const destinationSize = randomInt(0, 4) === 0 ? size + randomInt(1, 10_000) : size;
    const initial = Buffer.concat([garbled(source, bufferBytes, config.mode === 'COPY'), randomBytes(destinationSize - size)]);
    const [sourcePath, destinationPath] = config.action === 'PUSH' ? [dir.path('local.img'), dir.path('remote.img')] : [dir.path('remote.img'), dir.path('local.img')];
    writeFileSync(sourcePath, source);
    writeFileSync(destinationPath, initial);
    const bitmap = dir.path('bitmap');
    // About a second and a half of data over the pipe to the "remote" agent (COPY, and -b on a new
    // bitmap: all of it; SYNC: about half).
    const overLink = config.mode === 'COPY' || config.bitmap ? size : size / 2;
    const bwlimit = Math.max(64 * 1024, Math.round(overLink / 1.5));
    const args = ['-l', dir.path('local.img'), '-r', dir.path('remote.img'), '-a', config.action, '-m', config.mode, '--buffer', String(bufferKb),
      '--bwlimit', String(bwlimit), ...(config.bitmap ? ['-b', bitmap] : [])];
    const checkpoint = checkpointPath({ destination: resolve(destinationPath), destinationHost: '' });
    const describe = (step: string) => `${config.action} ${config.mode}${config.bitmap ? ' -b' : ''} buffer ${bufferKb} KiB size ${size} `
      + `(destination ${destinationSize}): ${step}`;
    /** What the run has synced and flushed so far, as a share of the source: its checkpoint, or its bitmap's entries. */
    const claimed = config.bitmap ? () => bitmapKnownBuffers(bitmap) / buffers : () => checkpointOffset(checkpoint) / size;

    let pending: ResumeOutcome[] = [];
    for (let trial = 0; trial < trials; trial++) {
      // Where to kill: once the run claims this share of the source (the smallest: at the first write).
      // (At most 0.6: 32 buffers are in flight, so the last checkpoint before the end can trail it by a quarter.)
      const fraction = Math.random() * 0.6;
      const writtenAt = statSync(destinationPath).mtimeMs;
      const trigger = fraction < 0.1 ? () => statSync(destinationPath).mtimeMs !== writtenAt : () => claimed() >= fraction;
      const killed = await killWhen(args, trigger, randomInt(0, 80), randomInt(0, 2) === 0 ? 'controller' : 'agent');
      const offset = checkpointOffset(checkpoint);
      const now = readFileSync(destinationPath);
      let detail: string | undefined;
      if (offset < 0) detail = describe(`the checkpoint file is not whole JSON after a kill of the ${killed}`);
      else if (config.bitmap && offset !== 0) detail = describe('a -b run left a checkpoint (its bitmap is its checkpoint)');
      else if (!now.subarray(0, offset).equals(source.subarray(0, offset))) {
        detail = describe(`the checkpoint claims ${offset} bytes, but the destination differs from byte ${firstDifference(now, source)} after a kill of the ${killed}`);
      } else if (config.bitmap) {
        const broken = bitmapClaimBroken(bitmap, now, size);
        if (broken) detail = describe(`${broken} after a kill of the ${killed}`);
      }
      // With -b there is something to resume when the kill left a bitmap with entries whose run had not
      // ended (a kill can also land after the run's clean end, while the process exits).
      const state = config.bitmap ? bitmapState(bitmap) : undefined;
      const known = state?.inProgress ? state.known : 0;
      pending.push({ killed, checkpointed: config.bitmap ? known > 0 : offset > 0, diverged: detail !== undefined, detail });
      if (detail) break;
      if (config.bitmap) {
        // The source moves on between the runs, also where the bitmap says synced.
        for (let change = randomInt(1, 6); change > 0; change--) randomBytes(randomInt(1, 2 * bufferBytes)).copy(source, randomInt(0, size - 2 * bufferBytes));
        writeFileSync(sourcePath, source);
      }
      if (killed !== 'none' && trial < trials - 1 && randomInt(0, 2) === 0) continue; // the next kill hits a run resumed from a kill

      const rerun = await basyn(args, { timeoutMs: TRIGGER_DEADLINE_MS });
      const result = readFileSync(destinationPath);
      const missedResume = config.bitmap ? known > 0 && !rerun.stdout.startsWith('Resuming from the bitmap: ') : offset > 0 && !rerun.stdout.startsWith('Resuming at ');
      if (rerun.code !== 0) detail = describe(`rerun exited ${rerun.code}: ${rerun.stderr}`);
      else if (missedResume) detail = describe(`the kill left ${config.bitmap ? `${known} bitmap entries` : `a checkpoint at ${offset}`}, but the rerun did not say it resumes: ${rerun.stdout}`);
      else if (!result.subarray(0, size).equals(source)) {
        detail = describe(`after the rerun the destination differs from byte ${firstDifference(result, source)} (checkpoint was ${offset}; kills: ${pending.map((outcome) => outcome.killed).join(', ')})`);
      } else if (!result.subarray(size).equals(initial.subarray(size))) detail = describe('the destination tail beyond the source size changed');
      else if (existsSync(checkpoint)) detail = describe('a successful run left its checkpoint behind');
      pending[pending.length - 1] = { ...pending[pending.length - 1], diverged: detail !== undefined, detail };
      outcomes.push(...pending);
      pending = [];
      if (detail) break;
      // Work for the next trial: a destination that differs again (and no bitmap describing the old one).
      if (config.mode === 'SYNC') {
        rmSync(bitmap, { force: true });
        writeFileSync(destinationPath, Buffer.concat([garbled(source, bufferBytes, config.bitmap), initial.subarray(size)]));
      }
    }
    outcomes.push(...pending);
    return outcomes;
  } finally {
    dir.cleanup();
  }
}

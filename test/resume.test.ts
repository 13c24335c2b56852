// Resume (issue 11). Without -b: a run killed after it saved a checkpoint is resumed by the same
// command, which says where it resumes and which range it synced (and --json reports it); other
// parameters (another host of either side included) or --no-resume ignore the checkpoint and say why,
// never applying it; a successful run removes it; the file is 0600 and never replaces a file basyn did
// not write. With -b the bitmap is the checkpoint: no other is kept, the rerun says it resumes from the
// bitmap, hashes the whole source and so also sends what changed on the source since the interruption,
// in the part the interrupted run had already synced; --reset-bitmap continues an interrupted reset
// (--no-resume starts it over). The interrupted run is paced with --bwlimit and killed once its
// checkpoint (or its bitmap) claims a quarter of the source (progress, not the clock). Every run is
// followed by a byte-for-byte check of both sides.
import test, { type ExecutionContext } from 'ava';
import Ajv2020 from 'ajv/dist/2020';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { CHECKPOINT_VERSION, checkpointPath } from '../src/local/checkpoint';
import { main } from '../src/local/cli';
import { DEFAULT_HASH } from '../src/local/option-values';
import { InProcessTransport } from '../src/local/transport/in-process';
import { basyn, type RunResult } from './helpers/cli';
import { bitmapKnownBuffers, bitmapState, checkpointOffset, killWhen } from './helpers/resume-crash';
import { assertSynced, devices, edited, random, type Action, type Devices } from './helpers/scenario';

// Images and checkpoints on tmpfs when there is one: a kill cannot see an fsync anyway (the page cache
// survives it; the power-cut trials cover that), and a loaded disk's fsync latency would otherwise pace
// the checkpoints instead of the run's progress.
if (existsSync('/dev/shm')) process.env.TMPDIR = '/dev/shm';
const SIZE = 2 * 1024 * 1024 + 555;
/** Small buffers: 32 are in flight at once, and a checkpoint can only claim what is no longer in flight. */
const state = mkdtempSync(join(tmpdir(), 'basyn-state-'));
process.env.XDG_STATE_HOME = state;
process.env.BASYN_CHECKPOINT_EVERY_MS = '0';
test.after.always(() => rmSync(state, { recursive: true, force: true }));

/** Runs basyn (bounds for a machine at load 50: minutes) and fails the test with its output when the exit code is not `code`. */
async function run(t: ExecutionContext, args: string[], code = 0): Promise<RunResult> {
  const result = await basyn(args, { timeoutMs: 5 * 60_000 });
  if (result.code !== code) t.fail(`basyn ${args.join(' ')} exited ${result.code}, expected ${code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return result;
}

const doc = readFileSync(join(__dirname, '..', 'docs', 'json.md'), 'utf8');
const validate = new Ajv2020({ strict: false, allErrors: true }).compile(JSON.parse(/## Schema[\s\S]*?```json\n([\s\S]*?)```/.exec(doc)?.[1] as string));

function checkpointOf(where: Devices): string {
  return checkpointPath({ destination: resolve(where.destination), destinationHost: '' });
}

const BUFFERS = Math.ceil(SIZE / 4096);

/**
 * Runs `args` paced to 512 KiB/s over the pipe (about 4 s), SIGKILLs the controller once the checkpoint
 * claims a quarter of the source; returns its offset. (At 1 MiB/s a fresh CI once ended the run before a
 * poll saw any checkpoint: the other tests of this file poll and spawn in the same worker.)
 */
async function killAfterCheckpoint(args: string[], checkpoint: string): Promise<number> {
  let seen = 0;
  const details = { polls: 0, stderr: '', ms: 0 };
  const killed = await killWhen([...args, '--bwlimit', '512K', '--debug'], () => {
    seen = Math.max(seen, checkpointOffset(checkpoint));
    return seen >= SIZE / 4;
  }, 0, 'controller', process.env, details);
  const offset = checkpointOffset(checkpoint);
  if (killed === 'none' || offset <= 0) throw new Error(`the run ended (${killed}) before it saved a checkpoint (${checkpoint}: ${offset}; largest seen ${seen} in ${details.polls} polls over ${details.ms} ms): ${details.stderr}`);
  return offset;
}

/**
 * Runs `args` paced to 1 MiB/s, SIGKILLs the controller once the bitmap records a quarter of the buffers
 * (in a file this run made: no clean end since it was made); returns how many it records.
 */
async function killAfterBitmapCommit(args: string[], bitmap: string): Promise<number> {
  const reached = () => {
    const now = bitmapState(bitmap);
    return now !== undefined && now.lastClean === 0 && now.known >= BUFFERS / 4;
  };
  const details = { polls: 0, stderr: '', ms: 0 };
  const killed = await killWhen([...args, '--bwlimit', '1M'], reached, 0, 'controller', process.env, details);
  const known = bitmapKnownBuffers(bitmap);
  if (killed === 'none' || known <= 0) throw new Error(`the run ended (${killed}) before its bitmap recorded a buffer (${known}; ${details.polls} polls over ${details.ms} ms): ${details.stderr}`);
  return known;
}

const cases: Array<{ action: Action; mode: 'COPY' | 'SYNC' }> = [
  { action: 'PUSH', mode: 'COPY' },
  { action: 'PULL', mode: 'COPY' },
  { action: 'PUSH', mode: 'SYNC' },
  { action: 'PULL', mode: 'SYNC' },
];
for (const { action, mode } of cases) {
  test(`${action} ${mode}: killed after a checkpoint, the same command resumes there, says so, and converges`, async (t) => {
    t.timeout(5 * 60_000);
    const source = random(SIZE);
    const where = devices(t, action, source, random(SIZE));
    const args = [...where.args, '-a', action, '-m', mode, '--buffer', '4'];
    const checkpoint = checkpointOf(where);
    const offset = await killAfterCheckpoint(args, checkpoint);
    t.is(statSync(checkpoint).mode & 0o777, 0o600);
    // Buffer.equals, not t.deepEqual: ava's deep compare of megabytes blocks the event loop (and the other tests' kill triggers) for seconds.
    t.true(readFileSync(where.destination).subarray(0, offset).equals(source.subarray(0, offset)), 'the checkpoint claims only what the destination holds');

    const result = await run(t, [...args, '--stat']);
    t.regex(result.stdout, /^Resuming at \d+\.\d [KM]iB of 2\.0 MiB \(checkpoint from \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\)\n/);
    t.true(result.stdout.includes(`This run synced bytes ${offset} to ${SIZE} `), result.stdout);
    const both = Number(/Both:(\d+)B/.exec(result.stdout)?.[1]);
    t.true(both < SIZE - offset + SIZE / 10, `only the rest travelled: ${both} bytes for ${SIZE - offset}`);
    t.false(existsSync(checkpoint), 'a successful run removes its checkpoint');
    await assertSynced(t, where, source);
  });
}

// The bitmap is the checkpoint of a -b run: the rerun never skips a prefix. The source changes after
// the kill, in a buffer the interrupted run had synced and recorded (the first) and in one it had not
// reached (the last): both changes must reach the destination. (With a skipped prefix, as a -b run
// resumed before, the first change was never sent and the bitmap then claimed it synced.)
for (const action of ['PUSH', 'PULL'] as const) {
  test(`${action} SYNC -b: killed after bitmap commits, the same command says it resumes from the bitmap, sends only the rest and what changed since, and converges`, async (t) => {
    t.timeout(5 * 60_000);
    const original = random(SIZE);
    const where = devices(t, action, original, random(SIZE));
    const bitmap = where.dir.path('bitmap');
    const args = [...where.args, '-a', action, '-m', 'SYNC', '--buffer', '4', '--chunk', '0', '-b', bitmap];
    const known = await killAfterBitmapCommit(args, bitmap);
    t.false(existsSync(`${bitmap}.checkpoint`) || existsSync(checkpointOf(where)), 'a -b run keeps no checkpoint but its bitmap');
    const source = edited(original, [10, SIZE - 10], 4);
    writeFileSync(where.source, source);

    const json = action === 'PULL';
    const result = await run(t, [...args, json ? '--json' : '--stat']);
    const human = json ? result.stderr : result.stdout;
    t.true(human.startsWith(`Resuming from the bitmap: ${known} of ${BUFFERS} buffers already synced (the previous run was interrupted); `
      + 'the whole source is hashed again, only what differs is sent\n'), human);
    // At most every buffer not recorded (those the interrupted run wrote without committing are found
    // equal on the destination and not sent again), and the first (recorded, then changed on the source).
    const sent = Number(/This run hashed the whole source and sent the (\d+) buffers? \(/.exec(human)?.[1]);
    t.true(sent >= 1 && sent <= BUFFERS - known + 1, `sent ${sent} buffers, ${known} of ${BUFFERS} were recorded`);
    if (json) {
      const list = result.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      for (const event of list) if (!validate(event)) t.fail(`${JSON.stringify(event)}: ${JSON.stringify(validate.errors)}`);
      t.like(list.find((event) => event.type === 'resume'), { from: 'bitmap', checkpoint: bitmap, syncedBuffers: known, buffers: BUFFERS, resumedFrom: 0, ignored: null });
      t.like(list[list.length - 1], { type: 'end', exitCode: 0, changedBuffers: sent });
    } else {
      const both = Number(/Both:(\d+)B/.exec(human)?.[1]);
      t.true(both < (sent + 8) * 4096 + SIZE / 10, `only the rest travelled: ${both} bytes for ${sent} buffers`);
    }
    await assertSynced(t, where, source);
    // The bitmap claims what the destination holds: the next run sends nothing.
    const again = await run(t, [...args, '--json']);
    t.like(JSON.parse(again.stdout.trimEnd().split('\n').pop() as string), { type: 'end', exitCode: 0, writtenBytes: 0 });
  });
}

test('--reset-bitmap: the same command continues an interrupted reset (its entries stand); with --no-resume it starts over', async (t) => {
  t.timeout(5 * 60_000);
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, random(SIZE));
  const bitmap = where.dir.path('bitmap');
  const args = [...where.args, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '4', '--chunk', '0', '-b', bitmap, '--reset-bitmap'];
  await run(t, args.slice(0, -1)); // a first clean run: a bitmap that a reset would start over
  writeFileSync(where.destination, random(SIZE)); // the destination was changed behind the bitmap's back
  const known = await killAfterBitmapCommit(args, bitmap);
  const continued = await run(t, [...args, '--stat']);
  t.true(continued.stdout.startsWith(`Resuming from the bitmap: ${known} of ${BUFFERS} buffers already synced `
    + '(the previous run, a --reset-bitmap run, was interrupted); '), continued.stdout);
  t.true(continued.stdout.includes(`sent the ${BUFFERS - known} buffers`), continued.stdout);
  await assertSynced(t, where, source);

  writeFileSync(where.destination, random(SIZE));
  await killAfterBitmapCommit(args, bitmap);
  const over = await run(t, [...args, '--no-resume', '--stat']);
  t.false(over.stdout.includes('Resuming'), over.stdout);
  t.true(Number(/Both:(\d+)B/.exec(over.stdout)?.[1]) > SIZE, 'everything was sent again');
  await assertSynced(t, where, source);
});

// Remote to remote: the identity names both sides' hosts. A checkpoint of the same paths from another
// source host is found (one checkpoint per destination), ignored with the reason and never applied.
// In-process: the transport is not the point (both "hosts" are this machine's files).
test('remote to remote: a checkpoint made with another source host is ignored with the reason; the same hosts resume', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, random(SIZE));
  const [from, to] = [where.source, where.destination];
  const half = Math.floor(SIZE / 2 / 4096) * 4096;
  const identity = {
    action: 'PUSH', mode: 'SYNC', source: from, destination: to, sourceHost: 'hv1', destinationHost: 'root@vault:2222', sourceSize: SIZE,
    destinationSize: SIZE, bufferSize: 4096, chunkSize: 0, hash: DEFAULT_HASH.withoutBitmap, // no chunks: the buffer is no larger than the default chunk
  };
  const checkpoint = checkpointPath({ destination: to, destinationHost: 'root@vault:2222' });
  const save = () => writeFileSync(checkpoint, `${JSON.stringify({ basyn: 'checkpoint', version: CHECKPOINT_VERSION, identity, offset: half, started: 1, saved: 2 })}\n`, { mode: 0o600 });
  const cli = async (sourceHost: string) => {
    let stdout = '';
    let stderr = '';
    const io = { stdout: (text: string) => { stdout += text; }, stderr: (text: string) => { stderr += text; } };
    const code = await main([`${sourceHost}:${from}`, `ssh://root@vault:2222${to}`, '--buffer', '4'], { io, transports: () => new InProcessTransport() });
    t.is(code, 0, stderr);
    return stdout;
  };
  mkdirSync(dirname(checkpoint), { recursive: true });
  save(); // the destination does not hold the source's first half: a run that applied the checkpoint would leave it wrong
  t.is(await cli('hv2'), `Checkpoint ${checkpoint} ignored: it was made for another run (source host: hv1 then, hv2 now)\n`);
  await assertSynced(t, where, source);
  t.false(existsSync(checkpoint));

  writeFileSync(to, Buffer.concat([source.subarray(0, half), random(SIZE - half)]));
  save();
  t.regex(await cli('hv1'), /^Resuming at 1\.0 MiB of 2\.0 MiB \(checkpoint from 1970-01-01T00:00:00\.002Z\)\n/);
  await assertSynced(t, where, source);
});

test('--json reports the resume: a "resume" event and resumedFrom in "end", valid against docs/json.md', async (t) => {
  t.timeout(5 * 60_000);
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, random(SIZE));
  const args = [...where.args, '-a', 'PUSH', '-m', 'COPY', '--buffer', '4'];
  const checkpoint = checkpointOf(where);
  const offset = await killAfterCheckpoint(args, checkpoint);
  const result = await run(t, [...args, '--json']);
  const list = result.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  for (const event of list) if (!validate(event)) t.fail(`${JSON.stringify(event)}: ${JSON.stringify(validate.errors)}`);
  const resume = list.find((event) => event.type === 'resume');
  t.like(resume, { from: 'checkpoint', checkpoint, resumedFrom: offset, size: SIZE, ignored: null, syncedBuffers: Math.ceil(offset / 4096), buffers: BUFFERS });
  t.regex(String(resume?.savedAt), /^\d{4}-\d\d-\d\dT/);
  t.like(list[list.length - 1], { type: 'end', exitCode: 0, resumedFrom: offset });
  t.regex(result.stderr, /^Resuming at /, 'the human line goes to stderr with --json');
  await assertSynced(t, where, source);
});

test('a checkpoint of other parameters is ignored with the reason and never applied; --no-resume starts over', async (t) => {
  t.timeout(5 * 60_000);
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, random(SIZE));
  const args = [...where.args, '-a', 'PUSH', '-m', 'COPY'];
  const checkpoint = checkpointOf(where);
  await killAfterCheckpoint([...args, '--buffer', '4'], checkpoint);
  // The destination's first half is garbled behind the checkpoint's back: a run that applied the
  // checkpoint would skip it and leave it wrong.
  const garbled = Buffer.concat([random(SIZE / 2), readFileSync(where.destination).subarray(SIZE / 2)]);
  writeFileSync(where.destination, garbled);
  const other = await run(t, [...args, '--buffer', '8']);
  t.is(other.stdout, `Checkpoint ${checkpoint} ignored: it was made for another run (buffer size: 4096 then, 8192 now)\n`);
  await assertSynced(t, where, source);
  t.false(existsSync(checkpoint), 'the stale checkpoint is removed after the successful run');

  writeFileSync(where.destination, random(SIZE));
  await killAfterCheckpoint([...args, '--buffer', '4'], checkpoint);
  const over = await run(t, [...args, '--buffer', '4', '--no-resume', '--stat']);
  t.true(over.stdout.startsWith(`Checkpoint ${checkpoint} ignored: starting over (--no-resume)\n`), over.stdout);
  t.true(Number(/Both:(\d+)B/.exec(over.stdout)?.[1]) > SIZE, 'everything was sent again');
  t.false(existsSync(checkpoint));
  await assertSynced(t, where, source);
});

test('a file that is not a basyn checkpoint where the checkpoint goes is refused, left as it was (exit 1, nothing written)', async (t) => {
  t.timeout(5 * 60_000);
  const source = random(64 * 1024);
  const destination = random(64 * 1024);
  const where = devices(t, 'PUSH', source, destination);
  const checkpoint = checkpointOf(where);
  mkdirSync(dirname(checkpoint), { recursive: true });
  writeFileSync(checkpoint, 'precious\n');
  const result = await run(t, [...where.args, '-a', 'PUSH', '-m', 'SYNC'], 1);
  t.is(result.stderr, `Checkpoint ${checkpoint} exists and is not a file basyn wrote (9 bytes): refusing to replace it (nothing was written); `
    + 'basyn only replaces a checkpoint it wrote; move the file away, or set XDG_STATE_HOME to another directory\n');
  t.is(readFileSync(checkpoint, 'utf8'), 'precious\n');
  rmSync(checkpoint);
  await assertSynced(t, where, source, destination);
});

test('a state folder that cannot be made turns resume off for the run, with a warning; the sync itself succeeds', async (t) => {
  t.timeout(5 * 60_000);
  const source = random(256 * 1024);
  const where = devices(t, 'PUSH', source, random(256 * 1024));
  writeFileSync(where.dir.path('not-a-folder'), '');
  const result = await basyn([...where.args, '-a', 'PUSH', '-m', 'COPY', '--buffer', '16'], {
    env: { ...process.env, XDG_STATE_HOME: where.dir.path('not-a-folder') }, timeoutMs: 5 * 60_000,
  });
  t.is(result.code, 0, result.stderr);
  t.regex(result.stderr, /^warning: no more resume checkpoints for this run: State directory .*not-a-folder\/basyn: .*; set XDG_STATE_HOME to a directory basyn can write, or use -b\n$/);
  await assertSynced(t, where, source);
});

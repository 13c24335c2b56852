// Resume (issue 11): a run killed after it saved a checkpoint is resumed by the same command, which
// says where it resumes and which range it synced (and --json reports it); other parameters or
// --no-resume ignore the checkpoint and say why, never applying it; a successful run removes it; the
// file is 0600 and never replaces a file basyn did not write. The interrupted run is paced with
// --bwlimit and killed once its checkpoint claims a quarter of the source (progress, not the clock).
// Every run is followed by a byte-for-byte check of both sides.
import test, { type ExecutionContext } from 'ava';
import Ajv2020 from 'ajv/dist/2020';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { checkpointPath } from '../src/local/checkpoint';
import { basyn, type RunResult } from './helpers/cli';
import { checkpointOffset, killWhen, lastPolls, lastStderr } from './helpers/resume-crash';
import { assertSynced, devices, random, type Action, type Devices } from './helpers/scenario';

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

function checkpointOf(where: Devices, bitmap?: string): string {
  return checkpointPath({ source: resolve(where.source), destination: resolve(where.destination), host: '' }, bitmap);
}

/** Runs `args` paced to 1 MiB/s over the pipe, SIGKILLs the controller once the checkpoint claims a quarter of the source; returns its offset. */
async function killAfterCheckpoint(args: string[], checkpoint: string): Promise<number> {
  let seen = 0;
  const killed = await killWhen([...args, '--bwlimit', '1M', '--debug'], () => {
    seen = Math.max(seen, checkpointOffset(checkpoint));
    return seen >= SIZE / 4;
  }, 0, 'controller');
  const offset = checkpointOffset(checkpoint);
  if (killed === 'none' || offset <= 0) throw new Error(`the run ended (${killed}) before it saved a checkpoint (${checkpoint}: ${offset}; largest seen ${seen} in ${lastPolls} polls): ${lastStderr}`);
  return offset;
}

const cases: Array<{ action: Action; mode: 'COPY' | 'SYNC'; bitmap: boolean }> = [
  { action: 'PUSH', mode: 'COPY', bitmap: false },
  { action: 'PULL', mode: 'COPY', bitmap: false },
  { action: 'PUSH', mode: 'SYNC', bitmap: false },
  { action: 'PULL', mode: 'SYNC', bitmap: false },
  { action: 'PUSH', mode: 'SYNC', bitmap: true },
  { action: 'PULL', mode: 'SYNC', bitmap: true },
];
for (const { action, mode, bitmap: withBitmap } of cases) {
  test(`${action} ${mode}${withBitmap ? ' -b' : ''}: killed after a checkpoint, the same command resumes there, says so, and converges`, async (t) => {
    t.timeout(5 * 60_000);
    const source = random(SIZE);
    const where = devices(t, action, source, random(SIZE));
    const bitmap = withBitmap ? where.dir.path('bitmap') : undefined;
    const args = [...where.args, '-a', action, '-m', mode, '--buffer', '4', ...(bitmap ? ['-b', bitmap] : [])];
    const checkpoint = checkpointOf(where, bitmap);
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
  t.like(resume, { checkpoint, resumedFrom: offset, size: SIZE, ignored: null });
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
  const bitmap = where.dir.path('bitmap');
  writeFileSync(`${bitmap}.checkpoint`, 'precious\n');
  const result = await run(t, [...where.args, '-a', 'PUSH', '-m', 'SYNC', '-b', bitmap], 1);
  t.is(result.stderr, `Checkpoint ${bitmap}.checkpoint exists and is not a file basyn wrote (9 bytes): refusing to replace it (nothing was written); `
    + 'basyn only replaces a checkpoint it wrote; move the file away, or pass another -b\n');
  t.is(readFileSync(`${bitmap}.checkpoint`, 'utf8'), 'precious\n');
  t.false(existsSync(bitmap), 'no bitmap was written');
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

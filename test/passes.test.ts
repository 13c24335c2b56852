// --passes (issue 11): the source changes while a sync runs. The sync is paced with --bwlimit; once its
// checkpoint (with -b: its bitmap, which is a -b run's checkpoint) says the first half of the source is
// synced and flushed (so those bytes were read and sent already), a range in the first quarter of the source is overwritten. With --passes 2 the later pass
// finds it, sends it again and says so ("source changed during the sync", a --json "resent" range and
// the end figures); the destination ends equal to the source as it is now. With --passes 1 nothing
// looks again: the destination keeps the old bytes there (the case --passes exists for).
import test, { type ExecutionContext } from 'ava';
import Ajv2020 from 'ajv/dist/2020';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { checkpointPath } from '../src/local/checkpoint';
import { bitmapKnownBuffers, checkpointOffset } from './helpers/resume-crash';
import { basyn, type RunResult } from './helpers/cli';
import { devices, random, sha256, type Action } from './helpers/scenario';

// Images and checkpoints on tmpfs when there is one (see resume-crash.test.ts).
if (existsSync('/dev/shm')) process.env.TMPDIR = '/dev/shm';
const SIZE = 1024 * 1024 + 333;
const CHANGE = { offset: 100_000, length: 5000 };
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
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

const cases: Array<{ action: Action; mode: 'SYNC' | 'COPY'; bitmap: boolean; passes: number }> = [
  { action: 'PUSH', mode: 'SYNC', bitmap: false, passes: 2 },
  { action: 'PULL', mode: 'SYNC', bitmap: true, passes: 2 },
  { action: 'PUSH', mode: 'COPY', bitmap: false, passes: 3 },
  { action: 'PULL', mode: 'SYNC', bitmap: false, passes: 1 },
];
for (const { action, mode, bitmap: withBitmap, passes } of cases) {
  test(`${action} ${mode}${withBitmap ? ' -b' : ''} --passes ${passes}: a range of the source changed after it was sent ${passes > 1 ? 'is sent again and reported' : 'stays old on the destination'}`, async (t) => {
    t.timeout(5 * 60_000);
    const original = random(SIZE);
    const where = devices(t, action, original, random(SIZE));
    const bitmap = withBitmap ? where.dir.path('bitmap') : undefined;
    const args = [...where.args, '-a', action, '-m', mode, '--buffer', '4', '--bwlimit', '512K', '--passes', String(passes), '--json', '--verbose',
      ...(bitmap ? ['-b', bitmap] : [])];
    const checkpoint = checkpointPath({ destination: resolve(where.destination), destinationHost: '' });
    /** Bytes from 0 the run has synced and flushed. */
    const synced = () => (bitmap ? Math.min(SIZE, bitmapKnownBuffers(bitmap) * 4096) : checkpointOffset(checkpoint));
    const running = basyn(args, { timeoutMs: 4 * 60_000 });
    // The change comes once the first half is synced and flushed: its old bytes were read and sent.
    const deadline = Date.now() + 3 * 60_000;
    while (synced() < SIZE / 2 && Date.now() < deadline) await sleep(5);
    const seen = synced();
    const replacement = randomBytes(CHANGE.length);
    const fd = openSync(where.source, 'r+');
    writeSync(fd, replacement, 0, CHANGE.length, CHANGE.offset);
    closeSync(fd);
    const now = Buffer.from(original);
    replacement.copy(now, CHANGE.offset);
    const result = await running;
    t.is(result.code, 0, result.stderr);
    t.true(seen >= SIZE / 2 && seen < SIZE, `the change came while the run was past half way (checkpoint ${seen} of ${SIZE})`);

    const list = result.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const event of list) if (!validate(event)) t.fail(`${JSON.stringify(event)}: ${JSON.stringify(validate.errors)}`);
    const end = list[list.length - 1];
    const destination = readFileSync(where.destination);
    t.is(sha256(readFileSync(where.source)), sha256(now), 'the source is as the test left it');
    if (passes > 1) {
      t.true(destination.equals(now), 'the destination holds the source as it is now');
      const resent = list.filter((event) => event.type === 'range' && event.kind === 'resent');
      t.true(resent.length >= 1, JSON.stringify(resent));
      for (const range of resent) {
        const [offset, length] = [range.offset as number, range.length as number];
        t.true(offset <= CHANGE.offset + CHANGE.length && offset + length >= CHANGE.offset, `a resent range covers the change: ${offset}+${length}`);
      }
      t.true((end.sourceChangedBytes as number) >= CHANGE.length, `sourceChangedBytes ${end.sourceChangedBytes}`);
      t.like(end, { passes, sourceChangedRanges: resent.length });
      t.regex(result.stderr, /warning: source changed during the sync: \d+ ranges?, \d+ bytes \(sent again\); use a snapshot for a point-in-time copy\n/);
    } else {
      t.false(destination.equals(now), 'with --passes 1 the change is not sent');
      t.true(destination.equals(original), 'the destination holds the source as it was read');
      t.like(end, { passes: 1, sourceChangedRanges: 0, sourceChangedBytes: 0 });
      t.notRegex(result.stderr, /source changed/);
    }
  });
}

test('a stable source: the later pass finds nothing, says so with --verbose, and the run reports passes 2', async (t) => {
  t.timeout(5 * 60_000);
  const source = random(256 * 1024);
  const where = devices(t, 'PUSH', source, random(256 * 1024));
  const result = await run(t, [...where.args, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '16', '--passes', '2', '--verbose', '--json']);
  t.regex(result.stderr, /Source stable during the sync: pass 2 found nothing changed in what was sent\n/);
  t.like(JSON.parse(result.stdout.trimEnd().split('\n').pop() as string), { type: 'end', passes: 2, sourceChangedRanges: 0, sourceChangedBytes: 0 });
  t.true(readFileSync(where.destination).equals(source));
});

test('--passes is checked: a whole number from 1 to 10, and only for a sync that writes a destination (exit 1)', async (t) => {
  t.timeout(5 * 60_000);
  const before = random(4096);
  const where = devices(t, 'PUSH', random(4096), before);
  const cases: Array<[string[], string]> = [
    [['-a', 'PUSH', '-m', 'SYNC', '--passes', '0'], '--passes must be between 1 and 10, got 0\n'],
    [['-a', 'PUSH', '-m', 'SYNC', '--passes', 'x'], "Argument conversion error: --passes must be a whole number, got 'x'\n"],
    [['--recheck', '--passes', '2'], '--passes needs a sync that writes a destination (-a and -m, not --diff nor bitmap-only mode)\n'],
  ];
  for (const [extra, message] of cases) {
    const result = await run(t, [...where.args, ...extra], 1);
    t.is(result.stderr, message);
  }
  t.true(readFileSync(where.remote).equals(before), 'nothing was written');
});

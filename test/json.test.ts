// --json (docs/json.md): real runs, every stdout line validated with ajv against the JSON Schema that
// docs/json.md holds; the figures of the "end" event checked against what the run did; human output
// (--stat, --verbose) on stderr; errors end the stream too. Both sides compared byte for byte.
import test, { type ExecutionContext } from 'ava';
import Ajv2020 from 'ajv/dist/2020';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { basyn, STAT_LINE } from './helpers/cli';
import { assertSynced, devices, edited, random, run } from './helpers/scenario';

const BUFFER = 64 * 1024;
const SIZE = 16 * BUFFER + 777;

const doc = readFileSync(join(__dirname, '..', 'docs', 'json.md'), 'utf8');
const schemaText = /## Schema[\s\S]*?```json\n([\s\S]*?)```/.exec(doc)?.[1];
if (!schemaText) throw new Error('docs/json.md has no ```json schema block under "## Schema"');
const validate = new Ajv2020({ strict: false, allErrors: true }).compile(JSON.parse(schemaText));

type Event = Record<string, unknown> & { type: string };

/** Parses stdout as JSON lines, each valid against the schema; the first is start (unless the run failed early), the last end. */
function events(t: ExecutionContext, stdout: string): Event[] {
  t.true(stdout.endsWith('\n'), 'stdout ends with a newline');
  const parsed = stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as Event);
  for (const event of parsed) {
    if (!validate(event)) t.fail(`${JSON.stringify(event)} does not match the schema: ${JSON.stringify(validate.errors)}`);
  }
  t.is(parsed[parsed.length - 1].type, 'end');
  t.is(parsed.filter((event) => event.type === 'end').length, 1);
  return parsed;
}

function end(list: Event[]): Event {
  return list[list.length - 1];
}

test('the schema rejects what it should (it can fail)', (t) => {
  t.false(validate({ type: 'end', time: new Date().toISOString(), exitCode: 0 }));
  t.false(validate({ type: 'range', time: new Date().toISOString(), kind: 'changed', offset: -1, length: 3 }));
  t.false(validate({ type: 'nonsense', time: new Date().toISOString() }));
});

for (const action of ['PUSH', 'PULL'] as const) {
  test(`${action} SYNC --json --stat --verbose --recheck: JSON lines on stdout only, human output on stderr, figures that add up`, async (t) => {
    // The last 4 buffers and the short one are zeros on the source, random on the destination.
    const source = Buffer.concat([random(12 * BUFFER), Buffer.alloc(SIZE - 12 * BUFFER)]);
    const destination = Buffer.concat([edited(source.subarray(0, 12 * BUFFER), [BUFFER + 1, 5 * BUFFER + 2]), random(SIZE - 12 * BUFFER)]);
    const where = devices(t, action, source, destination);
    const result = await run(t, [...where.args, '-a', action, '-m', 'SYNC', '--buffer', '64', '--chunk', '16', '--json', '--stat', '--verbose', '--recheck']);
    const list = events(t, result.stdout);
    t.regex(result.stderr, STAT_LINE, 'the --stat line is on stderr');
    t.regex(result.stderr, /Starting to .* SYNC data/);
    const start = list[0];
    t.is(start.type, 'start');
    t.is(start.action, action);
    const ranges = list.filter((event) => event.type === 'range' && event.kind === 'changed');
    const last = end(list);
    t.is(last.exitCode, 0);
    t.is(last.error, undefined);
    t.is(last.deviceSize, SIZE);
    t.is(last.changedBytes, ranges.reduce((sum, range) => sum + (range.length as number), 0));
    // Two 16 KiB chunks, and the zero buffers (their chunks travel as zero markers).
    t.is(last.changedBytes, 2 * 16 * 1024 + SIZE - 12 * BUFFER);
    t.is(last.changedBuffers, 2 + 5);
    t.is(last.writtenBytes, last.changedBytes);
    t.true((last.zeroBlocks as number) >= 4, `zero blocks: ${last.zeroBlocks}`);
    t.is(last.both, (last.rx as number) + (last.tx as number));
    const sides = last.sides as Array<Record<string, unknown>>;
    const destinationRole = action === 'PUSH' ? 'remote' : 'local';
    t.is(sides.find((side) => side.role === destinationRole)?.bytesWritten, last.writtenBytes);
    t.is(sides.find((side) => side.role !== destinationRole)?.bytesWritten, 0);
    const progress = list.filter((event) => event.type === 'progress');
    t.deepEqual(progress.filter((event) => event.bytesDone === SIZE).map((event) => event.phase), ['SYNC', 'RECHECK']);
    t.is(progress.find((event) => event.phase === 'SYNC' && event.bytesDone === SIZE)?.changedBytes, last.changedBytes);
    await assertSynced(t, where, source);
  });
}

test('--json: a recheck that finds differences ends with exit 2, the error and the differing ranges', async (t) => {
  const source = random(SIZE);
  const destination = edited(source, [3 * BUFFER]);
  const where = devices(t, 'PUSH', source, destination);
  const result = await run(t, [...where.args, '--recheck', '--buffer', '64', '--json'], 2);
  const list = events(t, result.stdout);
  t.deepEqual(list.filter((event) => event.type === 'range').map(({ kind, offset, length }) => ({ kind, offset, length })), [{ kind: 'differs', offset: 3 * BUFFER, length: BUFFER }]);
  const last = end(list);
  t.is(last.exitCode, 2);
  t.is((last.error as { code: string }).code, 'EMISMATCH');
  t.is(`${(last.error as { message: string }).message}\n`, result.stderr);
  await assertSynced(t, where, source, destination);
});

test('--json --recheck --repair: differs and repaired ranges, exit 0', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PULL', source, edited(source, [3 * BUFFER + 100]));
  const result = await run(t, [...where.args, '-a', 'PULL', '--recheck', '--repair', '--buffer', '64', '--chunk', '16', '--json']);
  const list = events(t, result.stdout);
  const ranges = list.filter((event) => event.type === 'range').map(({ kind, offset, length }) => ({ kind, offset, length }));
  t.deepEqual(ranges, [{ kind: 'differs', offset: 3 * BUFFER, length: BUFFER }, { kind: 'repaired', offset: 3 * BUFFER, length: 16 * 1024 }]);
  t.regex(result.stderr, /Repaired 16384 bytes in 1 range: the second compare is clean\n$/);
  t.is(end(list).exitCode, 0);
  await assertSynced(t, where, source);
});

test('--json: errors end the stream too (a missing device: exit 2; a bad option: exit 1), nothing else on stdout', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, source);
  const missing = await basyn(['-l', where.local, '-r', where.dir.path('absent.img'), '-a', 'PUSH', '-m', 'SYNC', '--json']);
  t.is(missing.code, 2);
  const failed = end(events(t, missing.stdout));
  t.is(failed.exitCode, 2);
  t.is(`${(failed.error as { message: string }).message}\n`, missing.stderr);

  const usage = await basyn(['-l', where.local, '-r', where.remote, '-a', 'PUSH', '-m', 'SYNC', '--json', '--zlevel', '12']);
  t.is(usage.code, 1);
  const list = events(t, usage.stdout);
  t.is(list.length, 1);
  t.deepEqual(list[0].error, { code: 'EUSAGE', message: '--zlevel must be between 0 and 9, got 12' });
  const unknown = await basyn(['--json', '--no-such-option']);
  t.is(unknown.code, 1);
  t.is((end(events(t, unknown.stdout)).error as { code: string }).code, 'EUSAGE');
  await assertSynced(t, where, source);
});

test('--json in bitmap-only mode: the changed ranges, "Changed since last run" on stderr', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, source);
  const bitmap = where.dir.path('track');
  const args = ['-l', where.local, '-a', 'PUSH', '-m', 'SYNC', '-b', bitmap, '--buffer', '64', '--chunk', '16', '--json'];
  await run(t, args);
  const changed = edited(source, [2 * BUFFER + 3]);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(where.local, changed);
  const result = await run(t, args);
  const list = events(t, result.stdout);
  t.deepEqual(list.filter((event) => event.type === 'range').map(({ kind, offset, length }) => ({ kind, offset, length })), [{ kind: 'changed', offset: 2 * BUFFER, length: 16 * 1024 }]);
  t.is(result.stderr, 'Changed since last run: 16384 bytes in 1 range\n');
  t.is(end(list).changedBytes, 16384);
});

for (const action of ['PUSH', 'PULL'] as const) {
  test(`${action} --diff FILE --json: start, the changed ranges and an end whose figures are the comparison's; the destination is not written`, async (t) => {
    const source = random(SIZE);
    const destination = edited(source, [BUFFER + 5, 9 * BUFFER + 7]);
    const where = devices(t, action, source, destination);
    const patch = where.dir.path('changes.patch');
    const result = await run(t, [...where.args, '-a', action, '-m', 'SYNC', '--buffer', '64', '--chunk', '16', '--diff', patch, '--json']);
    const list = events(t, result.stdout);
    t.is(list[0].type, 'start');
    t.deepEqual(list.filter((event) => event.type === 'range').map(({ kind, offset, length }) => ({ kind, offset, length })),
      [{ kind: 'changed', offset: BUFFER, length: 16 * 1024 }, { kind: 'changed', offset: 9 * BUFFER, length: 16 * 1024 }]);
    const last = end(list);
    t.like(last, { exitCode: 0, deviceSize: SIZE, passes: 1, changedBuffers: 2, changedBytes: 2 * 16 * 1024, writtenBytes: 0 });
    const sides = last.sides as Array<Record<string, unknown>>;
    t.deepEqual(sides.map((side) => side.bytesWritten), [0, 0]);
    t.true(readFileSync(where.destination).equals(destination), 'the destination is only read by --diff');
    t.true(readFileSync(where.source).equals(source));
  });
}

test('--json: invalidatedEntries counts the bitmap entries --recheck -b and --verify-bitmap invalidated (0 when nothing differs)', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, random(SIZE));
  const bitmap = where.dir.path('sda.bitmap');
  const sync = [...where.args, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64', '-b', bitmap, '--json'];
  t.is(end(events(t, (await run(t, sync)).stdout)).invalidatedEntries, 0, 'a clean SYNC invalidates nothing');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(where.remote, edited(source, [2 * BUFFER + 1, 7 * BUFFER + 2, 7 * BUFFER + 3000]));
  const recheck = await run(t, [...where.args, '-a', 'PUSH', '--recheck', '--buffer', '64', '-b', bitmap, '--json'], 2);
  t.like(end(events(t, recheck.stdout)), { exitCode: 2, invalidatedEntries: 2 });
  // The entries are unknown now: --verify-bitmap has nothing of them to check, and another damage is a third.
  writeFileSync(where.remote, edited(readFileSync(where.remote), [11 * BUFFER + 5]));
  const verify = await run(t, ['-r', where.remote, '-a', 'PUSH', '--verify-bitmap', '-b', bitmap, '--json'], 2);
  t.like(end(events(t, verify.stdout)), { exitCode: 2, invalidatedEntries: 1 });
  await run(t, sync);
  await assertSynced(t, where, source);
});

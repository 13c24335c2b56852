// Device sizes: empty, one byte, one buffer, one buffer +/- 1 byte, a destination larger (its tail is
// left alone) or smaller (refused, nothing written) than the source, and a 300 MiB sparse image.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { parseStat } from './helpers/cli';
import { sha256File, writeSparse } from './helpers/images';
import { assertSynced, devices, edited, random, run, sha256, withTail, type Action } from './helpers/scenario';

const BUFFER = 64 * 1024;
const ACTIONS: Action[] = ['PUSH', 'PULL'];
const EMPTY_MESSAGE = 'One of the devices is size 0. There is nothing to sync.\n';

for (const action of ACTIONS) {
  for (const mode of ['SYNC', 'COPY']) {
    for (const [name, size] of [['1 byte', 1], ['one buffer - 1', BUFFER - 1], ['exactly one buffer', BUFFER], ['one buffer + 1', BUFFER + 1]] as const) {
      test(`${action} ${mode}: ${name}`, async (t) => {
        const source = random(size);
        const where = devices(t, action, source, edited(source, [0, size - 1]));
        await run(t, [...where.args, '-a', action, '-m', mode, '--buffer', '64']);
        await assertSynced(t, where, source);
      });
    }
  }

  for (const [name, sourceSize, destinationSize] of [['empty source', 0, 100], ['empty destination', 100, 0], ['both empty', 0, 0]] as const) {
    test(`${action}: ${name} is refused with exit 2`, async (t) => {
      const source = random(sourceSize);
      const destination = random(destinationSize);
      const where = devices(t, action, source, destination);
      const result = await run(t, [...where.args, '-a', action, '-m', 'SYNC'], 2);
      t.is(result.stderr, EMPTY_MESSAGE);
      await assertSynced(t, where, source, destination);
    });
  }
}

test('no -a: an empty device is reported the same way', async (t) => {
  const where = devices(t, 'PUSH', Buffer.alloc(0), random(10));
  const result = await run(t, where.args, 2);
  t.is(result.stderr, EMPTY_MESSAGE);
});

for (const action of ACTIONS) {
  for (const mode of ['SYNC', 'COPY']) {
    test(`${action} ${mode}: a larger destination keeps its tail untouched`, async (t) => {
      const source = random(3 * BUFFER + 100);
      const destination = random(source.length + 70_000);
      const where = devices(t, action, source, destination);
      await run(t, [...where.args, '-a', action, '-m', mode, '--buffer', '64', '--chunk', '8']);
      await assertSynced(t, where, source, withTail(source, destination));
    });
  }
}

test('PUSH: a smaller remote device is refused with exit 2 and left unchanged', async (t) => {
  const source = random(3 * BUFFER);
  const destination = random(3 * BUFFER - 1);
  const where = devices(t, 'PUSH', source, destination);
  const result = await run(t, [...where.args, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64'], 2);
  t.is(result.stderr, `Cannot PUSH because remote device size (${destination.length}) is smaller than local (${source.length})\n`);
  await assertSynced(t, where, source, destination);
});

test('PULL: a smaller local device is refused with exit 2 and left unchanged', async (t) => {
  const source = random(3 * BUFFER);
  const destination = random(BUFFER);
  const where = devices(t, 'PULL', source, destination);
  const result = await run(t, [...where.args, '-a', 'PULL', '-m', 'COPY', '--buffer', '64'], 2);
  t.is(result.stderr, `Cannot PULL because remote device size (${source.length}) is greater than local (${destination.length})\n`);
  await assertSynced(t, where, source, destination);
});

// A sparse image: zero buffers travel as a ZERO marker, so even COPY moves almost nothing.
const SPARSE_SIZE = 300 * 1024 * 1024;
const SPARSE_WRITES = [
  { offset: 1000, data: Buffer.from('first write') },
  { offset: 157_286_400 - 3, data: Buffer.from('across a 2 MiB buffer border') },
  { offset: SPARSE_SIZE - 5, data: Buffer.from('last!') },
];

for (const [action, mode] of [['PUSH', 'SYNC'], ['PULL', 'COPY']] as const) {
  test(`${action} ${mode}: a 300 MiB sparse image with scattered writes`, async (t) => {
    const where = devices(t, action, Buffer.alloc(0), Buffer.alloc(0));
    writeSparse(where.source, SPARSE_SIZE, SPARSE_WRITES);
    writeSparse(where.destination, SPARSE_SIZE, [{ offset: 200_000_000, data: Buffer.from('stale data on the destination') }]);
    const before = await sha256File(where.source);
    const started = Date.now();
    const result = await run(t, [...where.args, '-a', action, '-m', mode, '--stat']);
    t.log(`${action} ${mode} of ${SPARSE_SIZE} bytes took ${Date.now() - started} ms`);
    const stat = parseStat(result.stdout);
    t.is(stat.size, SPARSE_SIZE);
    t.true(stat.both < 1024 * 1024, `traffic ${stat.both} bytes for a mostly zero device`);
    t.is(await sha256File(where.source), before, 'the source is unchanged');
    t.is(await sha256File(where.destination), before, 'the destination holds the source');
  });
}

test('a device path given twice (same file as source and destination) stays intact', async (t) => {
  const where = devices(t, 'PUSH', random(BUFFER + 7), Buffer.alloc(0));
  const content = random(BUFFER + 7);
  writeFileSync(where.source, content);
  await run(t, ['-l', where.source, '-r', where.source, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64']);
  t.is(await sha256File(where.source), sha256(content));
});

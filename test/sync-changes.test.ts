// What travels: identical devices cost almost nothing, a single changed byte costs one buffer, or one
// chunk with --chunk; COPY sends everything. Measured with the --stat traffic numbers.
import test from 'ava';
import { statSync } from 'node:fs';
import { parseStat } from './helpers/cli';
import { assertSynced, devices, edited, random, run, type Action } from './helpers/scenario';

const KIB = 1024;
const BUFFER = 64 * KIB;
const SIZE = 10 * BUFFER;
const ACTIONS: Action[] = ['PUSH', 'PULL'];
const PLACES = [['first byte', 0], ['middle', 5 * BUFFER + 12_345], ['last byte', SIZE - 1]] as const;

for (const action of ACTIONS) {
  test(`${action} SYNC: identical devices, little traffic and nothing written`, async (t) => {
    const source = random(SIZE);
    const where = devices(t, action, source, source);
    const written = statSync(where.destination).mtimeMs;
    const stat = parseStat((await run(t, [...where.args, '-a', action, '-m', 'SYNC', '--buffer', '64', '--stat'])).stdout);
    t.is(statSync(where.destination).mtimeMs, written, 'the destination was not written to');
    t.is(stat.size, SIZE);
    t.true(stat.both < SIZE / 100, `Both ${stat.both} bytes for ${SIZE} identical bytes`);
    await assertSynced(t, where, source);
  });

  test(`${action} COPY: identical devices, every byte travels anyway`, async (t) => {
    const source = random(SIZE);
    const where = devices(t, action, source, source);
    const stat = parseStat((await run(t, [...where.args, '-a', action, '-m', 'COPY', '--buffer', '64', '--stat'])).stdout);
    t.true((action === 'PUSH' ? stat.tx : stat.rx) >= SIZE, `random data is sent whole: ${JSON.stringify(stat)}`);
    await assertSynced(t, where, source);
  });

  for (const [place, offset] of PLACES) {
    test(`${action} SYNC: one changed byte (${place}) sends one buffer`, async (t) => {
      const source = random(SIZE);
      const where = devices(t, action, source, edited(source, [offset]));
      const stat = parseStat((await run(t, [...where.args, '-a', action, '-m', 'SYNC', '--buffer', '64', '--stat'])).stdout);
      const data = action === 'PUSH' ? stat.tx : stat.rx;
      t.true(data >= BUFFER, `the differing buffer travels: ${JSON.stringify(stat)}`);
      t.true(stat.both < 2 * BUFFER, `only one buffer travels: ${JSON.stringify(stat)}`);
      await assertSynced(t, where, source);
    });

    test(`${action} SYNC --chunk 4: one changed byte (${place}) sends one 4 KiB chunk`, async (t) => {
      const source = random(SIZE);
      const where = devices(t, action, source, edited(source, [offset]));
      const stat = parseStat((await run(t, [...where.args, '-a', action, '-m', 'SYNC', '--buffer', '64', '--chunk', '4', '--stat'])).stdout);
      const data = action === 'PUSH' ? stat.tx : stat.rx;
      t.true(data >= 4 * KIB, `the differing chunk travels: ${JSON.stringify(stat)}`);
      t.true(stat.both < 8 * KIB, `only one chunk travels: ${JSON.stringify(stat)}`);
      await assertSynced(t, where, source);
    });
  }
}

test('a second SYNC right after the first finds nothing to send', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, random(SIZE));
  const first = parseStat((await run(t, [...where.args, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64', '--stat'])).stdout);
  t.true(first.tx >= SIZE);
  const second = parseStat((await run(t, [...where.args, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64', '--stat'])).stdout);
  t.true(second.both < SIZE / 100, `second run: ${JSON.stringify(second)}`);
  await assertSynced(t, where, source);
});

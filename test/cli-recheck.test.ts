// --recheck: a full compare of both devices, alone (no -a) or after a sync. A mismatch is exit 2 with
// how many buffers and bytes differ and where (several ranges, not only the first).
import test from 'ava';
import { basyn, hasStackTrace } from './helpers/cli';
import { assertSynced, devices, edited, random, run, withTail } from './helpers/scenario';

const BUFFER = 64 * 1024;
const SIZE = 10 * BUFFER;

test('--recheck alone: identical devices pass with exit 0 and change nothing', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, source);
  const result = await run(t, [...where.args, '--recheck', '--buffer', '64']);
  t.is(result.stderr, '');
  await assertSynced(t, where, source);
});

test('--recheck alone: two planted differences far apart are reported as two ranges, exit 2', async (t) => {
  const source = random(SIZE);
  const destination = edited(source, [BUFFER + 100, 8 * BUFFER + 5]);
  const where = devices(t, 'PUSH', source, destination);
  const result = await run(t, [...where.args, '--recheck', '--buffer', '64'], 2);
  t.is(
    result.stderr.trim(),
    'Local and remote hashes does NOT MATCH: 2 of 10 buffers (131072 bytes) differ, in 2 ranges (offset+length): 65536+65536, 524288+65536',
  );
  t.false(hasStackTrace(result.stderr));
  await assertSynced(t, where, source, destination);
});

test('--recheck alone: differences in neighbouring buffers merge into one range', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PULL', source, edited(source, [2 * BUFFER, 3 * BUFFER + 1, 4 * BUFFER + 2]));
  const result = await run(t, [...where.args, '--recheck', '--buffer', '64'], 2);
  t.regex(result.stderr, /3 of 10 buffers \(196608 bytes\) differ, in 1 range \(offset\+length\): 131072\+196608\n$/);
});

test('--recheck alone: many ranges are summarised after the first few', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, edited(source, [0, 2, 4, 6, 8].map((index) => index * BUFFER).concat([SIZE - 1]).concat([BUFFER * 9 - 1])));
  // buffers 0, 2, 4, 6, 8 and 9 (last byte) -> 0, 2, 4, 6, 8-9: five ranges; 8 and 9 touch.
  const result = await run(t, [...where.args, '--recheck', '--buffer', '64'], 2);
  t.regex(result.stderr, /6 of 10 buffers \(393216 bytes\) differ, in 5 ranges/);
  const many = devices(t, 'PUSH', source, edited(source, [0, 2, 4, 6, 8].map((index) => index * 20 * 1024)));
  const detailed = await run(t, [...many.args, '--recheck', '--buffer', '4'], 2);
  t.regex(detailed.stderr, /5 of 160 buffers \(20480 bytes\) differ, in 5 ranges \(offset\+length\): 0\+4096, 40960\+4096, 81920\+4096, 122880\+4096, 163840\+4096\n$/);
  const more = devices(t, 'PUSH', source, edited(source, [0, 2, 4, 6, 8, 10, 12].map((index) => index * 20 * 1024)));
  const summarised = await run(t, [...more.args, '--recheck', '--buffer', '4'], 2);
  t.regex(summarised.stderr, /7 of 160 buffers .* in 7 ranges .*: 0\+4096, .* and 2 more\n$/);
});

test('--recheck alone: a difference only in the short last buffer is found', async (t) => {
  const size = SIZE + 100;
  const source = random(size);
  const where = devices(t, 'PUSH', source, edited(source, [size - 1]));
  const result = await run(t, [...where.args, '--recheck', '--buffer', '64', '--hash', 'MD5'], 2);
  t.regex(result.stderr, /1 of 11 buffers \(100 bytes\) differ, in 1 range \(offset\+length\): 655360\+100\n$/);
});

for (const action of ['PUSH', 'PULL'] as const) {
  for (const mode of ['SYNC', 'COPY']) {
    test(`${action} ${mode} --recheck: passes after the sync`, async (t) => {
      const source = random(SIZE);
      const where = devices(t, action, source, edited(source, [7, 5 * BUFFER]));
      await run(t, [...where.args, '-a', action, '-m', mode, '--buffer', '64', '--chunk', '16', '--recheck']);
      await assertSynced(t, where, source);
    });
  }
}

test('PUSH SYNC --recheck with a larger destination compares the synced part only', async (t) => {
  const source = random(SIZE);
  const destination = random(SIZE + BUFFER);
  const where = devices(t, 'PUSH', source, destination);
  await run(t, [...where.args, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64', '--recheck']);
  await assertSynced(t, where, source, withTail(source, destination));
});

test('--recheck --verbose says the data match', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, source);
  const result = await run(t, [...where.args, '--recheck', '--verbose']);
  t.regex(result.stdout, /MATCH/);
});

test('--recheck is the real compare: it fails where the hash-less check (no -a) passes', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, edited(source, [SIZE / 2]));
  t.is((await basyn(where.args)).code, 0);
  t.is((await basyn([...where.args, '--recheck'])).code, 2);
});

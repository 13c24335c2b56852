// Verification (issue 11): --recheck with -b and -a invalidates the bitmap entries of buffers found
// different (durably, before the run ends) and writes nothing to either device; --repair sends,
// flushes and compares again; --verify-bitmap hashes only the destination against the bitmap.
// Every run is followed by a byte-for-byte check of both sides.
import test, { type ExecutionContext } from 'ava';
import { copyFileSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { decodeBitmapFile, isUnknownDigest, recordLength } from '../src/shared/bitmap';
import { hasStackTrace, parseStat } from './helpers/cli';
import { patch } from './helpers/images';
import { assertSynced, devices, edited, random, run, type Action, type Devices } from './helpers/scenario';

const BUFFER = 64 * 1024;
const CHUNK = 16 * 1024;
const SIZE = 12 * BUFFER + 1000;

const geometry = ['--buffer', '64', '--chunk', '16'];

function bitmapSync(where: Devices, action: Action, bitmap: string, extra: string[] = []): string[] {
  return [...where.args, '-a', action, '-m', 'SYNC', '-b', bitmap, ...geometry, ...extra];
}

/** The buffer indexes whose every entry (buffer and chunks) is unknown in the bitmap file. */
function unknownBuffers(bitmap: string): number[] {
  const { header, table } = decodeBitmapFile(bitmap, readFileSync(bitmap), '');
  const record = recordLength(header.layout);
  const unknown: number[] = [];
  for (let index = 0; index * record < table.length; index++) {
    if (isUnknownDigest(table.subarray(index * record, (index + 1) * record))) unknown.push(index);
  }
  return unknown;
}

/** A bitmap SYNC, then damage on the destination behind basyn's back (buffers 2 and 7). */
async function syncedThenDamaged(t: ExecutionContext, action: Action) {
  const source = random(SIZE);
  const where = devices(t, action, source, random(SIZE));
  const bitmap = where.dir.path('bitmap');
  await run(t, bitmapSync(where, action, bitmap));
  await assertSynced(t, where, source);
  t.deepEqual(unknownBuffers(bitmap), []);
  const damaged = edited(source, [2 * BUFFER + 5, 7 * BUFFER + CHUNK + 3]);
  patch(where.destination, 0, damaged);
  return { source, where, bitmap, damaged };
}

for (const action of ['PUSH', 'PULL'] as const) {
  test(`${action} --recheck -b without -m: differing buffers are invalidated in the bitmap, no device is written, the next SYNC compares them with the destination`, async (t) => {
    const { source, where, bitmap, damaged } = await syncedThenDamaged(t, action);
    const result = await run(t, [...where.args, '-a', action, '-b', bitmap, '--buffer', '64', '--recheck'], 2);
    t.is(result.stderr.trim(),
      `Local and remote hashes does NOT MATCH: 2 of 13 buffers (131072 bytes) differ, in 2 ranges (offset+length): 131072+65536, 458752+65536; 2 bitmap entries invalidated: the next SYNC compares them with the destination`);
    t.false(hasStackTrace(result.stderr));
    await assertSynced(t, where, source, damaged);
    t.deepEqual(unknownBuffers(bitmap), [2, 7], 'the entries are invalid on disk when the run has ended');

    const stat = parseStat((await run(t, bitmapSync(where, action, bitmap, ['--stat']))).stdout);
    // Unknown entries are compared with the destination (issue 15): only the damaged chunk of each travels.
    const data = action === 'PUSH' ? stat.tx : stat.rx;
    t.true(data >= 2 * CHUNK && data < 3 * CHUNK, `the damaged chunk of each invalidated buffer travels, nothing else: ${JSON.stringify(stat)}`);
    await assertSynced(t, where, source);
    await run(t, [...where.args, '--recheck', '--buffer', '64']);
  });

  test(`${action} --recheck --repair without a bitmap: the differing ranges are sent and compared again, exit 0`, async (t) => {
    const source = random(SIZE);
    const destination = edited(source, [BUFFER + 9, 9 * BUFFER, SIZE - 1]);
    const where = devices(t, action, source, destination);
    const result = await run(t, [...where.args, '-a', action, '--recheck', '--repair', '--buffer', '64', '--chunk', '16']);
    t.regex(result.stdout, /^Local and remote hashes does NOT MATCH: 3 of 13 buffers \(132072 bytes\) differ, in 3 ranges .*; repairing\n/);
    t.regex(result.stdout, /\nRepaired 33768 bytes in 3 ranges: the second compare is clean\n$/);
    await assertSynced(t, where, source);
  });

  test(`${action} --recheck --repair with a bitmap: repaired, and the entries are recorded again (the next SYNC sends nothing)`, async (t) => {
    const { source, where, bitmap } = await syncedThenDamaged(t, action);
    const result = await run(t, [...where.args, '-a', action, '-b', bitmap, '--recheck', '--repair', '--buffer', '64']);
    t.regex(result.stdout, /2 bitmap entries invalidated, recorded again once repaired; repairing\nRepaired 32768 bytes in 2 ranges: the second compare is clean; bitmap entries recorded\n$/);
    await assertSynced(t, where, source);
    t.deepEqual(unknownBuffers(bitmap), []);
    const stat = parseStat((await run(t, bitmapSync(where, action, bitmap, ['--stat']))).stdout);
    t.true(stat.both < BUFFER / 4, `nothing is resent: ${JSON.stringify(stat)}`);
    await assertSynced(t, where, source);
  });

  test(`${action} -m SYNC --recheck --repair: a sync, then a clean compare, exit 0`, async (t) => {
    const source = random(SIZE);
    const where = devices(t, action, source, edited(source, [3 * BUFFER]));
    const result = await run(t, [...where.args, '-a', action, '-m', 'SYNC', '--recheck', '--repair', ...geometry]);
    t.is(result.stdout, '');
    await assertSynced(t, where, source);
  });

  test(`${action} --verify-bitmap: only the destination is read; a damaged range is reported, invalidated, exit 2; the next SYNC repairs it`, async (t) => {
    const { source, where, bitmap, damaged } = await syncedThenDamaged(t, action);
    // The source is not needed: it is removed (and a copy kept to compare with).
    unlinkSync(where.source);
    const destinationOnly = action === 'PUSH' ? ['-r', where.remote] : ['-l', where.local];
    const result = await run(t, [...destinationOnly, '-a', action, '-b', bitmap, '--verify-bitmap'], 2);
    t.is(result.stderr.trim(),
      'Destination does NOT MATCH the bitmap: 2 of 13 buffers (131072 bytes) differ, in 2 ranges (offset+length): 131072+65536, 458752+65536; 2 bitmap entries invalidated: the next SYNC compares them with the destination');
    t.deepEqual(unknownBuffers(bitmap), [2, 7]);
    t.deepEqual(readFileSync(where.destination), damaged, 'the destination is not written');

    const again = await run(t, [...destinationOnly, '-a', action, '-b', bitmap, '--verify-bitmap']);
    t.is(again.stdout, 'Destination matches the bitmap: 11 buffers verified (2 buffers with no known entry not checked)\n');

    writeFileSync(where.source, source);
    await run(t, bitmapSync(where, action, bitmap));
    await assertSynced(t, where, source);
    const clean = await run(t, [...destinationOnly, '-a', action, '-b', bitmap, '--verify-bitmap']);
    t.is(clean.stdout, 'Destination matches the bitmap: 13 buffers verified\n');
  });
}

test('--verify-bitmap finds a change inside one chunk of a buffer whose buffer entry is unknown', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, random(SIZE));
  const bitmap = where.dir.path('bitmap');
  await run(t, bitmapSync(where, 'PUSH', bitmap));
  // One chunk changes on the source: the next SYNC sends that chunk only and leaves buffer 4's own
  // entry unknown (bitmap-format.md §5.4); its chunk entries are all known.
  const changed = edited(source, [4 * BUFFER + 2 * CHUNK]);
  patch(where.source, 0, changed);
  await run(t, bitmapSync(where, 'PUSH', bitmap));
  await assertSynced(t, where, changed);
  patch(where.destination, 4 * BUFFER + 3 * CHUNK + 1, Buffer.from('rot'));
  const result = await run(t, ['-r', where.remote, '-a', 'PUSH', '-b', bitmap, '--verify-bitmap'], 2);
  t.regex(result.stderr, /1 of 13 buffers \(65536 bytes\) differ, in 1 range \(offset\+length\): 262144\+65536; 1 bitmap entry invalidated/);
});

test('--verify-bitmap with a bitmap made for another destination is refused with exit 1, nothing written', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, random(SIZE));
  const bitmap = where.dir.path('bitmap');
  await run(t, bitmapSync(where, 'PUSH', bitmap));
  const before = readFileSync(bitmap);
  const other = where.dir.path('other.img');
  copyFileSync(where.destination, other);
  const result = await run(t, ['-r', other, '-a', 'PUSH', '-b', bitmap, '--verify-bitmap'], 1);
  t.regex(result.stderr, /^Bitmap .* does not fit this run: it describes .* on .*, but this run's destination is .*\n$/);
  t.deepEqual(readFileSync(bitmap), before);
  await assertSynced(t, where, source);
});

const usage: Array<{ args: string[]; message: string }> = [
  { args: ['-l', 'L', '-r', 'R', '--repair'], message: '--repair can be only used with --recheck' },
  { args: ['-l', 'L', '-r', 'R', '--recheck', '--repair'], message: '--repair needs -a/--action: it says which device is the source' },
  { args: ['-r', 'R', '-b', 'B', '--verify-bitmap'], message: '--verify-bitmap needs -a/--action and -b/--bitmap (-a PUSH -r DEST -b FILE, or -a PULL -l DEST -b FILE)' },
  { args: ['-l', 'L', '-a', 'PUSH', '-b', 'B', '--verify-bitmap'], message: '--verify-bitmap needs the destination device: -r/--remote' },
  { args: ['-r', 'R', '-a', 'PUSH', '-m', 'SYNC', '-b', 'B', '--verify-bitmap'], message: '--verify-bitmap syncs nothing: it cannot be used with -m/--mode' },
  { args: ['-l', 'L', '-r', 'R', '-a', 'PUSH', '-b', 'B', '--verify-bitmap', '--recheck'], message: '--verify-bitmap and --recheck cannot be used together (--recheck reads both devices)' },
  { args: ['-l', 'L', '-r', 'R', '-a', 'PUSH', '-b', 'B', '--recheck', '--reset-bitmap'], message: '--reset-bitmap can be only used with -m SYNC' },
];
for (const { args, message } of usage) {
  test(`usage: basyn ${args.join(' ')}`, async (t) => {
    const result = await run(t, args, 1);
    t.is(result.stderr, `${message}\n`);
  });
}

test('--recheck -b without -m on a bitmap that does not exist is refused (exit 1) and creates nothing', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, source);
  const bitmap = where.dir.path('bitmap');
  const result = await run(t, [...where.args, '-a', 'PUSH', '-b', bitmap, '--recheck', '--buffer', '64'], 1);
  t.regex(result.stderr, /^Bitmap .* does not exist .*\n$/);
  t.throws(() => readFileSync(bitmap));
  await assertSynced(t, where, source);
});

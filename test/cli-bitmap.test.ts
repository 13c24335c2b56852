// -b/--bitmap as the command line sees it (creating, reusing and bitmap-only runs are in the sync suite):
// the destination is not read, --reset-bitmap, --update-bitmap, and
// every kind of damaged bitmap refused with exit 1 before anything is written. The on-disk format has
// its own tests (test/bitmap*.test.ts); here damaged files are made by editing files basyn wrote.
import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { basyn, hasStackTrace, parseStat } from './helpers/cli';
import { bitmapV1Header } from './helpers/golden';
import { patch, sha256File } from './helpers/images';
import { assertSynced, devices, edited, random, run, sha256, type Action, type Devices } from './helpers/scenario';

const BUFFER = 64 * 1024;
const SIZE = 8 * BUFFER + 333;

function syncArgs(where: Devices, action: Action, bitmap: string, extra: string[] = []): string[] {
  return [...where.args, '-a', action, '-m', 'SYNC', '--buffer', '64', '-b', bitmap, '--stat', ...extra];
}

// Created, reused, --chunk and bitmap-only runs are in the sync suite (test/helpers/sync-suite.ts).

test('with a bitmap the destination is not read: an independent change there survives, --update-bitmap repairs it', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, random(SIZE));
  const bitmap = where.dir.path('bitmap');
  await run(t, syncArgs(where, 'PUSH', bitmap));
  await assertSynced(t, where, source);

  patch(where.destination, 2 * BUFFER + 9, Buffer.from('changed behind basyn\'s back'));
  const damaged = await sha256File(where.destination);
  await run(t, syncArgs(where, 'PUSH', bitmap));
  t.is(await sha256File(where.destination), damaged, 'the bitmap says in sync, so nothing was sent');
  await run(t, syncArgs(where, 'PUSH', bitmap, ['--recheck']), 2);

  const repaired = parseStat((await run(t, syncArgs(where, 'PUSH', bitmap, ['--update-bitmap', '--recheck']))).stdout);
  t.true(repaired.tx >= BUFFER && repaired.both < 2 * BUFFER + SIZE / 10, `only the damaged buffer is sent: ${JSON.stringify(repaired)}`);
  await assertSynced(t, where, source);
  const after = parseStat((await run(t, syncArgs(where, 'PUSH', bitmap))).stdout);
  t.true(after.both < SIZE / 50, 'the rewritten bitmap is valid for the next run');
});

test('--update-bitmap with no bitmap yet creates it by comparing with the destination', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PULL', source, edited(source, [BUFFER]));
  const bitmap = where.dir.path('bitmap');
  const stat = parseStat((await run(t, syncArgs(where, 'PULL', bitmap, ['--update-bitmap']))).stdout);
  t.true(stat.rx < 2 * BUFFER + SIZE / 10, `the destination was compared, not overwritten whole: ${JSON.stringify(stat)}`);
  await assertSynced(t, where, source);
  t.true(existsSync(bitmap));
});

test('--reset-bitmap rebuilds the bitmap: everything is sent once, then nothing', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, random(SIZE));
  const bitmap = where.dir.path('bitmap');
  await run(t, syncArgs(where, 'PUSH', bitmap));
  patch(where.destination, 0, Buffer.from('independent change'));

  const reset = parseStat((await run(t, syncArgs(where, 'PUSH', bitmap, ['--reset-bitmap']))).stdout);
  t.true(reset.tx >= SIZE, `every buffer is sent: ${JSON.stringify(reset)}`);
  await assertSynced(t, where, source);
  const next = parseStat((await run(t, syncArgs(where, 'PUSH', bitmap))).stdout);
  t.true(next.both < SIZE / 50);
});

// ---------------------------------------------------------------------------------------------
// Damaged bitmaps: exit 1, a message naming what does not match, destination and bitmap unchanged.

type Damage = { name: string; pattern: RegExp; damage(bitmap: string, where: Devices): Promise<void> | void };

const DAMAGES: Damage[] = [
  { name: 'empty', pattern: /empty/, damage: (bitmap) => writeFileSync(bitmap, Buffer.alloc(0)) },
  { name: 'too short for a header', pattern: /too small|too short/, damage: (bitmap) => writeFileSync(bitmap, readFileSync(bitmap).subarray(0, 10)) },
  { name: 'bad magic', pattern: /magic/, damage: (bitmap) => patch(bitmap, 0, Buffer.from([readFileSync(bitmap)[0] ^ 0xff])) },
  {
    name: 'made for another device size',
    pattern: /device size mismatch/,
    damage: async (bitmap, where) => {
      const other = where.dir.path('other.img');
      writeFileSync(other, random(SIZE - 1));
      await bitmapFor(['-l', other], bitmap, []);
    },
  },
  {
    name: 'made with another buffer size',
    pattern: /buffer size mismatch.*--buffer 32/,
    damage: (bitmap, where) => bitmapFor(['-l', where.source], bitmap, ['--buffer', '32']),
  },
  {
    name: 'made with another hash',
    pattern: /hash function mismatch.*MD5/,
    damage: (bitmap, where) => bitmapFor(['-l', where.source], bitmap, ['--hash', 'MD5']),
  },
  { name: 'truncated', pattern: /truncated|damaged|too short/, damage: (bitmap) => truncateSync(bitmap, statSync(bitmap).size - 1) },
  { name: 'trailing garbage', pattern: /trailing|damaged/, damage: (bitmap) => writeFileSync(bitmap, Buffer.concat([readFileSync(bitmap), Buffer.from('garbage')])) },
];

/** Writes a bitmap for `device` with basyn itself (bitmap-only PUSH), with other options. */
async function bitmapFor(device: string[], bitmap: string, extra: string[]): Promise<void> {
  const result = await basyn([...device, '-a', 'PUSH', '-m', 'SYNC', '-b', bitmap, '--reset-bitmap', '--buffer', '64', ...extra]);
  if (result.code !== 0) throw new Error(`making a bitmap failed: ${result.stderr}`);
}

for (const { name, pattern, damage } of DAMAGES) {
  test(`a damaged bitmap (${name}) is refused with exit 1, nothing written`, async (t) => {
    const source = random(SIZE);
    const where = devices(t, 'PUSH', source, random(SIZE));
    const bitmap = where.dir.path('bitmap');
    await bitmapFor(['-l', where.source], bitmap, []);
    await damage(bitmap, where);
    const before = { destination: await sha256File(where.destination), bitmap: await sha256File(bitmap) };

    const result = await run(t, syncArgs(where, 'PUSH', bitmap), 1);
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    t.is(lines.length, 1, `one line: ${JSON.stringify(result.stderr)}`);
    t.regex(lines[0] ?? '', pattern);
    t.true(lines[0]?.includes(bitmap), 'the message names the bitmap file');
    t.false(hasStackTrace(result.stderr));
    t.is(result.stdout, '');
    t.is(await sha256File(where.destination), before.destination, 'destination unchanged');
    t.is(await sha256File(bitmap), before.bitmap, 'bitmap unchanged');

    // --reset-bitmap is the documented way out.
    await run(t, syncArgs(where, 'PUSH', bitmap, ['--reset-bitmap']));
    await assertSynced(t, where, source);
  });
}

// ---------------------------------------------------------------------------------------------
// A bitmap written by Python basyn (struct <QQQB header, then one digest per buffer) keeps working.

function pythonBitmap(source: Buffer, unknown: number[] = []): Buffer {
  const digests: Buffer[] = [];
  for (let offset = 0, index = 0; offset < source.length; offset += BUFFER, index++) {
    const digest = createHash('sha1').update(source.subarray(offset, offset + BUFFER)).digest();
    digests.push(unknown.includes(index) ? Buffer.alloc(digest.length) : digest);
  }
  return Buffer.concat([bitmapV1Header(source.length, BUFFER, 0), ...digests]);
}

test('a Python basyn bitmap is read: buffers it records are trusted, its all-zero entries are sent', async (t) => {
  const source = random(SIZE);
  const destination = random(SIZE);
  const where = devices(t, 'PUSH', source, destination);
  const bitmap = where.dir.path('bitmap');
  writeFileSync(bitmap, pythonBitmap(source, [2]));

  const stat = parseStat((await run(t, syncArgs(where, 'PUSH', bitmap))).stdout);
  t.true(stat.tx >= BUFFER && stat.tx < 2 * BUFFER, `only buffer 2 is sent: ${JSON.stringify(stat)}`);
  const now = readFileSync(where.destination);
  t.is(sha256(now.subarray(2 * BUFFER, 3 * BUFFER)), sha256(source.subarray(2 * BUFFER, 3 * BUFFER)), 'buffer 2 synced');
  t.is(sha256(now.subarray(0, 2 * BUFFER)), sha256(destination.subarray(0, 2 * BUFFER)), 'trusted buffers not touched');
});

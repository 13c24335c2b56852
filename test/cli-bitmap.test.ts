// -b/--bitmap as the command line sees it: the destination is not read, --reset-bitmap, --update-bitmap,
// every kind of damaged bitmap refused with exit 1 before anything is written, a bitmap of another
// destination, Python basyn's bitmaps read and upgraded, one run at a time, interrupted runs (exit 2,
// the next run converges). Creating, reusing, --chunk and bitmap-only runs are in the sync suite
// (test/helpers/sync-suite.ts); the on-disk format has its own tests (test/bitmap*.test.ts). Damaged
// files are made by editing files basyn wrote.
import test from 'ava';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, renameSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { bitmapV1 } from './helpers/bitmap-golden';
import { BASYN, basyn, hasStackTrace, parseStat } from './helpers/cli';
import { patch, sha256File } from './helpers/images';
import { assertSynced, devices, edited, random, run, type Action, type Devices } from './helpers/scenario';

const BUFFER = 64 * 1024;
const SIZE = 8 * BUFFER + 333;

function syncArgs(where: Devices, action: Action, bitmap: string, extra: string[] = []): string[] {
  return [...where.args, '-a', action, '-m', 'SYNC', '--buffer', '64', '-b', bitmap, '--stat', ...extra];
}

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

// A new bitmap against an existing destination (issue 15, target 9): its unknown entries are compared with
// the destination, so the first run sends only what differs; after it the bitmap is trusted (the next run
// does not read the destination: a change made there behind basyn's back survives it).
for (const [action, extra] of [['PUSH', []], ['PULL', ['--chunk', '16']], ['PUSH', ['--chunk', '0']]] as Array<[Action, string[]]>) {
  test(`a new bitmap against an existing destination: the first run is a SYNC (${action}${extra.length ? ` ${extra.join(' ')}` : ''})`, async (t) => {
    const source = random(SIZE);
    const where = devices(t, action, source, edited(source, [BUFFER, 3 * BUFFER + 5000]));
    const bitmap = where.dir.path('bitmap');
    const first = parseStat((await run(t, syncArgs(where, action, bitmap, extra))).stdout);
    t.true(first.both < 2 * BUFFER + SIZE / 10, `only the two differing buffers travel: ${JSON.stringify(first)}`);
    await assertSynced(t, where, source);

    const behind = Buffer.from('changed behind basyn\'s back');
    patch(where.destination, 7 * BUFFER, behind);
    const second = parseStat((await run(t, syncArgs(where, action, bitmap, extra))).stdout);
    t.true(second.both < SIZE / 10, `nothing travels: ${JSON.stringify(second)}`);
    t.true(readFileSync(where.destination).subarray(7 * BUFFER, 7 * BUFFER + behind.length).equals(behind), 'the second run trusted the bitmap');
  });
}

test('--reset-bitmap with a new bitmap sends everything without reading the destination, even an identical one', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, Buffer.from(source));
  const reset = parseStat((await run(t, syncArgs(where, 'PUSH', where.dir.path('bitmap'), ['--reset-bitmap']))).stdout);
  t.true(reset.tx >= SIZE, `every buffer is sent: ${JSON.stringify(reset)}`);
  await assertSynced(t, where, source);
  // The same without --reset-bitmap: compared, nothing sent.
  const compared = parseStat((await run(t, syncArgs(where, 'PUSH', where.dir.path('bitmap-2')))).stdout);
  t.true(compared.tx < SIZE / 10, `an identical destination gets nothing: ${JSON.stringify(compared)}`);
  await assertSynced(t, where, source);
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

// `notOurs`: without a bitmap's magic the file is not one basyn wrote (issue 9): --reset-bitmap refuses
// it too (exit 1, unchanged), and the way out is to delete it.
type Damage = { name: string; pattern: RegExp; notOurs?: boolean; damage(bitmap: string, where: Devices): Promise<void> | void };

const DAMAGES: Damage[] = [
  { name: 'empty', pattern: /empty/, notOurs: true, damage: (bitmap) => writeFileSync(bitmap, Buffer.alloc(0)) },
  { name: 'too short for a header', pattern: /too small|too short/, damage: (bitmap) => writeFileSync(bitmap, readFileSync(bitmap).subarray(0, 10)) },
  { name: 'bad magic', pattern: /magic/, notOurs: true, damage: (bitmap) => patch(bitmap, 0, Buffer.from([readFileSync(bitmap)[0] ^ 0xff])) },
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

for (const { name, pattern, notOurs, damage } of DAMAGES) {
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

    if (notOurs) {
      t.regex(lines[0] ?? '', /delete or move it yourself/);
      const reset = await run(t, syncArgs(where, 'PUSH', bitmap, ['--reset-bitmap']), 1);
      t.regex(reset.stderr, /not a file basyn wrote.*refusing to replace it/);
      t.is(await sha256File(bitmap), before.bitmap, '--reset-bitmap left the foreign file as it was');
      t.is(await sha256File(where.destination), before.destination, 'destination unchanged');
      unlinkSync(bitmap); // the documented way out
      await run(t, syncArgs(where, 'PUSH', bitmap));
    } else {
      // --reset-bitmap is the documented way out.
      await run(t, syncArgs(where, 'PUSH', bitmap, ['--reset-bitmap']));
    }
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
  return bitmapV1(source.length, BUFFER, 0, digests);
}

// Issue 9: a version 1 file names no destination, so its digests may describe another one. Before the
// fix, this run trusted them and left a destination it had never seen unsynced, with exit 0.
test('a Python basyn bitmap used with a destination is not trusted: the first run compares with the destination', async (t) => {
  const source = random(SIZE);
  const destination = edited(source, [0, 5 * BUFFER + 7, SIZE - 1]);
  const where = devices(t, 'PUSH', source, destination);
  const bitmap = where.dir.path('bitmap');
  writeFileSync(bitmap, pythonBitmap(source, [2])); // claims buffers 0 and 5 (and the last) match the source

  const first = await run(t, syncArgs(where, 'PUSH', bitmap, ['--verbose']));
  t.regex(first.stdout, /Using bitmap .* \(upgraded from version 1, compared with the destination/);
  t.regex(first.stdout, /names no destination, so it is not trusted: this run compares every buffer with the destination/);
  await assertSynced(t, where, source);
  const stat = parseStat(first.stdout);
  t.true(stat.tx < 4 * BUFFER, `only the differing ranges travel, not the whole device: ${JSON.stringify(stat)}`);
  t.is(readFileSync(bitmap).subarray(0, 8).toString('latin1'), 'BASYNBMP', 'now version 2');
  t.is(statSync(bitmap).mode & 0o777, 0o600);
  const next = parseStat((await run(t, syncArgs(where, 'PUSH', bitmap))).stdout);
  t.true(next.both < BUFFER, `the upgraded bitmap is complete and trusted now: ${JSON.stringify(next)}`);
  await assertSynced(t, where, source);
});

test('a Python basyn bitmap in bitmap-only mode: upgraded as it is, its digests kept (nothing to verify against)', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, Buffer.alloc(0));
  const bitmap = where.dir.path('bitmap');
  writeFileSync(bitmap, pythonBitmap(source, [2]));
  const result = await run(t, ['-l', where.local, '-a', 'PUSH', '-m', 'SYNC', '--buffer', String(BUFFER / 1024), '-b', bitmap, '--verbose']);
  t.regex(result.stdout, /Using bitmap .* \(upgraded from version 1\)/);
  t.regex(result.stdout, new RegExp(`Changed since last run: ${BUFFER} bytes in 1 range`), 'only the unknown buffer counts as changed');
});

// ---------------------------------------------------------------------------------------------
// Another destination, one run at a time, interrupted runs.

test('a bitmap made for another destination is refused (exit 1, nothing written); --update-bitmap takes it over', async (t) => {
  const source = random(4 * BUFFER);
  const where = devices(t, 'PUSH', source, random(4 * BUFFER));
  const bitmap = where.dir.path('bitmap');
  await run(t, syncArgs(where, 'PUSH', bitmap));
  const other = where.dir.path('other.img');
  writeFileSync(other, random(4 * BUFFER));
  const before = readFileSync(other);
  const args = ['-l', where.source, '-r', other, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64', '-b', bitmap];
  const refused = await run(t, args, 1);
  t.regex(refused.stderr, /does not fit this run: it describes .*remote\.img on this machine .*, but this run's destination is .*other\.img.*--update-bitmap/);
  t.deepEqual(readFileSync(other), before);
  await run(t, [...args, '--update-bitmap']);
  t.deepEqual(readFileSync(other), source);

  // The destination file replaced by another one at the same path: its inode changed.
  const fresh = where.dir.path('fresh');
  renameSync(where.destination, where.dir.path('old.img'));
  copyFileSync(where.dir.path('old.img'), where.destination);
  unlinkSync(where.dir.path('old.img'));
  const pair = [...where.args, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64', '-b', fresh];
  await run(t, pair);
  copyFileSync(where.source, where.dir.path('copy.img'));
  renameSync(where.dir.path('copy.img'), where.destination);
  const swapped = await run(t, pair, 1);
  t.regex(swapped.stderr, /destination file was replaced/);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts basyn and resolves once it holds the bitmap lock. */
async function startHoldingLock(args: string[], bitmap: string) {
  const child = spawn(process.execPath, [BASYN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 20_000;
  while (!existsSync(`${bitmap}.lock`) && Date.now() < deadline) await sleep(1);
  return { child, exited, stderr: () => stderr };
}

test('two runs on one bitmap: the second refuses with exit 1, naming the first one\'s pid', async (t) => {
  const source = random(48 * 1024 * 1024);
  const where = devices(t, 'PUSH', source, random(source.length));
  const bitmap = where.dir.path('bitmap');
  // 16 KiB buffers: thousands of marks and commits keep the first run busy for a while.
  const args = [...where.args, '-a', 'PUSH', '-m', 'SYNC', '-b', bitmap, '--buffer', '16'];
  const first = await startHoldingLock(args, bitmap);
  // Started at once (not through basyn()'s queue of runs), while the first run holds the lock.
  const second = await startHoldingLock(args, bitmap);
  t.is(await second.exited, 1, 'the first run had already finished: the machine was too fast for this test');
  t.regex(second.stderr(), new RegExp(`in use by another basyn run \\(pid ${first.child.pid}\\)`));
  t.is(await first.exited, 0, first.stderr());
  await assertSynced(t, where, source);
  t.false(existsSync(`${bitmap}.lock`));
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} during a bitmap SYNC: exit 2 with a clear message; the next run converges and says the last one was cut short`, async (t) => {
    // The signal must land while the run is busy: a run that ends first is retried on a larger image.
    for (let megabytes = 48; ; megabytes *= 2) {
      const source = random(megabytes * 1024 * 1024);
      const where = devices(t, 'PULL', source, random(source.length));
      const bitmap = where.dir.path('bitmap');
      const args = [...where.args, '-a', 'PULL', '-m', 'SYNC', '-b', bitmap, '--buffer', '256'];
      const running = await startHoldingLock(args, bitmap);
      // The lock comes first; the bitmap file itself is written once the destination is open.
      const deadline = Date.now() + 20_000;
      while (!existsSync(bitmap) && Date.now() < deadline) await sleep(1);
      await sleep(30);
      running.child.kill(signal);
      const code = await running.exited;
      if (code === 0 && megabytes < 192) {
        t.log(`the run on ${megabytes} MiB ended before the signal; again on a larger image`);
        continue;
      }
      t.is(code, 2, `the run ended before the signal even on ${megabytes} MiB`);
      t.regex(running.stderr(), signal === 'SIGINT' ? /Interrupted by user/ : /Interrupted by SIGTERM/);
      t.false(existsSync(`${bitmap}.lock`), 'the lock is released');
      const next = await run(t, [...args, '--verbose', '--recheck']);
      t.regex(next.stdout, /previous run did not end cleanly/);
      await assertSynced(t, where, source);
      return;
    }
  });
}

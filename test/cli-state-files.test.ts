// Issue 9, "a file basyn writes must never destroy data", through the real CLI: -b (with and without
// --reset-bitmap), --changes and the lock side file, each pointed at what is not basyn's: a regular
// file of another kind, a FIFO, a character device node, a block device (loop) node, a directory, a
// device of the run. Each is refused with exit 1 and left byte for byte (and type for type) as it was.
// Symlinked bitmap and changes paths are resolved once: the file behind the link is updated, the link
// stays a link. Device nodes and loop devices need root: those tests skip with the reason otherwise.
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hasStackTrace } from './helpers/cli';
import { sha256File } from './helpers/images';
import { assertSynced, devices, edited, random, run, type Devices } from './helpers/scenario';

const SIZE = 256 * 1024;
const BUFFER_KB = '64';
const IS_ROOT = process.getuid?.() === 0;
const FOREIGN = Buffer.from('precious notes, not a bitmap\n'.repeat(100));

const pushArgs = (where: Devices, bitmap: string, extra: string[] = []) => [...where.args, '-a', 'PUSH', '-m', 'SYNC', '--buffer', BUFFER_KB, '-b', bitmap, ...extra];
const bitmapOnlyArgs = (where: Devices, bitmap: string, extra: string[] = []) => ['-l', where.local, '-a', 'PUSH', '-m', 'SYNC', '--buffer', BUFFER_KB, '-b', bitmap, ...extra];

/** What a path is, to compare before and after: its type, and its bytes when it is a regular file. */
async function fingerprint(path: string): Promise<string> {
  const stat = lstatSync(path);
  if (stat.isSymbolicLink()) return `symlink -> ${readlinkSync(path)}`;
  if (stat.isFile()) return `file ${await sha256File(path)}`;
  return `${stat.isFIFO() ? 'fifo' : stat.isBlockDevice() ? 'block' : stat.isCharacterDevice() ? 'char' : stat.isDirectory() ? 'dir' : 'other'} ${stat.rdev} ${stat.ino}`;
}

/** Exit 1, one line naming the path and saying nothing was written, no stack trace. */
function assertRefused(t: ExecutionContext, result: { code: number | null; stderr: string; stdout: string }, path: string, pattern: RegExp): void {
  t.is(result.code, 1, result.stderr);
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  t.is(lines.length, 1, `one line: ${JSON.stringify(result.stderr)}`);
  t.regex(lines[0] ?? '', pattern);
  t.true(lines[0]?.includes(path), `the message names ${path}`);
  t.false(hasStackTrace(result.stderr));
}

function mkfifo(path: string): void {
  execFileSync('mkfifo', ['-m', '600', path]);
}

/** A loop device over `file`, detached when the test ends; its major:minor. */
function loopDevice(t: ExecutionContext, file: string): { device: string; major: number; minor: number } {
  const device = execFileSync('losetup', ['--find', '--show', file], { encoding: 'utf8' }).trim();
  t.teardown(() => { execFileSync('losetup', ['-d', device]); });
  const [major, minor] = execFileSync('stat', ['-c', '%t %T', device], { encoding: 'utf8' }).trim().split(' ').map((hex) => parseInt(hex, 16));
  return { device, major, minor };
}

/** Device nodes and loop devices need root: without it such a test is declared skipped, saying why. */
type Declare = (title: string, implementation: (t: ExecutionContext) => Promise<void>) => void;
function testFor(foreign: Foreign, title: string): { run: Declare; title: string } {
  return foreign.root && !IS_ROOT ? { run: test.skip, title: `${title} (skipped: mknod/losetup need root)` } : { run: test, title };
}

type Foreign = { name: string; root?: boolean; make(t: ExecutionContext, path: string, where: Devices): void };

/** Things that are not basyn's, made at `path`. A device node is a second name for a real device. */
const FOREIGNS: Foreign[] = [
  { name: 'a regular file of another kind', make: (_t, path) => writeFileSync(path, FOREIGN) },
  { name: 'an empty regular file', make: (_t, path) => writeFileSync(path, '') },
  { name: 'a FIFO', make: (_t, path) => mkfifo(path) },
  { name: 'a directory', make: (_t, path) => mkdirSync(path) },
  { name: 'a character device node (/dev/null)', root: true, make: (_t, path) => execFileSync('mknod', ['-m', '600', path, 'c', '1', '3']) },
  {
    name: 'a block device node (loop device)',
    root: true,
    make: (t, path, where) => {
      const backing = where.dir.path('loop-backing.img');
      writeFileSync(backing, random(SIZE));
      const { major, minor } = loopDevice(t, backing);
      execFileSync('mknod', ['-m', '600', path, 'b', String(major), String(minor)]);
    },
  },
];

for (const foreign of FOREIGNS) {
  for (const extra of [[], ['--reset-bitmap']]) {
    const declared = testFor(foreign, `-b naming ${foreign.name} ${extra.join(' ') || '(no option)'}: exit 1, left as it was, destination untouched`);
    declared.run(declared.title, async (t) => {
      const where = devices(t, 'PUSH', random(SIZE), random(SIZE));
      const bitmap = where.dir.path('bitmap');
      foreign.make(t, bitmap, where);
      const before = await fingerprint(bitmap);
      const backing = foreign.root ? await sha256File(where.dir.path('loop-backing.img')).catch(() => '') : '';
      const destination = await sha256File(where.destination);

      const result = await run(t, pushArgs(where, bitmap, extra), 1);
      assertRefused(t, result, bitmap, /[Bb]itmap .* (is a|not a file basyn wrote|empty|magic)/);
      t.is(await fingerprint(bitmap), before, 'the file is as it was');
      if (backing) t.is(await sha256File(where.dir.path('loop-backing.img')).catch(() => ''), backing, 'the device behind the node is as it was');
      t.is(await sha256File(where.destination), destination, 'the destination is untouched');
    });
  }
}

test('-b naming a device of the run (directly, or through a symlink): exit 1, nothing written', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, random(SIZE));
  const link = where.dir.path('link-to-destination');
  symlinkSync(where.destination, link);
  const before = { source: await sha256File(where.source), destination: await sha256File(where.destination) };
  for (const [bitmap, label] of [[where.local, 'the local device'], [where.remote, 'the remote device'], [link, 'the remote device']]) {
    for (const extra of [[], ['--reset-bitmap']]) {
      const result = await run(t, pushArgs(where, bitmap, extra), 1);
      assertRefused(t, result, label === 'the local device' ? where.local : where.remote, new RegExp(`is ${label}`));
    }
  }
  t.is(await sha256File(where.source), before.source, 'the source is as it was');
  t.is(await sha256File(where.destination), before.destination, 'the destination is as it was');
  t.true(lstatSync(link).isSymbolicLink());
});

test('-b through a symlink: the file behind it is created and updated, the link stays, the lock sits beside the real file', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, random(SIZE));
  mkdirSync(where.dir.path('real'));
  const real = where.dir.path('real/sda.bitmap');
  const link = where.dir.path('sda.bitmap');
  symlinkSync('real/sda.bitmap', link); // dangling until the first run creates the bitmap

  await run(t, pushArgs(where, link));
  await assertSynced(t, where, source);
  t.true(lstatSync(link).isSymbolicLink(), 'the symlink is still a symlink');
  t.is(readFileSync(real).subarray(0, 8).toString('latin1'), 'BASYNBMP', 'the bitmap is the file behind the link');
  t.is(statSync(real).mode & 0o777, 0o600);

  const changed = edited(source, [3 * 64 * 1024 + 5]);
  writeFileSync(where.source, changed);
  const verbose = await run(t, pushArgs(where, link, ['--reset-bitmap', '--verbose']));
  t.regex(verbose.stdout, new RegExp(`Using bitmap ${real.replace(/[/.]/g, '\\$&')} \\(reset`));
  await assertSynced(t, where, changed);
  t.true(lstatSync(link).isSymbolicLink(), 'a rewrite (rename) replaced the real file, not the link');
  // A lock beside the link would not stop a run that names the real file: the lock is the real file's.
  writeFileSync(`${real}.lock`, `${process.pid} ${(await import('node:os')).hostname()}\n`);
  const locked = await run(t, pushArgs(where, link), 1);
  t.regex(locked.stderr, /in use by another basyn run/);
});

test('a lock side file that is a FIFO or a symlink is refused, not read through or written', async (t) => {
  const where = devices(t, 'PUSH', random(SIZE), random(SIZE));
  const bitmap = where.dir.path('bitmap');
  mkfifo(`${bitmap}.lock`);
  const fifo = await run(t, pushArgs(where, bitmap), 1);
  t.regex(fifo.stderr, /lock file .* is not a lock basyn wrote/);
  t.true(lstatSync(`${bitmap}.lock`).isFIFO());

  const target = where.dir.path('target');
  writeFileSync(target, FOREIGN);
  const other = where.dir.path('other-bitmap');
  symlinkSync(target, `${other}.lock`);
  const link = await run(t, pushArgs(where, other), 1);
  t.regex(link.stderr, /lock file .* is not a lock basyn wrote \(a symbolic link\)/);
  t.deepEqual(readFileSync(target), FOREIGN);
  t.true(lstatSync(`${other}.lock`).isSymbolicLink());
});

// An empty file is what a run without changes writes: it is replaced (tested below).
for (const foreign of FOREIGNS.filter(({ name }) => !name.startsWith('an empty'))) {
  const declared = testFor(foreign, `--changes naming ${foreign.name}: exit 1, left as it was, bitmap untouched`);
  declared.run(declared.title, async (t) => {
    const where = devices(t, 'PUSH', random(SIZE), Buffer.alloc(0));
    const bitmap = where.dir.path('bitmap');
    await run(t, bitmapOnlyArgs(where, bitmap));
    const changes = where.dir.path('changes');
    foreign.make(t, changes, where);
    const before = { changes: await fingerprint(changes), bitmap: await sha256File(bitmap) };

    const result = await run(t, bitmapOnlyArgs(where, bitmap, ['--changes', changes]), 1);
    assertRefused(t, result, changes, /Changes file .* (is a|not a file basyn wrote)/);
    t.is(await fingerprint(changes), before.changes, 'the file is as it was');
    t.is(await sha256File(bitmap), before.bitmap, 'the bitmap is untouched (checked before the run)');
  });
}

test('--changes: an earlier changes file (or an empty one) is replaced; through a symlink the target is written', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, Buffer.alloc(0));
  const bitmap = where.dir.path('bitmap');
  await run(t, bitmapOnlyArgs(where, bitmap));
  const changes = where.dir.path('changes');
  writeFileSync(changes, '0 65536\n131072 100\n');
  writeFileSync(where.local, edited(source, [70000]));
  await run(t, bitmapOnlyArgs(where, bitmap, ['--changes', changes]));
  t.is(readFileSync(changes, 'utf8'), '65536 65536\n');
  t.is(statSync(changes).mode & 0o777, 0o600);

  const real = where.dir.path('real-changes');
  writeFileSync(real, '');
  const link = where.dir.path('changes-link');
  symlinkSync(real, link);
  writeFileSync(where.local, edited(source, [200000]));
  await run(t, bitmapOnlyArgs(where, bitmap, ['--changes', link]));
  t.true(lstatSync(link).isSymbolicLink(), 'the link stays a link');
  t.is(readFileSync(real, 'utf8'), '65536 65536\n196608 65536\n');
});

test('--changes naming the source device or the bitmap: exit 1, nothing written', async (t) => {
  const where = devices(t, 'PUSH', random(SIZE), Buffer.alloc(0));
  const bitmap = where.dir.path('bitmap');
  await run(t, bitmapOnlyArgs(where, bitmap));
  const before = { source: await sha256File(where.local), bitmap: await sha256File(bitmap) };
  const onSource = await run(t, bitmapOnlyArgs(where, bitmap, ['--changes', where.local]), 1);
  assertRefused(t, onSource, where.local, /is the local device/);
  const onBitmap = await run(t, bitmapOnlyArgs(where, bitmap, ['--changes', bitmap]), 1);
  assertRefused(t, onBitmap, bitmap, /is the bitmap/);
  t.is(await sha256File(where.local), before.source);
  t.is(await sha256File(bitmap), before.bitmap);
});

// Before the fix, a file at BITMAP.lock that did not parse as a lock was judged stale and deleted: with
// `-l disk.lock -b disk` that was the source image itself (exit 0, the image gone).
test('a file at the lock name that basyn did not write (a device of the run, notes, a large file) is refused, never removed', async (t) => {
  const where = devices(t, 'PUSH', random(SIZE), random(SIZE));
  const image = where.dir.path('disk.lock');
  writeFileSync(image, random(SIZE));
  const before = await sha256File(image);
  const onDevice = await run(t, ['-l', image, '-r', where.remote, '-a', 'PUSH', '-m', 'SYNC', '--buffer', BUFFER_KB, '-b', where.dir.path('disk')], 1);
  assertRefused(t, onDevice, image, /Bitmap lock file .* is the local device/);
  t.is(await sha256File(image), before, 'the source image is still there, unchanged');

  for (const [name, content] of [['notes', FOREIGN], ['large', random(64 * 1024)]] as const) {
    const bitmap = where.dir.path(name);
    writeFileSync(`${bitmap}.lock`, content);
    const result = await run(t, pushArgs(where, bitmap), 1);
    assertRefused(t, result, `${bitmap}.lock`, /lock file .* is not a lock basyn wrote/);
    t.deepEqual(readFileSync(`${bitmap}.lock`), content, `${name}: left as it was`);
  }
});

// `--diff` and `basyn patch` end to end, as a user runs them: make, apply, apply again ("already
// applied"), the wrong target, every kind of damage (each refused with one line, exit 2, the target
// byte for byte unchanged), a pipe from --diff - into basyn patch -, PULL, bitmap-only chains.
import test from 'ava';
import { copyFileSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { basyn, hasStackTrace } from './helpers/cli';
import { patch, sha256File, tempDir, writeRandom } from './helpers/images';
import { spawn } from 'node:child_process';
import { BASYN } from './helpers/cli';

const SIZE = 3 * 1024 * 1024;

/** old.img, and new.img = old with scattered changes: random bytes, a zero run, a block zero but for its last byte. */
function pair() {
  const dir = tempDir('basyn-patch-');
  writeRandom(dir.path('old.img'), SIZE);
  copyFileSync(dir.path('old.img'), dir.path('new.img'));
  patch(dir.path('new.img'), 100, Buffer.from('changed at 100'));
  patch(dir.path('new.img'), 1024 * 1024 + 5, Buffer.alloc(200 * 1024));
  const lastByte = Buffer.alloc(4096);
  lastByte[4095] = 1;
  patch(dir.path('new.img'), 2 * 1024 * 1024, lastByte);
  patch(dir.path('new.img'), SIZE - 3, Buffer.from('end'));
  copyFileSync(dir.path('old.img'), dir.path('target.img'));
  return dir;
}

const state = (dir: { path(name: string): string }) => ['--state-dir', dir.path('state')];

test('--diff then basyn patch: the target becomes the source; the destination was only read; twice is "already applied"', async (t) => {
  const dir = pair();
  t.teardown(dir.cleanup);
  const before = await sha256File(dir.path('old.img'));
  const made = await basyn(['-l', dir.path('new.img'), '-r', dir.path('old.img'), '-a', 'PUSH', '-m', 'SYNC', '--diff', dir.path('p.patch')]);
  t.is(made.code, 0, made.stderr);
  t.is(await sha256File(dir.path('old.img')), before, 'the destination was changed by --diff');
  t.true(readFileSync(dir.path('p.patch')).length < 600 * 1024);
  const applied = await basyn(['patch', ...state(dir), dir.path('p.patch'), dir.path('target.img')]);
  t.is(applied.code, 0, applied.stderr);
  t.regex(applied.stderr, /patch applied/);
  t.is(await sha256File(dir.path('target.img')), await sha256File(dir.path('new.img')));
  const again = await basyn(['patch', ...state(dir), dir.path('p.patch'), dir.path('target.img')]);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stderr, /already applied/);
  t.deepEqual(readdirSync(dir.path('state')).filter((name) => name.endsWith('.journal')), [], 'a journal was left behind');
});

test('a patch is refused on the wrong target: exit 2, one line, nothing written', async (t) => {
  const dir = pair();
  t.teardown(dir.cleanup);
  await basyn(['-l', dir.path('new.img'), '-r', dir.path('old.img'), '-a', 'PUSH', '-m', 'SYNC', '--diff', dir.path('p.patch')]);
  patch(dir.path('target.img'), 1024 * 1024 + 100, Buffer.from('someone else wrote here'));
  const before = await sha256File(dir.path('target.img'));
  const result = await basyn(['patch', ...state(dir), dir.path('p.patch'), dir.path('target.img')]);
  t.is(result.code, 2);
  t.regex(result.stderr, /^wrong target: range \d+\+\d+ holds neither .* nothing written\n$/);
  t.is(await sha256File(dir.path('target.img')), before);
  writeRandom(dir.path('other.img'), SIZE + 4096);
  const sized = await basyn(['patch', ...state(dir), dir.path('p.patch'), dir.path('other.img')]);
  t.is(sized.code, 2);
  t.regex(sized.stderr, /wrong target: .* is 3149824 bytes, the patch was made for a 3145728-byte target/);
});

test('every damage is refused before the first write: cuts, flipped bytes, trailing bytes, empty, unknown version', async (t) => {
  const dir = pair();
  t.teardown(dir.cleanup);
  await basyn(['-l', dir.path('new.img'), '-r', dir.path('old.img'), '-a', 'PUSH', '-m', 'SYNC', '--diff', dir.path('p.patch')]);
  const good = readFileSync(dir.path('p.patch'));
  const before = await sha256File(dir.path('target.img'));
  const damaged: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['trailing', Buffer.concat([good, Buffer.from('x')])],
    ['version', Buffer.concat([good.subarray(0, 8), Buffer.of(9, 0, 0, 0), good.subarray(12)])],
  ];
  // Cuts and flips spread over the whole file (the codec test covers every single offset).
  for (let step = 0; step < 12; step++) {
    const at = Math.floor((good.length - 1) * step / 11);
    damaged.push([`cut at ${at}`, good.subarray(0, at)]);
    const flipped = Buffer.from(good);
    flipped[at] ^= 0x40;
    damaged.push([`flip at ${at}`, flipped]);
  }
  await Promise.all(damaged.map(async ([name, bytes], index) => {
    const file = dir.path(`bad-${index}.patch`);
    writeFileSync(file, bytes);
    const result = await basyn(['patch', ...state(dir), file, dir.path('target.img')]);
    t.is(result.code, 2, `${name}: ${result.stderr}`);
    t.regex(result.stderr, /^[^\n]+\n$/, `${name}: not one line`);
    t.false(hasStackTrace(result.stderr));
  }));
  t.is(await sha256File(dir.path('target.img')), before);
});

test('--diff - piped into basyn patch -: human output on stderr, the patch on stdout, spooled and applied', async (t) => {
  const dir = pair();
  t.teardown(dir.cleanup);
  const code = await new Promise<number | null>((resolve) => {
    const make = spawn(process.execPath, [BASYN, '-l', dir.path('new.img'), '-r', dir.path('old.img'), '-a', 'PUSH', '-m', 'SYNC', '--diff', '-', '--verbose'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const apply = spawn(process.execPath, [BASYN, 'patch', ...state(dir), '-', dir.path('target.img')], { stdio: ['pipe', 'ignore', 'pipe'] });
    make.stdout.pipe(apply.stdin);
    let verbose = '';
    make.stderr.on('data', (chunk) => { verbose += chunk; });
    make.on('close', () => t.regex(verbose, /Writing the differences to stdout/));
    apply.on('close', resolve);
  });
  t.is(code, 0);
  t.is(await sha256File(dir.path('target.img')), await sha256File(dir.path('new.img')));
  t.deepEqual(readdirSync(dir.path('state')), [], 'the spool or a journal was left behind');
});

test('--diff with PULL: the local device is the target', async (t) => {
  const dir = pair();
  t.teardown(dir.cleanup);
  const made = await basyn(['-l', dir.path('old.img'), '-r', dir.path('new.img'), '-a', 'PULL', '-m', 'SYNC', '--diff', dir.path('p.patch')]);
  t.is(made.code, 0, made.stderr);
  const applied = await basyn(['patch', ...state(dir), dir.path('p.patch'), dir.path('target.img')]);
  t.is(applied.code, 0, applied.stderr);
  t.is(await sha256File(dir.path('target.img')), await sha256File(dir.path('new.img')));
});

test('--diff never replaces a file: an existing FILE is refused with exit 1 and kept', async (t) => {
  const dir = pair();
  t.teardown(dir.cleanup);
  writeFileSync(dir.path('p.patch'), 'mine');
  const result = await basyn(['-l', dir.path('new.img'), '-r', dir.path('old.img'), '-a', 'PUSH', '-m', 'SYNC', '--diff', dir.path('p.patch')]);
  t.is(result.code, 1);
  t.regex(result.stderr, /exists; basyn never replaces a file it did not create/);
  t.is(readFileSync(dir.path('p.patch'), 'utf8'), 'mine');
});

test('bitmap-only mode: chained patches (--diff-advances-bitmap) apply in order; out of order is refused', async (t) => {
  const dir = pair();
  t.teardown(dir.cleanup);
  const bitmap = dir.path('b.bitmap');
  // The offline site's target starts as a copy of old.img; a bitmap-only run over old.img then describes it.
  const first = await basyn(['-l', dir.path('old.img'), '-a', 'PUSH', '-m', 'SYNC', '-b', bitmap]);
  t.is(first.code, 0, first.stderr);
  const refused = await basyn(['-l', dir.path('new.img'), '-a', 'PUSH', '-m', 'SYNC', '-b', bitmap, '--diff', dir.path('x.patch')]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /needs --diff-advances-bitmap/);
  t.false(existsSync(dir.path('x.patch')));

  copyFileSync(dir.path('new.img'), dir.path('source.img'));
  const one = await basyn(['-l', dir.path('source.img'), '-a', 'PUSH', '-m', 'SYNC', '-b', bitmap, '--diff', dir.path('1.patch'), '--diff-advances-bitmap']);
  t.is(one.code, 0, one.stderr);
  patch(dir.path('source.img'), 1000, Buffer.from('second change, in a chunk the first patch also changed'));
  const two = await basyn(['-l', dir.path('source.img'), '-a', 'PUSH', '-m', 'SYNC', '-b', bitmap, '--diff', dir.path('2.patch'), '--diff-advances-bitmap']);
  t.is(two.code, 0, two.stderr);
  t.true(readFileSync(dir.path('2.patch')).length < 200 * 1024, 'the second patch holds more than the second change');

  const early = await basyn(['patch', ...state(dir), dir.path('2.patch'), dir.path('target.img')]);
  t.is(early.code, 2);
  t.regex(early.stderr, /wrong target/);
  for (const name of ['1.patch', '2.patch']) {
    const result = await basyn(['patch', ...state(dir), dir.path(name), dir.path('target.img')]);
    t.is(result.code, 0, `${name}: ${result.stderr}`);
  }
  t.is(await sha256File(dir.path('target.img')), await sha256File(dir.path('source.img')));
});

test('--diff with -b but without --diff-advances-bitmap leaves the bitmap untouched', async (t) => {
  const dir = pair();
  t.teardown(dir.cleanup);
  const bitmap = dir.path('b.bitmap');
  await basyn(['-l', dir.path('old.img'), '-r', dir.path('target.img'), '-a', 'PUSH', '-m', 'SYNC', '-b', bitmap]);
  const before = readFileSync(bitmap);
  const made = await basyn(['-l', dir.path('new.img'), '-r', dir.path('target.img'), '-a', 'PUSH', '-m', 'SYNC', '-b', bitmap, '--diff', dir.path('p.patch')]);
  t.is(made.code, 0, made.stderr);
  t.true(readFileSync(bitmap).equals(before));
  const applied = await basyn(['patch', ...state(dir), dir.path('p.patch'), dir.path('target.img')]);
  t.is(applied.code, 0, applied.stderr);
  t.is(await sha256File(dir.path('target.img')), await sha256File(dir.path('new.img')));
});

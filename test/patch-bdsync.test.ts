// bdsync interoperability, against patches made by the real bdsync (test/fixtures/bdsync, README there):
// `basyn patch` applies every one of them correctly (with basyn's guarantees: checked first, journalled),
// and `--diff-format bdsync` writes, for the same images, exactly bdsync's bytes.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { basyn } from './helpers/cli';
import { sha256File, tempDir } from './helpers/images';

const FIXTURES = join(__dirname, 'fixtures', 'bdsync');
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** The fixture images, made by the fixture's own script and checked against its digests. */
function images(): { dir: string; path(name: string): string; cleanup(): void } {
  const dir = tempDir('basyn-bdsync-');
  execFileSync(PYTHON, [join(FIXTURES, 'make-images.py'), dir.dir]);
  for (const line of readFileSync(join(FIXTURES, 'images.sha256'), 'utf8').trim().split('\n')) {
    const [digest, name] = line.split(/\s+/);
    const found = createHash('sha256').update(readFileSync(dir.path(name))).digest('hex');
    if (found !== digest) throw new Error(`make-images.py made a different ${name} (${found})`);
  }
  return dir;
}

const applies: Array<[patch: string, base: string, expected: string, extra: string[]]> = [
  ['new-from-base.bdsync', 'base.img', 'new.img', []],
  ['new-from-base.checksum-sha256.bdsync', 'base.img', 'new.img', []],
  ['new-from-base.bs65536-zeroblocks.bdsync', 'base.img', 'new.img', []],
  ['grown-from-base.resize.bdsync', 'base.img', 'grown.img', ['--diffsize', 'resize']],
  ['base-from-new.remdata.bdsync', 'new.img', 'base.img', []],
  ['identical.bdsync', 'base.img', 'base.img', []],
];

for (const [patch, base, expected, extra] of applies) {
  test(`basyn patch applies bdsync's ${patch} to ${base}, giving ${expected}`, async (t) => {
    const dir = images();
    t.teardown(dir.cleanup);
    const target = dir.path('target.img');
    copyFileSync(dir.path(base), target);
    const result = await basyn(['patch', '--state-dir', dir.path('state'), ...extra, join(FIXTURES, patch), target]);
    t.is(result.code, 0, result.stderr);
    t.is(await sha256File(target), await sha256File(dir.path(expected)));
  });
}

test('a bdsync patch that changes the size is refused without --diffsize resize, nothing written', async (t) => {
  const dir = images();
  t.teardown(dir.cleanup);
  const target = dir.path('target.img');
  copyFileSync(dir.path('base.img'), target);
  const result = await basyn(['patch', '--state-dir', dir.path('state'), join(FIXTURES, 'grown-from-base.resize.bdsync'), target]);
  t.is(result.code, 2);
  t.regex(result.stderr, /--diffsize resize/);
  t.is(await sha256File(target), await sha256File(dir.path('base.img')));
});

const makes: Array<[patch: string, args: string[]]> = [
  ['new-from-base.bdsync', ['-l', 'new.img', '-r', 'base.img', '-a', 'PUSH', '--chunk', '4']],
  ['new-from-base.bs65536-zeroblocks.bdsync', ['-l', 'new.img', '-r', 'base.img', '-a', 'PUSH', '--chunk', '64']],
  ['grown-from-base.resize.bdsync', ['-l', 'grown.img', '-r', 'base.img', '-a', 'PUSH', '--chunk', '4', '--diffsize', 'resize']],
  ['base-from-new.remdata.bdsync', ['-l', 'new.img', '-r', 'base.img', '-a', 'PULL', '--chunk', '4']],
  // bdsync compared base.img with itself; basyn refuses one file on both sides, so its source is a copy.
  ['identical.bdsync', ['-l', 'same.img', '-r', 'base.img', '-a', 'PUSH', '--chunk', '4']],
  ['short-vs-base.minsize.bdsync', ['-l', 'short.img', '-r', 'base.img', '-a', 'PUSH', '--chunk', '4', '--diffsize', 'minsize']],
];

for (const [patch, args] of makes) {
  test(`--diff-format bdsync writes bdsync's own ${patch}, byte for byte`, async (t) => {
    const dir = images();
    t.teardown(dir.cleanup);
    copyFileSync(dir.path('base.img'), dir.path('same.img'));
    // Run in the images' folder: the header names the destination as given on the command line.
    const result = await basyn([...args, '-m', 'SYNC', '--diff', 'out.bdsync', '--diff-format', 'bdsync'], { cwd: dir.dir });
    t.is(result.code, 0, result.stderr);
    t.true(readFileSync(dir.path('out.bdsync')).equals(readFileSync(join(FIXTURES, patch))), `${patch}: basyn's bdsync output differs from bdsync's`);
  });
}

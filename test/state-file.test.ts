// src/local/state-file.ts in process, on real files, symlinks and FIFOs: the rules every file basyn
// writes goes through (exclusive no-follow creation, 0600, replace only what the caller recognizes,
// symlinks resolved once, nothing left behind).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import {
  StateFileError, assertNotSameFile, checkReplaceable, createExclusive, readStateFile, replaceStateFile, resolveStatePath, type StateFileKind,
} from '../src/local/state-file';
import { tempDir } from './helpers/images';

const KIND: StateFileKind = { what: 'Test file', isOurs: (head) => head.subarray(0, 4).toString('latin1') === 'MINE' };

function fixture(t: import('ava').ExecutionContext) {
  const dir = tempDir('basyn-state-');
  t.teardown(() => dir.cleanup());
  return dir;
}

test('createExclusive: 0600, refuses an existing file, a symlink and a dangling symlink without touching their targets', async (t) => {
  const dir = fixture(t);
  t.true(await createExclusive(dir.path('new'), 'MINE 1'));
  t.is(statSync(dir.path('new')).mode & 0o777, 0o600);
  t.false(await createExclusive(dir.path('new'), 'MINE 2'));
  t.is(readFileSync(dir.path('new'), 'utf8'), 'MINE 1');

  writeFileSync(dir.path('target'), 'precious');
  symlinkSync(dir.path('target'), dir.path('link'));
  t.false(await createExclusive(dir.path('link'), 'MINE'));
  t.is(readFileSync(dir.path('target'), 'utf8'), 'precious');
  symlinkSync(dir.path('nowhere'), dir.path('dangling'));
  t.false(await createExclusive(dir.path('dangling'), 'MINE'));
  t.false(existsSync(dir.path('nowhere')), 'nothing was created through the dangling link');
});

test('resolveStatePath: symlink chains (relative, absolute, dangling) resolve to the real name; a loop is refused', async (t) => {
  const dir = fixture(t);
  mkdirSync(dir.path('real'));
  symlinkSync('real/file', dir.path('one'));
  symlinkSync(dir.path('one'), dir.path('two'));
  const real = `${execFileSync('realpath', [dir.dir], { encoding: 'utf8' }).trim()}/real/file`;
  t.is(await resolveStatePath(dir.path('two'), KIND), real, 'dangling chain: the file it would create');
  writeFileSync(dir.path('real/file'), 'MINE');
  t.is(await resolveStatePath(dir.path('two'), KIND), real);
  symlinkSync('loop-b', dir.path('loop-a'));
  symlinkSync('loop-a', dir.path('loop-b'));
  await t.throwsAsync(resolveStatePath(dir.path('loop-a'), KIND), { instanceOf: StateFileError, message: /too many levels/ });
  await t.throwsAsync(resolveStatePath(dir.path('missing-dir/file'), KIND), { instanceOf: StateFileError, message: /directory/ });
});

test('replaceStateFile: replaces ours or nothing, via a 0600 temp renamed into place, no temp left behind', async (t) => {
  const dir = fixture(t);
  const path = dir.path('state');
  await replaceStateFile(path, 'MINE first', KIND);
  await replaceStateFile(path, 'MINE second', KIND);
  t.is(readFileSync(path, 'utf8'), 'MINE second');
  t.is(statSync(path).mode & 0o777, 0o600);
  t.deepEqual(readdirSync(dir.dir), ['state'], 'no temp file left');
});

test('replaceStateFile and readStateFile refuse what is not ours, leaving it as it was (regular file, FIFO, directory, symlink swapped in)', async (t) => {
  const dir = fixture(t);
  writeFileSync(dir.path('foreign'), 'precious');
  await t.throwsAsync(replaceStateFile(dir.path('foreign'), 'MINE', KIND), { instanceOf: StateFileError, message: /not a file basyn wrote.*refusing/ });
  t.is(readFileSync(dir.path('foreign'), 'utf8'), 'precious');

  execFileSync('mkfifo', [dir.path('fifo')]);
  await t.throwsAsync(readStateFile(dir.path('fifo'), KIND), { instanceOf: StateFileError, message: /is a FIFO/ }); // must not block
  await t.throwsAsync(replaceStateFile(dir.path('fifo'), 'MINE', KIND), { message: /is a FIFO/ });
  t.true(lstatSync(dir.path('fifo')).isFIFO());

  mkdirSync(dir.path('dir'));
  await t.throwsAsync(replaceStateFile(dir.path('dir'), 'MINE', KIND), { message: /is a directory/ });

  // Resolved once, then swapped for a symlink (an attacker's race): the path is not followed.
  writeFileSync(dir.path('victim'), 'MINE but elsewhere');
  symlinkSync(dir.path('victim'), dir.path('swapped'));
  await t.throwsAsync(readStateFile(dir.path('swapped'), KIND), { message: /symbolic link/ });
  await t.throwsAsync(checkReplaceable(dir.path('swapped'), KIND), { message: /symbolic link/ });
  t.is(readFileSync(dir.path('victim'), 'utf8'), 'MINE but elsewhere');
  t.deepEqual(readdirSync(dir.dir).filter((name) => name.endsWith('.tmp')), [], 'no temp file left after refusals');
});

test('assertNotSameFile: same inode through another name is refused; a remote place by path', async (t) => {
  const dir = fixture(t);
  writeFileSync(dir.path('device.img'), 'data');
  symlinkSync(dir.path('device.img'), dir.path('alias'));
  await t.throwsAsync(assertNotSameFile(dir.path('alias'), KIND, [{ label: 'the local device', path: dir.path('device.img') }]), { message: /is the local device/ });
  await t.notThrowsAsync(assertNotSameFile(dir.path('other'), KIND, [{ label: 'the local device', path: dir.path('device.img') }]));
  await t.throwsAsync(assertNotSameFile('/dev/sdz9', KIND, [{ label: 'the remote device', path: '/dev/sdz9', remote: true }]), { message: /is the remote device/ });
  unlinkSync(dir.path('alias'));
});

test('replaceStateFile removes the temp files a killed writer left beside the file (gone, old, ours) and nothing else', async (t) => {
  const dir = fixture(t);
  const path = dir.path('state');
  writeFileSync(path, 'MINE old');
  // A pid that no process has (past the kernel's pid_max), and this process's own (alive).
  const gone = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1;
  const stale = dir.path(`.state.${gone}.0123abcd.tmp`);
  const fresh = dir.path(`.state.${gone}.4567abcd.tmp`);
  const alive = dir.path(`.state.${process.pid}.89abcdef.tmp`);
  const foreign = dir.path(`.state.${gone}.fedcba98.tmp`);
  const otherName = dir.path(`.other.${gone}.01234567.tmp`);
  for (const file of [stale, fresh, alive, otherName]) writeFileSync(file, 'MINE half-written');
  writeFileSync(foreign, 'not a file basyn wrote');
  const hourAgo = new Date(Date.now() - 3600_000);
  for (const file of [stale, alive, foreign, otherName]) utimesSync(file, hourAgo, hourAgo);
  await replaceStateFile(path, 'MINE new', KIND);
  t.is(readFileSync(path, 'utf8'), 'MINE new');
  t.false(existsSync(stale), 'the old temp file of a process that is gone is removed');
  t.true(existsSync(fresh), 'a recent one may still be written: kept');
  t.true(existsSync(alive), 'one whose writer lives: kept');
  t.is(readFileSync(foreign, 'utf8'), 'not a file basyn wrote', 'one that does not hold what basyn writes: kept');
  t.true(existsSync(otherName), 'the temp file of another state file: kept');
});

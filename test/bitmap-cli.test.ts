// Bitmap v2 through the command line: one run at a time, interrupted runs (exit 2, next run converges), the
// upgrade of a Python basyn bitmap, and a bitmap refused for another destination.
import test from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync, copyFileSync, unlinkSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { BASYN, basyn, parseStat } from './helpers/cli';
import { bitmapV1 } from './helpers/bitmap-golden';
import { tempDir } from './helpers/images';

type Action = 'PUSH' | 'PULL';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function setup(t: import('ava').ExecutionContext, action: Action, size: number) {
  const dir = tempDir('basyn-bitmap-cli-');
  t.teardown(() => dir.cleanup());
  const source = randomBytes(size);
  const [sourcePath, destinationPath] = action === 'PUSH' ? [dir.path('local.img'), dir.path('remote.img')] : [dir.path('remote.img'), dir.path('local.img')];
  writeFileSync(sourcePath, source);
  writeFileSync(destinationPath, randomBytes(size));
  const bitmap = dir.path('bitmap');
  const args = (...extra: string[]) => ['-l', dir.path('local.img'), '-r', dir.path('remote.img'), '-a', action, '-m', 'SYNC', '-b', bitmap, ...extra];
  const synced = () => readFileSync(destinationPath).equals(readFileSync(sourcePath));
  return { dir, source, sourcePath, destinationPath, bitmap, args, synced };
}

async function ok(t: import('ava').ExecutionContext, args: string[]) {
  const result = await basyn(args);
  t.is(result.code, 0, result.stderr);
  return result;
}

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
  const where = setup(t, 'PUSH', 48 * 1024 * 1024);
  // 16 KiB buffers: thousands of marks and commits keep the first run busy for a while.
  const first = await startHoldingLock(where.args('--buffer', '16'), where.bitmap);
  // Started at once (not through basyn()'s queue of runs), while the first run holds the lock.
  const second = await startHoldingLock(where.args('--buffer', '16'), where.bitmap);
  t.is(await second.exited, 1, 'the first run had already finished: the machine was too fast for this test');
  t.regex(second.stderr(), new RegExp(`in use by another basyn run \\(pid ${first.child.pid}\\)`));
  t.is(await first.exited, 0, first.stderr());
  t.true(where.synced());
  t.false(existsSync(`${where.bitmap}.lock`));
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} during a bitmap SYNC: exit 2 with a clear message; the next run converges and says the last one was cut short`, async (t) => {
    const where = setup(t, 'PULL', 48 * 1024 * 1024);
    const run = await startHoldingLock(where.args('--buffer', '256'), where.bitmap);
    // The lock comes first; the bitmap file itself is written once the destination is open.
    const deadline = Date.now() + 20_000;
    while (!existsSync(where.bitmap) && Date.now() < deadline) await sleep(1);
    await sleep(30);
    run.child.kill(signal);
    const code = await run.exited;
    if (code === 0) {
      t.pass('the run ended before the signal (machine too fast)');
      return;
    }
    t.is(code, 2);
    t.regex(run.stderr(), signal === 'SIGINT' ? /Interrupted by user/ : /Interrupted by SIGTERM/);
    t.false(existsSync(`${where.bitmap}.lock`), 'the lock is released');
    const next = await ok(t, where.args('--buffer', '256', '--verbose', '--recheck'));
    t.regex(next.stdout, /previous run did not end cleanly/);
    t.true(where.synced());
  });
}

test('a Python basyn bitmap is upgraded to version 2 by the first run, and keeps its digests', async (t) => {
  const where = setup(t, 'PUSH', 8 * 65536);
  copyFileSync(where.sourcePath, where.destinationPath);
  const digests = Array.from({ length: 8 }, (_, index) => createHash('sha1').update(where.source.subarray(index * 65536, (index + 1) * 65536)).digest());
  digests[6] = Buffer.alloc(20);
  writeFileSync(where.bitmap, bitmapV1(8 * 65536, 65536, 0, digests));
  const upgrade = await ok(t, where.args('--buffer', '64', '--stat', '--verbose'));
  t.regex(upgrade.stdout, /upgraded from version 1/);
  t.true(parseStat(upgrade.stdout).tx < 2 * 65536, 'only the unknown buffer was sent');
  const bytes = readFileSync(where.bitmap);
  t.is(bytes.subarray(0, 8).toString('latin1'), 'BASYNBMP');
  t.is(statSync(where.bitmap).mode & 0o777, 0o600);
  const next = parseStat((await ok(t, where.args('--buffer', '64', '--stat'))).stdout);
  t.true(next.both < 4096);
});

test('a bitmap made for another destination is refused (exit 1, nothing written); --update-bitmap takes it over', async (t) => {
  const where = setup(t, 'PUSH', 4 * 65536);
  await ok(t, where.args('--buffer', '64'));
  const other = where.dir.path('other.img');
  writeFileSync(other, randomBytes(4 * 65536));
  const before = readFileSync(other);
  const args = ['-l', where.sourcePath, '-r', other, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64', '-b', where.bitmap];
  const refused = await basyn(args);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /does not fit this run: it describes .*remote\.img on this machine .*, but this run's destination is .*other\.img.*--update-bitmap/);
  t.deepEqual(readFileSync(other), before);
  await ok(t, [...args, '--update-bitmap']);
  t.deepEqual(readFileSync(other), readFileSync(where.sourcePath));

  // The destination file replaced by another one at the same path: its inode changed.
  renameSync(where.destinationPath, where.dir.path('old.img'));
  copyFileSync(where.dir.path('old.img'), where.destinationPath);
  unlinkSync(where.dir.path('old.img'));
  const replaced = await basyn(['-l', where.sourcePath, '-r', where.destinationPath, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64', '-b', where.dir.path('fresh')]);
  t.is(replaced.code, 0);
  copyFileSync(where.sourcePath, where.dir.path('copy.img'));
  renameSync(where.dir.path('copy.img'), where.destinationPath);
  const swapped = await basyn(['-l', where.sourcePath, '-r', where.destinationPath, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64', '-b', where.dir.path('fresh')]);
  t.is(swapped.code, 1);
  t.regex(swapped.stderr, /destination file was replaced/);
});

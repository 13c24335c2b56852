// Devices that cannot be used: missing, a directory, a path through a regular file, unreadable.
// Each is exit 2 with one clear line naming the device, no stack trace, and nothing changed.
// Without -a, basyn only checks that both devices can be opened.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { BASYN, basyn, hasStackTrace, NOBODY, type RunOptions } from './helpers/cli';
import { sha256File, tempDir, writeRandom } from './helpers/images';

function setup(t: import('ava').ExecutionContext) {
  const dir = tempDir();
  t.teardown(() => dir.cleanup());
  const local = dir.path('local.img');
  const remote = dir.path('remote.img');
  writeRandom(local, 70_000);
  writeRandom(remote, 70_000);
  return { dir, local, remote };
}

async function expectDeviceError(t: import('ava').ExecutionContext, args: string[], pattern: RegExp, untouched: string[], options: RunOptions = {}): Promise<void> {
  const before = await Promise.all(untouched.map((path) => sha256File(path)));
  const result = await basyn(args, options);
  t.is(result.code, 2, `stderr: ${result.stderr}`);
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  t.is(lines.length, 1, `one line on stderr: ${JSON.stringify(result.stderr)}`);
  t.regex(lines[0] ?? '', pattern);
  t.false(hasStackTrace(result.stderr));
  t.false(/Unexpected error/.test(result.stderr), 'a known condition, not an unexpected error');
  t.deepEqual(await Promise.all(untouched.map((path) => sha256File(path))), before, 'nothing written');
}

const ACTIONS = [['PUSH', 'SYNC'], ['PULL', 'SYNC'], ['PUSH', 'COPY'], ['PULL', 'COPY']] as const;

for (const [action, mode] of ACTIONS) {
  test(`${action} ${mode}: a nonexistent source is exit 2 naming it`, async (t) => {
    const { dir, local, remote } = setup(t);
    const missing = dir.path('missing.img');
    const args = action === 'PUSH' ? ['-l', missing, '-r', remote] : ['-l', local, '-r', missing];
    await expectDeviceError(t, [...args, '-a', action, '-m', mode], new RegExp(`${missing}.*not found`), [local, remote]);
  });

  test(`${action} ${mode}: a nonexistent destination is exit 2 naming it`, async (t) => {
    const { dir, local, remote } = setup(t);
    const missing = dir.path('missing.img');
    const args = action === 'PUSH' ? ['-l', local, '-r', missing] : ['-l', missing, '-r', remote];
    await expectDeviceError(t, [...args, '-a', action, '-m', mode], new RegExp(`${missing}.*not found`), [local, remote]);
  });

  test(`${action} ${mode}: when neither device exists, the error names the source, whichever agent answers first`, async (t) => {
    const { dir, local, remote } = setup(t);
    const source = dir.path('missing-source.img');
    const destination = dir.path('missing-destination.img');
    const args = action === 'PUSH' ? ['-l', source, '-r', destination] : ['-l', destination, '-r', source];
    await expectDeviceError(t, [...args, '-a', action, '-m', mode], new RegExp(`^Device ${source} is not found$`), [local, remote]);
  });
}

for (const side of ['source', 'destination'] as const) {
  test(`PUSH SYNC: a directory as the ${side} is exit 2`, async (t) => {
    const { dir, local, remote } = setup(t);
    const directory = dir.path('a-directory');
    mkdirSync(directory);
    const args = side === 'source' ? ['-l', directory, '-r', remote] : ['-l', local, '-r', directory];
    await expectDeviceError(t, [...args, '-a', 'PUSH', '-m', 'SYNC'], new RegExp(`${directory}.*is a directory`), [local, remote]);
  });

  test(`PULL COPY: a path whose parent is a regular file as the ${side} is exit 2`, async (t) => {
    const { local, remote } = setup(t);
    const through = `${local}/inside.img`;
    const args = side === 'source' ? ['-l', local, '-r', through] : ['-l', `${remote}/inside.img`, '-r', remote];
    const named = side === 'source' ? through : `${remote}/inside.img`;
    const pattern = new RegExp(`^Device ${named.replace(/[.]/g, '\\.')} is not found \\(part of its path is not a directory\\)$`);
    await expectDeviceError(t, [...args, '-a', 'PULL', '-m', 'COPY'], pattern, [local, remote]);
  });
}

for (const side of ['source', 'destination'] as const) {
  test(`PUSH SYNC: a FIFO (named pipe) as the ${side} is refused at once instead of waiting for a writer`, async (t) => {
    const { dir, local, remote } = setup(t);
    const fifo = dir.path('a-fifo');
    execFileSync('mkfifo', [fifo]);
    const args = side === 'source' ? ['-l', fifo, '-r', remote] : ['-l', local, '-r', fifo];
    // A run that blocks in open() never ends: the helper's timeout (from spawn, not from the queue) fails it.
    await expectDeviceError(t, [...args, '-a', 'PUSH', '-m', 'SYNC'], new RegExp(`^Device ${fifo} is a FIFO`), [local, remote], { timeoutMs: 30_000 });
  });
}

/**
 * Permission bits do not stop root, so as root basyn runs as `nobody` for these tests (the temp
 * directory is opened up for it to reach the images). Where that is impossible (e.g. the checkout
 * lives under a directory `nobody` cannot enter) the tests are skipped, with the reason in the title.
 */
const AS_ROOT = process.getuid?.() === 0;
const NO_NOBODY = AS_ROOT && spawnSync(process.execPath, [BASYN, '--version'], { ...NOBODY, stdio: 'ignore' }).status !== 0
  ? 'running as root and `nobody` cannot run bin/basyn here (npm run build first?)'
  : undefined;
const permissionTest = (title: string, body: (t: import('ava').ExecutionContext, options: RunOptions) => Promise<void>): void => {
  if (NO_NOBODY) test.skip(`${title} (skipped: ${NO_NOBODY})`, () => undefined);
  else test(title, (t) => body(t, AS_ROOT ? NOBODY : {}));
};

permissionTest('an unreadable source (chmod 000) is exit 2', async (t, options) => {
  const { dir, local, remote } = setup(t);
  chmodSync(dir.dir, 0o755);
  chmodSync(local, 0o000);
  await expectDeviceError(t, ['-l', local, '-r', remote, '-a', 'PUSH', '-m', 'SYNC'], new RegExp(`${local}.*not readable: permission denied`), [], options);
});

permissionTest('a read-only destination (chmod 444) is exit 2 and is not changed', async (t, options) => {
  const { dir, local, remote } = setup(t);
  chmodSync(dir.dir, 0o755);
  chmodSync(remote, 0o444);
  await expectDeviceError(t, ['-l', local, '-r', remote, '-a', 'PUSH', '-m', 'SYNC'], new RegExp(`${remote}.*not writable: permission denied`), [remote], options);
});

test('no -a: both devices exist, exit 0 and nothing changes', async (t) => {
  const { local, remote } = setup(t);
  const before = [await sha256File(local), await sha256File(remote)];
  const mtimes = [statSync(local).mtimeMs, statSync(remote).mtimeMs];
  const result = await basyn(['-l', local, '-r', remote]);
  t.is(result.code, 0, result.stderr);
  t.is(result.stderr, '');
  t.deepEqual([await sha256File(local), await sha256File(remote)], before);
  t.deepEqual([statSync(local).mtimeMs, statSync(remote).mtimeMs], mtimes);
});

test('no -a: devices of different sizes are fine (only existence is checked)', async (t) => {
  const { local, remote } = setup(t);
  writeFileSync(remote, Buffer.alloc(10));
  const result = await basyn(['-l', local, '-r', remote]);
  t.is(result.code, 0, result.stderr);
});

for (const missingSide of ['local', 'remote'] as const) {
  test(`no -a: a missing ${missingSide} device is exit 2`, async (t) => {
    const { dir, local, remote } = setup(t);
    const missing = dir.path('missing.img');
    const args = missingSide === 'local' ? ['-l', missing, '-r', remote] : ['-l', local, '-r', missing];
    await expectDeviceError(t, args, new RegExp(`${missing}.*not found`), [local, remote]);
  });
}

test('--debug on a device error keeps exit 2 and may show where it failed', async (t) => {
  const { dir, local } = setup(t);
  const result = await basyn(['-l', local, '-r', dir.path('missing.img'), '-a', 'PUSH', '-m', 'SYNC', '--debug']);
  t.is(result.code, 2);
  t.regex(result.stderr, /missing\.img.*not found/);
});

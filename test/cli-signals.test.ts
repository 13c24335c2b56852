// Ctrl-C (SIGINT), SIGTERM or SIGHUP in the middle of a sync or a recheck over the local pipe: exit 2
// with one line saying so, promptly, and the agents go with it (the phases over SSH, from the TCP
// connect on, are in signals-phases.test.ts).
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BASYN, hasStackTrace } from './helpers/cli';
import { tempDir, writeSparse } from './helpers/images';
import { childrenOf, HAS_PROC, survivors } from './helpers/processes';

/** Large enough that the sync is still running when the signal arrives (sparse: costs no disk). */
const SIZE = 4 * 1024 * 1024 * 1024;

const PHASES = [
  { phase: 'a sync', args: ['-a', 'PUSH', '-m', 'SYNC'], marker: 'Starting to PUSH' },
  { phase: 'a recheck', args: ['--recheck'], marker: 'Starting total re-check' },
] as const;
const CASES = [
  ...(['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((signal) => ({ signal, ...PHASES[0] })),
  { signal: 'SIGTERM' as const, ...PHASES[1] },
];

for (const { signal, phase, args, marker } of CASES) {
  const message = signal === 'SIGINT' ? 'Interrupted by user' : `Interrupted by ${signal}`;
  test(`${signal} during ${phase}: exit 2, "${message}"`, async (t) => {
    const dir = tempDir();
    t.teardown(() => dir.cleanup());
    writeSparse(dir.path('local.img'), SIZE, [{ offset: 12345, data: Buffer.from('x') }]);
    writeSparse(dir.path('remote.img'), SIZE);
    const child = spawn(process.execPath, [BASYN, '-l', dir.path('local.img'), '-r', dir.path('remote.img'), ...args, '--verbose'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
    const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      child.stdout.setEncoding('utf8').on('data', (text: string) => {
        stdout += text;
        if (stdout.includes(marker)) resolve();
      });
    });
    const agents = childrenOf(child.pid as number);
    if (HAS_PROC) t.is(agents.length, 2, 'two agents (local and remote) found');
    const sent = Date.now();
    child.kill(signal);
    const code = await closed;
    t.deepEqual(await survivors(agents), [], 'no agent left running');
    t.is(code, 2, stderr);
    t.true(Date.now() - sent < 10_000, 'exits promptly');
    t.is(stderr.trim(), message);
    t.false(hasStackTrace(stderr));
  });
}

const SLOW_FSYNC_FS = join(__dirname, 'helpers', 'slow-fsync-fs.py');
/** Why the final-flush test cannot run here: it mounts a FUSE file system whose fsync is slow. */
function noSlowFsync(): string | undefined {
  if (process.getuid?.() !== 0) return 'mounting a FUSE file system needs root';
  if (!existsSync('/dev/fuse')) return '/dev/fuse is missing';
  if (spawnSync('/usr/bin/python3', ['-c', 'import fusepy'], { stdio: 'ignore' }).status !== 0) return 'python3-fusepy is missing';
  return undefined;
}
const SKIP_FLUSH = noSlowFsync();

(SKIP_FLUSH ? test.skip : test)(`SIGTERM during the destination's final flush: exit 2 at once, agents gone${SKIP_FLUSH ? ` (skipped: ${SKIP_FLUSH})` : ''}`, async (t) => {
  const dir = tempDir();
  const [backing, mount, marker] = [dir.path('backing'), dir.path('mount'), dir.path('fsync-started')];
  mkdirSync(backing);
  mkdirSync(mount);
  const size = 8 * 1024 * 1024;
  writeSparse(dir.path('local.img'), size, [{ offset: 0, data: Buffer.alloc(size, 5) }]);
  writeSparse(join(backing, 'remote.img'), size);
  // fsync takes 4 s on this file system. A process in a FUSE request that has reached the file system
  // cannot die before it is answered, even of SIGKILL: the agent is gone when the fsync returns, and basyn
  // (which waits for its agents before it releases a bitmap lock) exits then, not after the flush it interrupted.
  const fs = spawn('/usr/bin/python3', [SLOW_FSYNC_FS, backing, mount, '4', marker], { stdio: 'ignore' });
  t.teardown(() => {
    spawnSync('fusermount', ['-u', '-z', mount], { stdio: 'ignore' });
    fs.kill('SIGKILL');
    dir.cleanup();
  });
  const deadline = Date.now() + 20_000;
  while (!existsSync(join(mount, 'remote.img')) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  t.true(existsSync(join(mount, 'remote.img')), 'the FUSE file system is mounted');

  const child = spawn(process.execPath, [BASYN, '-l', dir.path('local.img'), '-r', join(mount, 'remote.img'), '-a', 'PUSH', '-m', 'SYNC'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const flushDeadline = Date.now() + 60_000;
  while (!existsSync(marker) && child.exitCode === null && Date.now() < flushDeadline) await new Promise((resolve) => setTimeout(resolve, 20));
  t.true(existsSync(marker), `the final flush started (${stderr})`);
  const agents = childrenOf(child.pid as number);
  const sent = Date.now();
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await closed;
  clearTimeout(timer);
  t.is(code, 2, stderr);
  t.is(stderr.trim(), 'Interrupted by SIGTERM');
  t.true(Date.now() - sent < 10_000, `exited ${Date.now() - sent} ms after the signal`);
  t.deepEqual(await survivors(agents), [], 'no agent left running');
});

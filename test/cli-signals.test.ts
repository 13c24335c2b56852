// Ctrl-C (SIGINT) or SIGTERM in the middle of a sync: exit 2 with one line saying so, promptly, and
// the agents go with it.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { BASYN, hasStackTrace } from './helpers/cli';
import { tempDir, writeSparse } from './helpers/images';

/** Pids of the direct children of `pid` (the agents), from /proc; empty where there is no /proc. */
function childrenOf(pid: number): number[] {
  if (!existsSync('/proc/self/stat')) return [];
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        // pid (comm) state ppid ...; comm may contain spaces, so split after the last ')'.
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Running, i.e. not gone and not a zombie waiting for init to reap it. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The agents still running after up to `ms` (a SIGKILLed process can take a moment on a busy host). */
async function survivors(pids: number[], ms = 5000): Promise<number[]> {
  const deadline = Date.now() + ms;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  return pids.filter(alive);
}

/** Large enough that the sync is still running when the signal arrives (sparse: costs no disk). */
const SIZE = 4 * 1024 * 1024 * 1024;

for (const [signal, message] of [['SIGINT', 'Interrupted by user'], ['SIGTERM', 'Interrupted by SIGTERM']] as const) {
  test(`${signal} during a sync: exit 2, "${message}"`, async (t) => {
    const dir = tempDir();
    t.teardown(() => dir.cleanup());
    writeSparse(dir.path('local.img'), SIZE, [{ offset: 12345, data: Buffer.from('x') }]);
    writeSparse(dir.path('remote.img'), SIZE);
    const child = spawn(process.execPath, [BASYN, '-l', dir.path('local.img'), '-r', dir.path('remote.img'), '-a', 'PUSH', '-m', 'SYNC', '--verbose'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
    const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      child.stdout.setEncoding('utf8').on('data', (text: string) => {
        stdout += text;
        if (stdout.includes('Starting to PUSH')) resolve();
      });
    });
    const agents = childrenOf(child.pid as number);
    if (existsSync('/proc/self/stat')) t.is(agents.length, 2, 'two agents (local and remote) found');
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

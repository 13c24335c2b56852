// Ctrl-C (SIGINT), SIGTERM or SIGHUP in the middle of a sync or a recheck over the local pipe: exit 2
// with one line saying so, promptly, and the agents go with it (the phases over SSH, from the TCP
// connect on, are in signals-phases.test.ts).
import test from 'ava';
import { spawn } from 'node:child_process';
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

// SIGINT, SIGTERM and SIGHUP at every phase of a run over SSH, and the timeouts of the phases that wait
// for the other side: exit 2 with one line, promptly, and no agent left on either side (checked in the
// process table: the local agents are basyn's children, the remote ones the test sshd's descendants).
// Serial: the remote processes are told apart only by being below this file's sshd.
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { BASYN, hasStackTrace } from './helpers/cli';
import { writeSparse } from './helpers/images';
import { alive, childrenOf, commandLine, descendantsOf, HAS_PROC, survivors } from './helpers/processes';
import { sshFixture, sshTest } from './helpers/ssh-test';

const { scratch, sshd } = sshFixture('basyn-signals-');

/** Signal to exit: generous, the machine is loaded. */
const PROMPT_MS = 15_000;
/** Past this a run counts as hung and is killed. */
const HUNG_MS = 90_000;
/** How long a killed process may take to disappear from the process table on a loaded machine. */
const GONE_MS = 20_000;

const small = scratch.path('small.img');
writeSparse(small, 1024 * 1024, [{ offset: 100, data: Buffer.from('x') }]);

/** A basyn process under observation. */
class Run {
  readonly child: ChildProcess;
  output = '';
  stderr = '';
  readonly closed: Promise<number | null>;
  private signalledAt = 0;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [BASYN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.setEncoding('utf8').on('data', (text: string) => { this.output += text; });
    this.child.stderr?.setEncoding('utf8').on('data', (text: string) => { this.output += text; this.stderr += text; });
    this.closed = new Promise((resolve) => this.child.once('close', (code) => resolve(code)));
  }

  /** Resolves once `ready()` holds (polled), or throws after `ms`. */
  async until(ready: () => boolean, what: string, ms = 90_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!ready()) {
      if (Date.now() > deadline || this.child.exitCode !== null) throw new Error(`never reached: ${what}; output: ${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** The local agents: basyn's children. */
  agents(): number[] {
    return childrenOf(this.child.pid as number);
  }

  signal(signal: NodeJS.Signals): void {
    this.signalledAt = Date.now();
    this.child.kill(signal);
  }

  /** Exit code and ms from signal (or start) to exit; a hung run is killed and reported as such. */
  async end(): Promise<{ code: number | null; ms: number }> {
    const from = this.signalledAt || Date.now();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), HUNG_MS);
    const code = await this.closed;
    clearTimeout(timer);
    return { code, ms: Date.now() - from };
  }
}

/** The remote side's processes: everything below the test sshd that is not sshd itself. */
function remoteProcesses(): number[] {
  return descendantsOf(sshd.pid).filter((pid) => !/^sshd/.test(commandLine(pid)));
}

function sshArgs(port: number, extra: string[] = []): string[] {
  return [
    '-l', small, '-r', scratch.path('never-written.img'), '-h', sshd.host, '-p', String(port), '-u', sshd.user,
    '-i', sshd.keyPath, '--known-hosts', sshd.knownHostsPath, '-o', `HostKeyAlias=[${sshd.host}]:${sshd.port}`,
    '-a', 'PUSH', '-m', 'SYNC', '--verbose', ...extra,
  ];
}

/** A TCP server that accepts connections and never says anything. */
async function silentServer(): Promise<{ port: number; close(): void }> {
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => { sockets.push(socket); socket.on('error', () => undefined); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: () => { for (const socket of sockets) socket.destroy(); server.close(); },
  };
}

/**
 * A port whose connections are never accepted: a listening socket with a full accept queue, so the
 * kernel drops further SYNs and a connect() hangs as it would towards a host that went silent.
 */
async function blackhole(): Promise<{ port: number; close(): void }> {
  const script = [
    'import socket, time',
    's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
    'port = s.getsockname()[1]; fill = []',
    'for i in range(4):',
    '    c = socket.socket(); c.setblocking(False)',
    '    try: c.connect(("127.0.0.1", port))',
    '    except BlockingIOError: pass',
    '    fill.append(c)',
    'time.sleep(0.3); print(port, flush=True); time.sleep(600)',
  ].join('\n');
  const child = spawn('/usr/bin/python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.setEncoding('utf8').once('data', (text: string) => resolve(Number(text.trim())));
    child.once('error', reject);
  });
  return { port, close: () => { child.kill('SIGKILL'); } };
}

/**
 * A fake remote `node` (for --remote-node): a shell script standing in for an agent that never gets
 * going. Like the real loader and agent it ends when its stdin does (sshd cannot always deliver a
 * signal: it refuses to where the session runs in its monitor process, as in the test sshd).
 */
function fakeNode(name: string, body: string): string {
  const path = scratch.path(name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

/** Reads its stdin to the end, then exits: the upload is swallowed, nothing is ever answered. */
const READ_TO_EOF = 'cat > /dev/null';
/**
 * ConnectTimeout for the phases after the connection: every phase before the stuck one must fit in
 * it too, and starting a shell through sshd can take many seconds on a loaded machine.
 */
const SLOW_PHASE_S = 20;

/**
 * Signals `run` (already in the phase under test), then checks what every phase promises: exit 2, the
 * one line "Interrupted by ...", an exit well inside PROMPT_MS, and none of the local agents nor the
 * `remote` processes left.
 */
async function interruptedAt(t: ExecutionContext, run: Run, signal: NodeJS.Signals, remote: number[] = []): Promise<void> {
  const agents = run.agents();
  run.signal(signal);
  const { code, ms } = await run.end();
  t.is(code, 2, run.stderr);
  t.is(run.stderr.trim(), signal === 'SIGINT' ? 'Interrupted by user' : `Interrupted by ${signal}`);
  t.false(hasStackTrace(run.stderr));
  t.true(ms < PROMPT_MS, `exited ${ms} ms after the signal`);
  t.deepEqual(await survivors([...agents, ...remote], GONE_MS), [], 'no agent left on either side');
}

/** Runs `run` to its end under a ConnectTimeout: exit 2 with the one line `expected`, well before HUNG_MS; with `remoteGone`, nothing left remotely. */
async function boundedBy(t: ExecutionContext, run: Run, expected: string, remoteGone = false): Promise<void> {
  const { code, ms } = await run.end();
  t.is(code, 2);
  t.is(run.stderr.trim(), expected);
  t.true(ms < HUNG_MS - 10_000, `ended after ${ms} ms`);
  if (remoteGone) t.deepEqual(await survivors(remoteProcesses(), GONE_MS), [], 'nothing left on the remote side');
}

const skipNoPython = existsSync('/usr/bin/python3') ? sshTest.serial : test.skip;

skipNoPython('TCP connect to a host that never accepts: SIGTERM ends the run at once', async (t) => {
  const hole = await blackhole();
  t.teardown(() => hole.close());
  const run = new Run(sshArgs(hole.port));
  await run.until(() => run.output.includes('Using SSH connection'), 'the run started');
  await new Promise((resolve) => setTimeout(resolve, 500)); // well inside connect()
  await interruptedAt(t, run, 'SIGTERM');
});

skipNoPython('TCP connect to a host that never accepts: ConnectTimeout ends it with one line naming the host', async (t) => {
  const hole = await blackhole();
  t.teardown(() => hole.close());
  await boundedBy(t, new Run(sshArgs(hole.port, ['-o', 'ConnectTimeout=2'])), `ssh: connect to 127.0.0.1 port ${hole.port}: timed out after 2 s`);
});

sshTest.serial('SSH handshake with a server that never speaks: SIGINT ends the run at once', async (t) => {
  const server = await silentServer();
  t.teardown(() => server.close());
  const run = new Run(sshArgs(server.port));
  await run.until(() => run.output.includes('Using SSH connection'), 'the run started');
  await new Promise((resolve) => setTimeout(resolve, 500));
  await interruptedAt(t, run, 'SIGINT');
});

sshTest.serial('SSH handshake with a server that never speaks: ConnectTimeout=2 ends it', async (t) => {
  const server = await silentServer();
  t.teardown(() => server.close());
  await boundedBy(t, new Run(sshArgs(server.port, ['-o', 'ConnectTimeout=2'])), `ssh: ${sshd.host}: no answer to the SSH handshake within 2 s`);
});

/** Waits until the remote side runs a process whose command line matches, and returns the remote pids. */
async function remoteRunning(run: Run, pattern: RegExp): Promise<number[]> {
  let found: number[] = [];
  await run.until(() => {
    found = remoteProcesses();
    return found.some((pid) => pattern.test(commandLine(pid)));
  }, `a remote process matching ${pattern}`);
  return found;
}

sshTest.serial('agent start (the remote side never starts the agent): SIGHUP ends the run, nothing left on either side', async (t) => {
  const node = fakeNode('stuck-node', READ_TO_EOF);
  const run = new Run(sshArgs(sshd.port, ['--remote-node', node]));
  const remote = await remoteRunning(run, /stuck-node/);
  if (HAS_PROC) t.true(remote.length > 0);
  await interruptedAt(t, run, 'SIGHUP', remote);
});

sshTest.serial('agent start: ConnectTimeout bounds it, one line naming the host', async (t) => {
  const node = fakeNode('stuck-node-2', READ_TO_EOF);
  await boundedBy(t, new Run(sshArgs(sshd.port, ['--remote-node', node, '-o', `ConnectTimeout=${SLOW_PHASE_S}`])), `the remote agent on ${sshd.host} did not start within ${SLOW_PHASE_S} s`, true);
});

sshTest.serial('waiting for HELLO (the agent said something else, then nothing): SIGTERM ends the run', async (t) => {
  const node = fakeNode('mute-node', `printf x; ${READ_TO_EOF}`);
  const run = new Run(sshArgs(sshd.port, ['--remote-node', node]));
  const remote = await remoteRunning(run, /mute-node/);
  await new Promise((resolve) => setTimeout(resolve, 500)); // its 'x' has arrived: HELLO is awaited
  await interruptedAt(t, run, 'SIGTERM', remote);
});

sshTest.serial('waiting for HELLO: ConnectTimeout bounds it, one line naming the phase and host', async (t) => {
  const node = fakeNode('mute-node-2', `printf x; ${READ_TO_EOF}`);
  await boundedBy(t, new Run(sshArgs(sshd.port, ['--remote-node', node, '-o', `ConnectTimeout=${SLOW_PHASE_S}`])), `the remote agent (ssh ${sshd.user}@${sshd.host}:${sshd.port}) sent no HELLO within ${SLOW_PHASE_S} s`, true);
});

/** Large enough that hashing and writing are still running when the signal arrives (sparse). */
const LARGE = 4 * 1024 * 1024 * 1024;

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  sshTest.serial(`${signal} while hashing and writing over ssh: exit 2, both agents gone`, async (t) => {
    const local = scratch.path(`large-${signal}.img`);
    const remotePath = scratch.path(`large-${signal}-copy.img`);
    writeSparse(local, LARGE, [{ offset: 0, data: Buffer.alloc(4 << 20, 1) }, { offset: LARGE - 4096, data: Buffer.from('end') }]);
    writeSparse(remotePath, LARGE);
    t.teardown(() => { rmSync(local, { force: true }); rmSync(remotePath, { force: true }); });
    const args = sshArgs(sshd.port);
    args.splice(0, 4, '-l', local, '-r', remotePath);
    const run = new Run(args);
    await run.until(() => run.output.includes('Starting to PUSH'), 'the sync started');
    const remote = await remoteRunning(run, /node/);
    if (HAS_PROC) t.is(run.agents().length, 1, 'the local agent was running');
    await interruptedAt(t, run, signal, remote);
  });
}

sshTest.serial('the bitmap lock is released only after the agents are gone (an --rsh that is slow to die)', async (t) => {
  const local = scratch.path('lock-local.img');
  const remotePath = scratch.path('lock-remote.img');
  writeSparse(local, LARGE, [{ offset: 0, data: Buffer.alloc(1 << 20, 2) }]);
  writeSparse(remotePath, LARGE);
  t.teardown(() => { rmSync(local, { force: true }); rmSync(remotePath, { force: true }); });
  const bitmap = scratch.path('lock.bitmap');
  const pidFile = scratch.path('rsh.pid');
  // An rsh that ignores SIGTERM and lingers 3 s after its ssh ends: basyn must wait for it (or kill it).
  const rsh = fakeNode('slow-rsh', [
    `echo $$ > ${pidFile}`,
    "trap '' TERM",
    `ssh -o BatchMode=yes -o UserKnownHostsFile=${sshd.knownHostsPath} -i ${sshd.keyPath} "$@"`,
    'sleep 3',
  ].join('\n'));
  const run = new Run([
    '-l', local, '-r', remotePath, '-h', sshd.host, '-p', String(sshd.port), '-u', sshd.user, '--rsh', rsh,
    '-a', 'PUSH', '-m', 'SYNC', '-b', bitmap, '--verbose',
  ]);
  await run.until(() => run.output.includes('Starting to PUSH'), 'the sync started');
  const rshPid = Number(readFileSync(pidFile, 'utf8'));
  run.signal('SIGTERM');
  // Watch: the lock must outlive the rsh process.
  let violation = '';
  while (run.child.exitCode === null && run.child.signalCode === null) {
    const rshAlive = alive(rshPid);
    if (!existsSync(`${bitmap}.lock`) && rshAlive) {
      violation = `the lock was gone while the rsh (pid ${rshPid}) still ran`;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const { code, ms } = await run.end();
  t.is(violation, '');
  t.is(code, 2, run.stderr);
  t.is(run.stderr.trim(), 'Interrupted by SIGTERM');
  t.true(ms < PROMPT_MS + 5000, `exited ${ms} ms after the signal`);
  t.false(existsSync(`${bitmap}.lock`), 'the lock is released at the end');
  t.deepEqual(await survivors([rshPid], GONE_MS), []);
});

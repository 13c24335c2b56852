// Fault matrix, the link and the processes (issue 9): real faults against a private OpenSSH sshd,
// reached through a TCP relay (test/helpers/faults.ts) that slows the transfer down so that a fault
// lands mid-run, and that can go silent. Each run pushes with a bitmap; after the fault: exit 2, one
// line naming the cause, no stack trace, and the same command (bitmap included) converges, proven by
// comparing both sides byte for byte. The remote agent must be gone after each fault: nothing keeps
// writing behind the next run's back.
// (test/ssh-cli.test.ts checks the prompt exit of a kill on sparse images; these add the bitmap,
// the rerun, the silent link, the controller's death and the remote node's failures.)
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { BASYN, basyn, type RunResult } from './helpers/cli';
import { assertSameBytes, failedOnce, ok, childrenOf, fakeNode, isAlive, parentOf, pidRecordingNode, type Relay, startRelay, waitFor } from './helpers/faults';
import { sha256File, writeRandom, writeSparse } from './helpers/images';
import { sshFixture, sshTest } from './helpers/ssh-test';

const MiB = 1024 * 1024;
const SIZE = 12 * MiB;
/** Client → server rate while a fault is due: a full PUSH of SIZE takes about 6 s. */
const SLOW = 2 * MiB;
/** Bytes through the relay after which the run is surely mid-transfer. */
const MID_RUN = 2 * MiB;

const { scratch, env, sshd } = sshFixture('basyn-faults-ssh-');

/** A relay of its own for each test (freezing and throttling are per relay); closed at the end. */
async function relay(t: import('ava').ExecutionContext): Promise<Relay> {
  const started = await startRelay(sshd.host, sshd.port);
  t.teardown(() => started.close());
  return started;
}

/** -h/-p through the relay; HostKeyAlias names sshd's real known_hosts entry. */
function over(through: Relay, ...extra: string[]): string[] {
  return [
    '-h', sshd.host, '-p', String(through.port), '-u', sshd.user, '-i', sshd.keyPath,
    '--known-hosts', sshd.knownHostsPath, '-o', `HostKeyAlias=[${sshd.host}]:${sshd.port}`, ...extra,
  ];
}

let count = 0;
/** A random source and a sparse (all-zero) destination of SIZE, and a bitmap path, in a fresh dir. */
function pair(): { source: string; destination: string; bitmap: string; dir: string } {
  const dir = scratch.path(`case-${count++}`);
  mkdirSync(dir);
  const source = `${dir}/source.img`;
  const destination = `${dir}/destination.img`;
  writeRandom(source, SIZE);
  writeSparse(destination, SIZE);
  return { source, destination, bitmap: `${dir}/bitmap`, dir };
}

/**
 * Starts a slow PUSH with a bitmap through `through`, applies `fault` once it is mid-transfer (given
 * the remote agent's pid), and returns the run's result, how long it took to end after the fault, and
 * the command line for the rerun.
 */
async function faultMidRun(
  t: import('ava').ExecutionContext,
  through: Relay,
  fault: (agentPid: number) => void,
  extra: string[] = [],
): Promise<{ result: RunResult; endedAfterMs: number; args: string[]; agentPid: number; source: string; destination: string }> {
  const { source, destination, bitmap, dir } = pair();
  const node = pidRecordingNode(dir, 'node');
  const args = ['-l', source, '-r', destination, ...over(through, '--remote-node', node.path, ...extra), '-a', 'PUSH', '-m', 'SYNC', '-b', bitmap];
  through.throttle(SLOW);
  const running = basyn(args, { env, timeoutMs: 300_000 });
  await waitFor(() => through.forwarded > MID_RUN, 240_000, 'the transfer to be under way');
  const agentPid = node.pids()[0];
  const faultAt = Date.now();
  fault(agentPid);
  const result = await running;
  const endedAfterMs = Date.now() - faultAt;
  await waitFor(() => !isAlive(agentPid), 60_000, `the remote agent (pid ${agentPid}) to end`);
  through.throttle(0);
  return { result, endedAfterMs, args, agentPid, source, destination };
}

async function rerunConverges(t: import('ava').ExecutionContext, args: string[], source: string, destination: string): Promise<void> {
  ok(t, await basyn(args, { env, timeoutMs: 300_000 }));
  assertSameBytes(t, source, destination);
}

sshTest('the remote agent killed mid-run: exit 2 naming it, the rerun converges', async (t) => {
  const through = await relay(t);
  const run = await faultMidRun(t, through, (pid) => process.kill(pid, 'SIGKILL'));
  failedOnce(t, run.result, /^remote agent \(ssh .*\) ended unexpectedly \(killed by SIGKILL\)$/);
  t.true(run.endedAfterMs < 60_000, `ended ${run.endedAfterMs} ms after the kill`);
  await rerunConverges(t, run.args, run.source, run.destination);
});

sshTest('sshd (the session serving the agent) killed mid-run: exit 2, the agent ends too, the rerun converges', async (t) => {
  const through = await relay(t);
  const run = await faultMidRun(t, through, (pid) => process.kill(parentOf(pid), 'SIGKILL'));
  failedOnce(t, run.result, /^remote agent \(ssh .*\) ended unexpectedly \(.*connection.*\)$/);
  t.true(run.endedAfterMs < 60_000, `ended ${run.endedAfterMs} ms after the kill`);
  await rerunConverges(t, run.args, run.source, run.destination);
});

sshTest('the link goes silent mid-run: ServerAliveInterval/CountMax end the run within their bound, the rerun converges', async (t) => {
  const through = await relay(t);
  // The agent behind a frozen link is still connected to sshd: the relay's teardown ends it. Here it
  // only needs to be found idle, so the fault itself is the freeze.
  const { source, destination, bitmap, dir } = pair();
  const node = pidRecordingNode(dir, 'node');
  const args = ['-l', source, '-r', destination, ...over(through, '--remote-node', node.path, '-o', 'ServerAliveInterval=2', '-o', 'ServerAliveCountMax=3'), '-a', 'PUSH', '-m', 'SYNC', '-b', bitmap];
  through.throttle(SLOW);
  const running = basyn(args, { env, timeoutMs: 300_000 });
  await waitFor(() => through.forwarded > MID_RUN, 240_000, 'the transfer to be under way');
  const frozenAt = Date.now();
  through.freeze();
  const result = await running;
  const endedAfterMs = Date.now() - frozenAt;
  failedOnce(t, result, /keepalive/i);
  // 2 s x 3 unanswered keepalives, plus a loaded machine's slack. (1 s x 2 also ended the healthy
  // rerun once, at a load average of 22: sshd answered too late.)
  t.true(endedAfterMs < 60_000, `ended ${endedAfterMs} ms after the link went silent`);
  through.throttle(0);
  await rerunConverges(t, args, source, destination);
});

sshTest('the controller SIGKILLed mid-run: the remote and local agents end, the destination stops changing, the rerun converges', async (t) => {
  const through = await relay(t);
  const { source, destination, bitmap, dir } = pair();
  const node = pidRecordingNode(dir, 'node');
  const args = ['-l', source, '-r', destination, ...over(through, '--remote-node', node.path), '-a', 'PUSH', '-m', 'SYNC', '-b', bitmap];
  through.throttle(SLOW);
  const controller = spawn(process.execPath, [BASYN, ...args], { env, stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => controller.once('exit', () => resolve()));
  t.teardown(() => { if (controller.exitCode === null && controller.signalCode === null) controller.kill('SIGKILL'); });
  await waitFor(() => through.forwarded > MID_RUN, 240_000, 'the transfer to be under way');
  const localAgents = childrenOf(controller.pid ?? 0);
  const remoteAgent = node.pids()[0];
  t.true(localAgents.length >= 1, 'the local agent is a child of the controller');
  controller.kill('SIGKILL');
  await exited;
  through.throttle(0); // let whatever is still buffered through: none of it may be written any more
  await waitFor(() => !isAlive(remoteAgent), 60_000, `the remote agent (pid ${remoteAgent}) to end`);
  await waitFor(() => localAgents.every((pid) => !isAlive(pid)), 60_000, `the local agents (${localAgents.join(', ')}) to end`);
  const settled = await sha256File(destination);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  t.is(await sha256File(destination), settled, 'the destination no longer changes');
  await rerunConverges(t, args, source, destination);
});

/** A remote node that fails at start; the destination must be left as it was. */
async function nodeFailsAtStart(t: import('ava').ExecutionContext, name: string, body: string, cause: RegExp): Promise<void> {
  const through = await relay(t);
  const { source, destination, bitmap, dir } = pair();
  const before = `${dir}/destination.before`;
  copyFileSync(destination, before);
  const broken = fakeNode(dir, name, body);
  const command = (node: string) => ['-l', source, '-r', destination, ...over(through, '--remote-node', node), '-a', 'PUSH', '-m', 'SYNC', '-b', bitmap];
  failedOnce(t, await basyn(command(broken), { env, timeoutMs: 300_000 }), cause);
  assertSameBytes(t, destination, before, undefined, 'the destination is untouched');
  // With a working node, the same command converges.
  await rerunConverges(t, command(process.execPath), source, destination);
}

sshTest('remote node missing: exit 2 with the hint, nothing written', async (t) => {
  await nodeFailsAtStart(t, 'missing-node', 'exec /nonexistent/node "$@"',
    /^node >= 18 not found on 127\.0\.0\.1 at .*missing-node; install it or pass --remote-node PATH$/);
});

sshTest('remote node too old (a real node made to report v16): exit 2 naming the version, nothing written', async (t) => {
  const dir = scratch.path('old-node');
  mkdirSync(dir, { recursive: true });
  const preload = `${dir}/v16.js`;
  writeFileSync(preload, 'Object.defineProperty(process, "version", { value: "v16.20.0" });\nObject.defineProperty(process.versions, "node", { value: "16.20.0" });\n');
  await nodeFailsAtStart(t, 'old-node', `exec ${process.execPath} --require ${preload} "$@"`,
    /^node >= 18 not found on 127\.0\.0\.1 at .*old-node \(node v16\.20\.0 is too old, need >= 18\); install it or pass --remote-node PATH$/);
});

sshTest('remote node crashing at start (a bad option): exit 2 with its own words, nothing written', async (t) => {
  await nodeFailsAtStart(t, 'bad-option-node', `exec ${process.execPath} --no-such-flag "$@"`,
    /^the remote agent on 127\.0\.0\.1 exited with code 9 before starting: .*bad option: --no-such-flag$/);
});

sshTest('remote node killed by a signal at start (SIGSEGV): exit 2 naming the signal, nothing written', async (t) => {
  await nodeFailsAtStart(t, 'segv-node', 'echo "Segmentation fault (core dumped)" >&2\nkill -SEGV $$',
    /^the remote agent on 127\.0\.0\.1 (was killed by SIGSEGV|exited with code 139) before starting: Segmentation fault \(core dumped\)$/);
});

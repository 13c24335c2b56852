// The CLI over SSH (bin/basyn -h ...) against a private OpenSSH sshd: --recheck, --stat, host keys,
// authentication, and the ways a remote side fails. Both files are compared by digest after every
// sync. The sync cases themselves (actions, modes, sizes, bitmaps) run over ssh and --rsh in
// test/sync-ssh.test.ts. `npm test` builds first.
import { spawn } from 'node:child_process';
import { appendFileSync, chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BASYN, basyn, type RunResult } from './helpers/cli';
import { patch, sha256File, writeRandom, writeSparse } from './helpers/images';
import { keygen, keygenFingerprint } from './helpers/sshd';
import { sshFixture, sshTest } from './helpers/ssh-test';

const { scratch, env, sshd } = sshFixture('basyn-ssh-cli-');
const MB = 1024 * 1024;

function ssh(...extra: string[]): string[] {
  return ['-h', sshd.host, '-p', String(sshd.port), '-u', sshd.user, '--known-hosts', sshd.knownHostsPath, '-i', sshd.keyPath, ...extra];
}

let count = 0;
/** Two different files: `source` random, `destination` a copy with edits, or fresh random data. */
function pair(size: number, related = true): { source: string; destination: string } {
  const id = count++;
  const source = scratch.path(`src-${id}.img`);
  const destination = scratch.path(`dst-${id}.img`);
  writeRandom(source, size);
  if (related) {
    writeFileSync(destination, readFileSync(source));
    patch(destination, 12_345, Buffer.alloc(1000, 1));
    patch(destination, size - 70_000, Buffer.alloc(50_000, 2));
  } else writeRandom(destination, size);
  return { source, destination };
}

function ok(t: import('ava').ExecutionContext, result: RunResult): void {
  t.is(result.code, 0, `exit ${result.code}: ${result.stderr}`);
}

async function same(t: import('ava').ExecutionContext, a: string, b: string): Promise<void> {
  t.is(await sha256File(a), await sha256File(b), 'both files identical');
}

function failedOnce(t: import('ava').ExecutionContext, result: RunResult, pattern: RegExp): void {
  t.is(result.code, 2, `stdout: ${result.stdout} stderr: ${result.stderr}`);
  const lines = result.stderr.trim().split('\n');
  t.regex(lines[lines.length - 1], pattern);
  t.notRegex(result.stderr, /\n\s+at /, 'no stack trace');
}

// Every action and mode, chunks, sizes, zero blocks and bitmaps over ssh and --rsh: test/sync-ssh.test.ts.

sshTest('--chunk, --stat and --recheck over ssh', async (t) => {
  const { source, destination } = pair(5 * MB);
  const result = await basyn(['-l', source, '-r', destination, ...ssh('-a', 'PUSH', '-m', 'SYNC', '--chunk', '16', '--buffer', '1024', '--stat', '--recheck', '--verbose')], { env });
  ok(t, result);
  await same(t, source, destination);
  const stat = /STAT\. Device size:(\d+)B\. Traffic: Rx:(\d+)B, Tx:(\d+)B/.exec(result.stdout);
  t.truthy(stat, result.stdout);
  t.is(Number(stat?.[1]), 5 * MB);
  t.true(Number(stat?.[3]) < MB, 'only the changed chunks travel');
  t.regex(result.stdout, /MATCH/);
});

// ssh2's native crypto binding (issue 15): the build copies it beside the bundle (scripts/ssh-binding.mjs),
// where ssh2's require finds it; without it ssh2 falls back to a slower cipher path, silently but for --debug.
const DIST = join(BASYN, '..', '..', 'dist');
/** In CI the binding must have been built (.ci/run installs the compiler); elsewhere its test is skipped without it. */
const bindingTest = existsSync(join(DIST, 'sshcrypto.node')) || process.env.CI ? sshTest : sshTest.skip;

bindingTest('--debug says ssh2\'s native crypto binding loaded, and which cipher the link uses', async (t) => {
  const { source, destination } = pair(MB);
  const result = await basyn(['-l', source, '-r', destination, ...ssh('-a', 'PUSH', '-m', 'SYNC', '--debug')], { env });
  ok(t, result);
  await same(t, source, destination);
  t.regex(result.stderr, /^debug: remote link \(ssh [^)]+\): cipher aes128-gcm@openssh\.com, ssh2's native crypto binding loaded$/m);
});

sshTest('without the binding beside the bundle ssh2 falls back: the sync still works, and --debug says so', async (t) => {
  const bare = scratch.path('bundle-without-binding');
  mkdirSync(bare);
  for (const name of ['basyn.js', 'agent.js']) copyFileSync(join(DIST, name), join(bare, name));
  const { source, destination } = pair(MB);
  const result = await new Promise<RunResult>((resolve, reject) => {
    const child = spawn(process.execPath, [join(bare, 'basyn.js'), '-l', source, '-r', destination, ...ssh('-a', 'PUSH', '-m', 'SYNC', '--debug')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
    child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  ok(t, result);
  await same(t, source, destination);
  t.regex(result.stderr, /^debug: remote link \(ssh [^)]+\): cipher aes128-gcm@openssh\.com, ssh2's native crypto binding NOT loaded \(slower fallback\)$/m);
});

// The agents' hashing threads (src/remote/hash-pool.ts): BASYN_HASH_THREADS of the controller's environment is
// exported to the remote agent by the command that starts it (sshd passes no environment on its own).
sshTest('BASYN_HASH_THREADS reaches the remote agent over ssh: both agents hash on 3 threads, and the sync is right', async (t) => {
  const { source, destination } = pair(4 * MB, false);
  const result = await basyn(['-l', source, '-r', destination, ...ssh('-a', 'PUSH', '-m', 'SYNC', '--buffer', '256', '--debug')], { env: { ...env, BASYN_HASH_THREADS: '3' } });
  ok(t, result);
  await same(t, source, destination);
  t.regex(result.stderr, /^debug: remote agent: peak RSS \d+ KiB, cpu [\d.]+ s, 3 hashing thread\(s\)$/m);
  t.regex(result.stderr, /^debug: local agent: peak RSS \d+ KiB, cpu [\d.]+ s, 3 hashing thread\(s\)$/m);
});

sshTest('remote device missing, or not a device: exit 2, one line', async (t) => {
  const local = scratch.path('local-for-missing.img');
  writeRandom(local, MB);
  const before = await sha256File(local);
  failedOnce(t, await basyn(['-l', local, '-r', scratch.path('nope.img'), ...ssh('-a', 'PUSH', '-m', 'SYNC')], { env }), /nope\.img.*(no such file|not found)/i);
  failedOnce(t, await basyn(['-l', local, '-r', scratch.dir, ...ssh('-a', 'PULL', '-m', 'SYNC')], { env }), /directory/i);
  t.is(await sha256File(local), before, 'the local device (the PULL destination) is unchanged');
});

sshTest('unknown host: exit 2 with the fingerprint; --accept-new records it', async (t) => {
  const knownHosts = scratch.path('cli_known_hosts');
  const { source, destination } = pair(MB);
  const args = ['-l', source, '-r', destination, '-h', sshd.host, '-p', String(sshd.port), '-u', sshd.user, '--known-hosts', knownHosts, '-i', sshd.keyPath, '-a', 'PUSH', '-m', 'SYNC'];
  const refused = await basyn(args, { env });
  failedOnce(t, refused, /is not known/);
  t.true(refused.stderr.includes(keygenFingerprint(`${sshd.dir}/host_ed25519.pub`)));
  const accepted = await basyn([...args, '--accept-new'], { env });
  ok(t, accepted);
  t.regex(accepted.stderr, /Permanently added/);
  await same(t, source, destination);
  t.is(readFileSync(knownHosts, 'utf8'), `${sshd.hostKeyLine}\n`);
});

sshTest('wrong key: exit 2, "Authentication failed"', async (t) => {
  const wrong = scratch.path('cli_wrong_key');
  keygen(wrong);
  const { source, destination } = pair(MB);
  const result = await basyn(['-l', source, '-r', destination, '-h', sshd.host, '-p', String(sshd.port), '-u', sshd.user, '--known-hosts', sshd.knownHostsPath, '-i', wrong, '-a', 'PUSH', '-m', 'SYNC'], { env });
  failedOnce(t, result, /^Authentication failed for .*@127\.0\.0\.1: tried /);
});

sshTest('remote node missing: exit 2 with the hint', async (t) => {
  const { source, destination } = pair(MB);
  const result = await basyn(['-l', source, '-r', destination, ...ssh('-a', 'PUSH', '-m', 'SYNC', '--remote-node', '/nonexistent')], { env });
  failedOnce(t, result, /^node >= 18 not found on 127\.0\.0\.1 at \/nonexistent; install it or pass --remote-node PATH$/);
});

sshTest('-F ssh config alias through the CLI', async (t) => {
  const config = scratch.path('cli_ssh_config');
  writeFileSync(config, `Host backup\n  HostName ${sshd.host}\n  Port ${sshd.port}\n  User ${sshd.user}\n  IdentityFile ${sshd.keyPath}\n  UserKnownHostsFile ${sshd.knownHostsPath}\n`);
  const { source, destination } = pair(MB);
  ok(t, await basyn(['-l', source, '-r', destination, '-h', 'backup', '-F', config, '-a', 'PUSH', '-m', 'SYNC'], { env }));
  await same(t, source, destination);
});

/**
 * A remote "node" that records its pid; the devices are 8 GiB sparse images, so the sync (hashing
 * zeros on both sides) is still running when the test kills the agent (or its connection).
 */
async function killMidRun(t: import('ava').ExecutionContext, name: string, victim: (agentPid: number) => number): Promise<RunResult> {
  const node = scratch.path(`node-${name}`);
  writeFileSync(node, `#!/bin/sh\necho $$ > ${node}.pid\nexec ${process.execPath} "$@"\n`);
  chmodSync(node, 0o755);
  const remote = scratch.path(`remote-${name}.img`);
  const local = scratch.path(`local-${name}.img`);
  writeSparse(remote, 8 * 1024 * MB);
  writeSparse(local, 8 * 1024 * MB);
  const running = basyn(['-l', local, '-r', remote, ...ssh('-a', 'PULL', '-m', 'SYNC', '--remote-node', node)], { env, timeoutMs: 20_000 });
  while (!existsSync(`${node}.pid`)) await new Promise((resolve) => setTimeout(resolve, 20));
  await new Promise((resolve) => setTimeout(resolve, 500)); // the agent is now hashing
  const killedAt = Date.now();
  process.kill(victim(Number(readFileSync(`${node}.pid`, 'utf8'))), 'SIGKILL');
  const result = await running;
  t.true(Date.now() - killedAt < 5000, `exited ${Date.now() - killedAt} ms after the kill`);
  return result;
}

sshTest('the remote agent killed mid-run: exit 2 promptly', async (t) => {
  const result = await killMidRun(t, 'agent', (pid) => pid);
  failedOnce(t, result, /remote agent/);
});

sshTest('the connection dropped mid-run: exit 2 promptly', async (t) => {
  const parentOf = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
  const result = await killMidRun(t, 'connection', parentOf);
  failedOnce(t, result, /remote agent|connection/);
});

sshTest('an encrypted key asks for its passphrase on a terminal (script(1) gives basyn one)', async (t) => {
  const key = scratch.path('cli_locked_key');
  appendFileSync(`${sshd.dir}/authorized_keys`, `${keygen(key, 'ed25519', 'pass phrase')}\n`);
  const { source, destination } = pair(MB);
  const args = ['-l', source, '-r', destination, '-h', sshd.host, '-p', String(sshd.port), '-u', sshd.user, '--known-hosts', sshd.knownHostsPath, '-i', key, '-a', 'PUSH', '-m', 'SYNC'];
  const command = [process.execPath, BASYN, ...args]
    .map((word) => `'${word}'`).join(' ');
  // The passphrase is typed a moment later; typed early, the terminal keeps it until basyn reads it.
  const typed = `(sleep 1; printf 'pass phrase\\r'; sleep 30) | script -qec "${command}; echo exit=\\$?" /dev/null`;
  const result = await new Promise<string>((resolve, reject) => {
    const shell = spawn('sh', ['-c', typed], { env: { ...env, SSH_AUTH_SOCK: '' }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const timer = setTimeout(() => { process.kill(-shell.pid!, 'SIGKILL'); reject(new Error(`no exit status: ${output}`)); }, 30_000);
    shell.stdout.setEncoding('utf8').on('data', (text: string) => {
      output += text;
      if (!/exit=\d+/.test(output)) return;
      clearTimeout(timer);
      process.kill(-shell.pid!, 'SIGKILL'); // the typist's `sleep 30` is not worth waiting for
      resolve(output);
    });
  });
  t.regex(result, /Enter passphrase for key '.*cli_locked_key': /);
  t.regex(result, /exit=0/);
  await same(t, source, destination);
});

// `basyn [options] SOURCE TARGET` with remote endpoints, against two private OpenSSH sshds (two
// "hosts" on 127.0.0.1): local to remote and remote to local over ssh2 and --rsh (the system ssh
// client), remote to remote (one agent on each sshd, the controller relaying), the scp-style and
// ssh:// spellings with ~ and home-relative paths expanded by the agent, the endpoint's port winning
// over -p, per-side --source-rsh/--target-rsh, and remote wrappers. Both files compared after every sync.
import test from 'ava';
import { chmodSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { basename, join } from 'node:path';
import { basyn, type RunResult } from './helpers/cli';
import { patch, sha256File, tempDir, writeRandom, writeSparse } from './helpers/images';
import { type Sshd, startSshd } from './helpers/sshd';
import { SKIP_SSH, sshTest } from './helpers/ssh-test';

const scratch = tempDir('basyn-endpoints-ssh-');
const home = scratch.path('home');
writeFileSync(scratch.path('.keep'), '');
// No ~/.ssh of the developer's, no ssh-agent: only what each test passes.
const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
delete env.SSH_AUTH_SOCK;
const MB = 1024 * 1024;
let first: Sshd;
let second: Sshd;
/** A folder in the remote user's home (the sshds' user is this one), for ~ and home-relative paths. */
let remoteHome: { dir: string; name: string };

test.before(async () => {
  if (SKIP_SSH) return;
  [first, second] = await Promise.all([startSshd(), startSshd()]);
  const dir = mkdtempSync(join(userInfo().homedir, '.basyn-endpoints-test-'));
  remoteHome = { dir, name: basename(dir) };
});
test.after.always(async () => {
  await Promise.all([first?.stop(), second?.stop()]);
  if (remoteHome) rmSync(remoteHome.dir, { recursive: true, force: true });
  scratch.cleanup();
});

/** Keys and known hosts of both sshds: every remote endpoint of a test can use either. */
function trust(): string[] {
  return ['--known-hosts', first.knownHostsPath, '--known-hosts', second.knownHostsPath, '-i', first.keyPath, '-i', second.keyPath];
}

/** The system ssh client for --rsh, trusting both sshds (-p comes from basyn). */
function systemSsh(): string {
  const knownHosts = scratch.path('rsh_known_hosts');
  writeFileSync(knownHosts, `${readFileSync(first.knownHostsPath, 'utf8')}${readFileSync(second.knownHostsPath, 'utf8')}`);
  return `ssh -F /dev/null -i ${first.keyPath} -i ${second.keyPath} -o UserKnownHostsFile=${knownHosts} -o BatchMode=yes -o LogLevel=ERROR`;
}

const url = (sshd: Sshd, path: string) => `ssh://${sshd.user}@${sshd.host}:${sshd.port}${path.startsWith('/') ? '' : '/./'}${path}`;

let count = 0;
function pair(size = 2 * MB): { source: string; target: string } {
  const id = count++;
  const source = scratch.path(`src-${id}.img`);
  const target = scratch.path(`dst-${id}.img`);
  writeRandom(source, size);
  writeFileSync(target, readFileSync(source));
  patch(target, 10_000, Buffer.alloc(3000, 1));
  patch(target, size - 5000, Buffer.alloc(4000, 2));
  return { source, target };
}

function ok(t: import('ava').ExecutionContext, result: RunResult): void {
  t.is(result.code, 0, `exit ${result.code}: ${result.stderr}`);
}

async function same(t: import('ava').ExecutionContext, a: string, b: string): Promise<void> {
  t.is(await sha256File(a), await sha256File(b), 'both files identical');
}

sshTest('local to remote: scp-style TARGET with -p/-u (ssh2), and ssh:// with its own port winning over -p', async (t) => {
  const { source, target } = pair();
  ok(t, await basyn([...trust(), '-p', String(first.port), '-u', first.user, source, `${first.host}:${target}`], { env }));
  await same(t, source, target);
  patch(target, 0, Buffer.alloc(100, 9));
  // -p names a port where nothing listens: the endpoint's own port must win.
  const result = await basyn([...trust(), '-p', '1', '--stat', source, url(first, target)], { env });
  ok(t, result);
  t.regex(result.stdout, /Traffic: Rx:\d+B, Tx:\d+B/);
  await same(t, source, target);
});

sshTest('remote to local: ssh:// SOURCE (ssh2 and --rsh), a missing local TARGET created', async (t) => {
  const { source, target } = pair();
  ok(t, await basyn([...trust(), url(first, source), target], { env }));
  await same(t, source, target);
  const created = scratch.path('pulled-new.img');
  ok(t, await basyn(['--rsh', systemSsh(), '-p', String(second.port), `${second.user}@${second.host}:${source}`, created], { env }));
  await same(t, source, created);
  t.is(statSync(created).mode & 0o777, 0o600);
});

sshTest('home-relative and ~ paths are expanded by the agent (ssh2 and --rsh), never by a shell', async (t) => {
  const { source } = pair(MB);
  const name = 'odd name $(touch pwned) `x` *.img';
  const relative = `${remoteHome.name}/${name}`;
  ok(t, await basyn([...trust(), source, url(first, relative)], { env }));
  await same(t, source, join(remoteHome.dir, name));
  patch(source, 0, Buffer.alloc(10, 5));
  ok(t, await basyn([...trust(), '-p', String(first.port), source, `${first.host}:~/${relative}`], { env }));
  await same(t, source, join(remoteHome.dir, name));
  patch(source, 0, Buffer.alloc(10, 6));
  ok(t, await basyn(['--rsh', systemSsh(), '-p', String(first.port), source, `${first.host}:~${userInfo().username}/${relative}`], { env }));
  await same(t, source, join(remoteHome.dir, name));
  patch(source, 0, Buffer.alloc(10, 7));
  ok(t, await basyn(['--rsh', systemSsh(), '-p', String(second.port), source, `${second.host}:${relative}`], { env }));
  await same(t, source, join(remoteHome.dir, name));
  t.throws(() => statSync(join(remoteHome.dir, 'pwned')), undefined, 'nothing in the path ran');
});

/** pair(), moved into the remote home: home-relative endpoints then only resolve in an SSH session's home. */
function homePair(size = 2 * MB): { source: string; target: string; relative: { source: string; target: string } } {
  const { source, target } = pair(size);
  const relative = { source: `${remoteHome.name}/${basename(source)}`, target: `${remoteHome.name}/${basename(target)}` };
  renameSync(source, join(remoteHome.dir, basename(source)));
  renameSync(target, join(remoteHome.dir, basename(target)));
  return { source: join(remoteHome.dir, basename(source)), target: join(remoteHome.dir, basename(target)), relative };
}

sshTest('remote to remote over two sshds: one agent on each, SYNC and COPY, both links counted by --stat', async (t) => {
  // Home-relative paths: an agent that ran here instead of in an SSH session would not find them.
  const { source, target, relative } = homePair();
  const result = await basyn([...trust(), '--stat', '-v', url(first, relative.source), url(second, relative.target)], { env });
  ok(t, result);
  t.regex(result.stdout, new RegExp(`Using SSH connections to hosts ${first.host} and ${second.host}`));
  await same(t, source, target);
  // The controller relayed only what differed: far less than the image crossed the links.
  const tx = Number(/Tx:(\d+)B/.exec(result.stdout)?.[1]);
  t.true(tx > 7000 && tx < MB, `sent ${tx} bytes`);
  writeRandom(target, 2 * MB);
  ok(t, await basyn([...trust(), '-m', 'COPY', url(first, relative.source), url(second, relative.target)], { env }));
  await same(t, source, target);
});

sshTest('remote to remote with per-side remote shells: --source-rsh (OpenSSH) and the TARGET over ssh2, and both over --rsh', async (t) => {
  const { source, target, relative } = homePair();
  ok(t, await basyn([...trust(), '--source-rsh', systemSsh(), '-p', String(first.port), `${first.host}:${relative.source}`, url(second, relative.target)], { env }));
  await same(t, source, target);
  patch(target, 0, Buffer.alloc(100, 3));
  ok(t, await basyn(['--rsh', systemSsh(), `ssh://${first.host}:${first.port}/./${relative.source}`, `ssh://${second.host}:${second.port}/./${relative.target}`], { env }));
  await same(t, source, target);
  patch(target, 0, Buffer.alloc(100, 4));
  const viaEnv = { ...env, BASYN_TARGET_RSH: systemSsh() };
  ok(t, await basyn([...trust(), url(first, relative.source), url(second, relative.target)], { env: viaEnv }));
  await same(t, source, target);
});

/** A remote wrapper script (the sshds run on this machine): records that it ran, then runs its arguments. */
function remoteWrapper(name: string, body = 'exec "$@"'): { path: string; log: string } {
  const path = scratch.path(`${name}.sh`);
  const log = scratch.path(`${name}.log`);
  writeFileSync(path, `#!/bin/sh\necho "ran $(basename "$1")" >> '${log}'\n${body}\n`);
  chmodSync(path, 0o755);
  return { path, log };
}

sshTest('--source-wrap / --target-wrap on remote endpoints (ssh2 and --rsh); a failing wrapper is exit 2 with its stderr', async (t) => {
  const { source, target, relative } = homePair();
  const sourceWrap = remoteWrapper('remote-source-wrap');
  const targetWrap = remoteWrapper('remote-target-wrap');
  ok(t, await basyn([...trust(), '--source-wrap', sourceWrap.path, '--target-wrap', targetWrap.path, url(first, relative.source), url(second, relative.target)], { env }));
  await same(t, source, target);
  t.is(readFileSync(sourceWrap.log, 'utf8'), 'ran node\n');
  t.is(readFileSync(targetWrap.log, 'utf8'), 'ran node\n');

  const failing = remoteWrapper('remote-failing-wrap', 'echo "snapshot of vg0/data failed: no space" >&2; exit 4');
  writeRandom(target, 2 * MB);
  const before = await sha256File(target);
  for (const transport of [trust(), ['--rsh', systemSsh()]]) {
    const result = await basyn([...transport, source, url(second, target)], { env: { ...env, BASYN_TARGET_WRAP: failing.path } });
    t.is(result.code, 2, result.stderr);
    t.regex(result.stderr, /the wrapper '.*remote-failing-wrap\.sh' on 127\.0\.0\.1 exited with code 4 before the agent started: snapshot of vg0\/data failed: no space/);
    t.notRegex(result.stderr, /\n\s+at /, 'no stack trace');
  }
  t.is(await sha256File(target), before, 'nothing written');
});

sshTest('remote TARGET: missing file created (ssh2), missing path under /dev refused, smaller is exit 2', async (t) => {
  const { source } = pair(MB);
  const created = scratch.path('remote-created.img');
  ok(t, await basyn([...trust(), source, url(first, created)], { env }));
  await same(t, source, created);
  const dev = await basyn([...trust(), source, url(first, '/dev/basyn-missing-remote')], { env });
  t.is(dev.code, 2, dev.stderr);
  t.regex(dev.stderr, /a missing path under \/dev is not created/);
  const small = scratch.path('remote-small.img');
  writeSparse(small, 4096);
  const smaller = await basyn([...trust(), source, url(second, small)], { env });
  t.is(smaller.code, 2, smaller.stderr);
  t.regex(smaller.stderr, /is smaller than SOURCE/);
  t.is(statSync(small).size, 4096);
});

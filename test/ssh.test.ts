// The ssh2 transport against a real OpenSSH sshd (test/helpers/sshd.ts): host keys, authentication,
// config, the agent upload and what happens when the remote side misbehaves.
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConnectionOptions } from '../src/local/options';
import { SshTransport, type SshTransportOptions } from '../src/local/transport/ssh';
import type { AgentExit, AgentLink } from '../src/local/transport/transport';
import { BasynError, EXIT_SYNC } from '../src/shared/errors';
import { MSG } from '../src/shared/protocol';
import { RpcClient } from '../src/shared/rpc';
import { builtAgent, keygen, keygenFingerprint } from './helpers/sshd';
import { sshFixture, sshTest } from './helpers/ssh-test';

const bundle = builtAgent();
const { scratch, home, sshd } = sshFixture('basyn-ssh-test-');
const environment = { home, localUser: 'nobody' };

function connection(overrides: Partial<ConnectionOptions> = {}): ConnectionOptions {
  return {
    host: sshd.host, port: sshd.port, user: sshd.user, identities: [sshd.keyPath], knownHosts: [sshd.knownHostsPath],
    acceptNew: false, sshOptions: {}, interactive: false, ...overrides,
  };
}

function transport(overrides: Partial<ConnectionOptions> = {}, options: SshTransportOptions = {}): SshTransport {
  // agentSocket '': a developer's ssh-agent must not make tests pass or fail.
  return new SshTransport(connection(overrides), { bundle, environment, agentSocket: '', notice: () => undefined, ...options });
}

let fileCount = 0;
function dataFile(size = 4096): string {
  const path = scratch.path(`data-${fileCount++}.img`);
  writeFileSync(path, Buffer.alloc(size, 7));
  return path;
}

/** Starts the agent, checks it answers OPEN with the file's size, returns it open. */
async function openAgent(link: AgentLink, size = 4096): Promise<RpcClient> {
  const rpc = new RpcClient(link.input, link.output, 8);
  await rpc.waitHello();
  const opened = await rpc.call({ type: MSG.OPEN, writable: false, hashId: 0, seed: 0n, path: dataFile(size) });
  if (opened.size !== size) throw new Error(`OPEN said ${opened.size}, expected ${size}`);
  return rpc;
}

async function closeAgent(link: AgentLink, rpc: RpcClient): Promise<AgentExit> {
  await rpc.call({ type: MSG.CLOSE });
  link.output.end();
  return link.exited;
}

async function refusal(t: import('ava').ExecutionContext, start: Promise<unknown>): Promise<BasynError> {
  const error = await t.throwsAsync(start);
  if (!(error instanceof BasynError)) throw new Error(`expected a BasynError, got ${String(error)}`);
  t.is(error.exitCode, EXIT_SYNC);
  t.false(error.message.includes('\n'), 'one line');
  return error;
}

sshTest('the agent is uploaded over ssh, answers, and exits 0 after CLOSE', async (t) => {
  const link = await transport().start();
  t.regex(link.description, /^ssh .*@127\.0\.0\.1:\d+$/);
  const rpc = await openAgent(link);
  const exit = await closeAgent(link, rpc);
  t.is(exit.code, 0);
});

sshTest('an unknown host key is refused with its SHA256 fingerprint and how to accept it', async (t) => {
  const empty = scratch.path('empty_known_hosts');
  writeFileSync(empty, '');
  const error = await refusal(t, transport({ knownHosts: [empty] }).start());
  t.true(error.message.includes(keygenFingerprint(join(sshd.dir, 'host_ed25519.pub'))), error.message);
  t.regex(error.message, /--accept-new/);
  t.regex(error.message, /ssh-keyscan -p \d+ 127\.0\.0\.1/);
  t.is(readFileSync(empty, 'utf8'), '', 'nothing recorded');
});

sshTest('--accept-new records an unknown host key (file created 0600), then it is known', async (t) => {
  const file = scratch.path('fresh/known_hosts');
  const notices: string[] = [];
  const first = await transport({ knownHosts: [file], acceptNew: true }, { notice: (text) => notices.push(text) }).start();
  await closeAgent(first, await openAgent(first));
  t.is(readFileSync(file, 'utf8'), `${sshd.hostKeyLine}\n`);
  t.is(statSync(file).mode & 0o777, 0o600);
  t.regex(notices.join('\n'), /Permanently added '\[127\.0\.0\.1\]:\d+'/);
  const second = await transport({ knownHosts: [file] }).start();
  await closeAgent(second, await openAgent(second));
  t.is(readFileSync(file, 'utf8'), `${sshd.hostKeyLine}\n`, 'recorded once');
});

sshTest('-o StrictHostKeyChecking=accept-new and -o UserKnownHostsFile work like --accept-new', async (t) => {
  const file = scratch.path('by-option/known_hosts');
  const link = await transport({ knownHosts: [], sshOptions: { stricthostkeychecking: 'accept-new', userknownhostsfile: file } }).start();
  await closeAgent(link, await openAgent(link));
  t.is(readFileSync(file, 'utf8'), `${sshd.hostKeyLine}\n`);
});

sshTest('a changed host key is refused loudly, even with --accept-new', async (t) => {
  const other = keygen(scratch.path('other_host_key'));
  const file = scratch.path('changed_known_hosts');
  const content = `[${sshd.host}]:${sshd.port} ${other}\n`;
  writeFileSync(file, content);
  const error = await refusal(t, transport({ knownHosts: [file], acceptNew: true }).start());
  t.regex(error.message, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
  t.true(error.message.includes(keygenFingerprint(join(sshd.dir, 'host_ed25519.pub'))));
  t.true(error.message.includes(`${file}:1`));
  t.is(readFileSync(file, 'utf8'), content, 'known_hosts untouched');
});

sshTest('a hashed known_hosts entry (ssh-keygen -H) is recognized', async (t) => {
  const file = scratch.path('hashed_known_hosts');
  copyFileSync(sshd.knownHostsPath, file);
  execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
  t.regex(readFileSync(file, 'utf8'), /^\|1\|/);
  const link = await transport({ knownHosts: [file] }).start();
  await closeAgent(link, await openAgent(link));
  t.pass();
});

sshTest('a key the server does not accept fails authentication with exit 2', async (t) => {
  const wrong = scratch.path('wrong_key');
  keygen(wrong);
  const error = await refusal(t, transport({ identities: [wrong] }).start());
  t.is(error.code, 'EAUTH');
  t.regex(error.message, new RegExp(`^Authentication failed for ${sshd.user}@127\\.0\\.0\\.1: tried ${wrong}`));
});

sshTest('an encrypted key fails clearly without a TTY, and is unlocked by the passphrase prompt with one', async (t) => {
  const locked = scratch.path('locked_key');
  const publicKey = keygen(locked, 'ed25519', 'secret words');
  appendFileSync(join(sshd.dir, 'authorized_keys'), `${publicKey}\n`);
  const batch = await refusal(t, transport({ identities: [locked] }).start());
  t.regex(batch.message, /locked_key is encrypted and there is no TTY to ask its passphrase/);
  const prompts: string[] = [];
  const link = await transport({ identities: [locked], interactive: true }, {
    askSecret: async (prompt) => { prompts.push(prompt); return 'secret words'; },
  }).start();
  await closeAgent(link, await openAgent(link));
  t.deepEqual(prompts, [`Enter passphrase for key '${locked}': `]);
});

sshTest('an ssh config alias (-F) supplies HostName, Port, User, IdentityFile and UserKnownHostsFile', async (t) => {
  const config = scratch.path('ssh_config');
  writeFileSync(config, [
    'Host other', '  Port 1', '',
    'Host backup-*', `  HostName ${sshd.host}`, `  Port ${sshd.port}`, `  User ${sshd.user}`,
    `  IdentityFile ${sshd.keyPath}`, `  UserKnownHostsFile ${sshd.knownHostsPath}`, '  ServerAliveInterval 5', '',
  ].join('\n'));
  const link = await transport({ host: 'backup-1', port: undefined, user: undefined, identities: [], knownHosts: [], sshConfig: config }).start();
  t.is(link.description, `ssh ${sshd.user}@backup-1:${sshd.port}`);
  await closeAgent(link, await openAgent(link));
});

sshTest('ProxyJump: the target is reached through the jump host (forwardOut), not directly', async (t) => {
  // The jump host is sshd behind a relay that counts its connections: a ProxyJump that was ignored
  // (a direct connection to the target) leaves the relay untouched and fails the count.
  const relay = await freezableRelay();
  t.teardown(() => relay.close());
  const config = scratch.path('ssh_config_jump');
  writeFileSync(config, [
    'Host jump', `  HostName ${sshd.host}`, `  Port ${relay.port}`, `  HostKeyAlias [${sshd.host}]:${sshd.port}`, '',
    'Host inner', `  HostName ${sshd.host}`, `  Port ${sshd.port}`, `  ProxyJump ${sshd.user}@jump`, '',
  ].join('\n'));
  const link = await transport({ host: 'inner', port: undefined, sshConfig: config }).start();
  await closeAgent(link, await openAgent(link));
  t.is(relay.connections(), 1, 'one connection to the jump host, and the target reached through it');
});

sshTest('a missing remote node gives the one-line hint', async (t) => {
  const error = await refusal(t, transport({ remoteNode: '/nonexistent' }).start());
  t.is(error.message, 'node >= 18 not found on 127.0.0.1 at /nonexistent; install it or pass --remote-node PATH');
});

sshTest('remote node too old (the loader exits 90) gives the same hint with the version', async (t) => {
  const fakeNode = scratch.path('old-node');
  writeFileSync(fakeNode, '#!/bin/sh\necho "basyn: node v16.20.0 is too old, need >= 18" >&2\nexit 90\n');
  chmodSync(fakeNode, 0o755);
  const error = await refusal(t, transport({ remoteNode: fakeNode }).start());
  t.regex(error.message, /^node >= 18 not found on 127\.0\.0\.1 at .*old-node \(node v16\.20\.0 is too old, need >= 18\); install it or pass --remote-node PATH$/);
});

/** A remote "node" that records its pid, so a test can kill exactly that agent. */
function pidRecordingNode(name: string): { path: string; pid(): number } {
  const path = scratch.path(name);
  const pidFile = `${path}.pid`;
  writeFileSync(path, `#!/bin/sh\necho $$ > ${pidFile}\nexec ${process.execPath} "$@"\n`);
  chmodSync(path, 0o755);
  return { path, pid: () => Number(readFileSync(pidFile, 'utf8')) };
}

async function rejectsWithin(t: import('ava').ExecutionContext, promise: Promise<unknown>, ms: number): Promise<Error> {
  const started = Date.now();
  const error = await t.throwsAsync(promise);
  t.true(Date.now() - started < ms, `took ${Date.now() - started} ms`);
  return error as Error;
}

sshTest('the remote agent killed mid-run: pending calls reject promptly', async (t) => {
  const node = pidRecordingNode('node-killed');
  const link = await transport({ remoteNode: node.path }).start();
  const rpc = await openAgent(link);
  process.kill(node.pid(), 'SIGKILL');
  const error = await rejectsWithin(t, rpc.call({ type: MSG.HASH, offset: 0, length: 4096, chunkSize: 0 }), 5000);
  t.regex(error.message, /agent closed the connection/);
  const exit = await link.exited;
  t.is(exit.signal, 'SIGKILL');
});

sshTest('the connection dropped mid-run (sshd session killed): pending calls reject promptly', async (t) => {
  const node = pidRecordingNode('node-dropped');
  const link = await transport({ remoteNode: node.path }).start();
  const rpc = await openAgent(link);
  const parent = Number(readFileSync(`/proc/${node.pid()}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
  t.regex(readFileSync(`/proc/${parent}/cmdline`, 'utf8'), /^sshd/);
  process.kill(parent, 'SIGKILL');
  await rejectsWithin(t, rpc.call({ type: MSG.HASH, offset: 0, length: 4096, chunkSize: 0 }), 5000);
  const exit: AgentExit = await link.exited;
  t.is(exit.code, null);
  t.regex(exit.reason ?? '', /connection/);
});

sshTest('ProxyJump errors name the jump host: the target port is tried from there, not from here', async (t) => {
  const config = scratch.path('ssh_config_jump_bad');
  writeFileSync(config, ['Host inner-bad', `  HostName ${sshd.host}`, '  Port 1', `  ProxyJump ${sshd.user}@${sshd.host}:${sshd.port}`, ''].join('\n'));
  const error = await refusal(t, transport({ host: 'inner-bad', port: undefined, sshConfig: config }).start());
  t.regex(error.message, /^ssh: jump host 127\.0\.0\.1 cannot reach 127\.0\.0\.1 port 1: /);
});

sshTest('nothing listening: a one-line connection error', async (t) => {
  const error = await refusal(t, transport({ port: 1 }).start());
  t.is(error.message, 'ssh: cannot connect to 127.0.0.1 port 1: connection refused');
});

/** A TCP relay to sshd that can go silent (a cable pulled: no FIN, no RST, nothing). */
async function freezableRelay(): Promise<{ port: number; freeze(): void; close(): void; connections(): number }> {
  const { createServer, connect } = await import('node:net');
  let frozen = false;
  let connections = 0;
  const sockets: import('node:net').Socket[] = [];
  const server = createServer((client) => {
    connections += 1;
    const upstream = connect({ host: sshd.host, port: sshd.port });
    sockets.push(client, upstream);
    client.on('data', (data) => { if (!frozen) upstream.write(data); });
    upstream.on('data', (data) => { if (!frozen) client.write(data); });
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    freeze: () => { frozen = true; },
    connections: () => connections,
    close: () => { for (const socket of sockets) socket.destroy(); server.close(); },
  };
}

sshTest('a silent network (no FIN, no RST): keepalives end the link, pending calls reject', async (t) => {
  const relay = await freezableRelay();
  t.teardown(() => relay.close());
  const link = await transport({
    port: relay.port,
    // The relay's port is not what known_hosts has: HostKeyAlias names the real entry.
    sshOptions: { hostkeyalias: `[${sshd.host}]:${sshd.port}`, serveraliveinterval: '1', serveralivecountmax: '2' },
  }).start();
  const rpc = await openAgent(link);
  relay.freeze();
  const error = await rejectsWithin(t, rpc.call({ type: MSG.HASH, offset: 0, length: 4096, chunkSize: 0 }), 8000);
  t.regex(error.message, /agent closed the connection/);
  const exit: AgentExit = await link.exited;
  t.regex(exit.reason ?? '', /keepalive/);
});

sshTest('ssh-agent (SSH_AUTH_SOCK) is tried first, before any key file', async (t) => {
  const socket = join(scratch.path('agent-dir'), 'agent.sock');
  mkdirSync(join(scratch.path('agent-dir')));
  const agent = execFileSync('ssh-agent', ['-a', socket, '-s'], { encoding: 'utf8' });
  const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(agent)?.[1]);
  t.teardown(() => { try { process.kill(pid); } catch { /* gone */ } });
  execFileSync('ssh-add', [sshd.keyPath], { env: { ...process.env, SSH_AUTH_SOCK: socket }, stdio: 'ignore' });
  // Only the agent has the right key: the key file offered is a wrong one.
  const wrong = scratch.path('agent_test_wrong_key');
  keygen(wrong);
  const link = await transport({ identities: [wrong] }, { agentSocket: socket }).start();
  await closeAgent(link, await openAgent(link));
  // IdentitiesOnly: the agent is not asked, so the wrong file alone fails.
  const error = await refusal(t, transport({ identities: [wrong], sshOptions: { identitiesonly: 'yes' } }, { agentSocket: socket }).start());
  t.regex(error.message, new RegExp(`tried ${wrong}$`));
});

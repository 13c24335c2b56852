// --rsh: the same agent and protocol through an external command, here the system's OpenSSH client,
// and a login shell that prints noise on stderr (both transports) against a second private sshd.
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { ConnectionOptions } from '../src/local/options';
import { rshArgv, RshTransport, splitCommand } from '../src/local/transport/rsh';
import { SshTransport } from '../src/local/transport/ssh';
import type { AgentLink } from '../src/local/transport/transport';
import { BasynError, EXIT_SYNC, UsageError } from '../src/shared/errors';
import { MSG } from '../src/shared/protocol';
import { RpcClient } from '../src/shared/rpc';
import { tempDir } from './helpers/images';
import { builtAgent, keygen, type Sshd, startSshd } from './helpers/sshd';
import { SKIP_SSH, sshTest } from './helpers/ssh-test';

delete process.env.SSH_AUTH_SOCK;
const bundle = builtAgent();
const scratch = tempDir('basyn-rsh-test-');
const home = scratch.path('home');
mkdirSync(home);
const NOISE = 'Welcome to the noisy test host (motd)';
let sshd: Sshd;
let noisy: Sshd;

test.before(async () => { if (!SKIP_SSH) [sshd, noisy] = await Promise.all([startSshd(), startSshd({ noise: NOISE })]); });
test.after.always(async () => { await Promise.all([sshd?.stop(), noisy?.stop()]); scratch.cleanup(); });

function connection(server: Sshd, overrides: Partial<ConnectionOptions> = {}): ConnectionOptions {
  return {
    host: server.host, port: server.port, user: server.user, identities: [server.keyPath], knownHosts: [server.knownHostsPath],
    acceptNew: false, sshOptions: {}, interactive: false, ...overrides,
  };
}

function systemSsh(server: Sshd, key = server.keyPath): string {
  return `ssh -i ${key} -o UserKnownHostsFile=${server.knownHostsPath} -o "BatchMode yes" -o 'LogLevel=ERROR'`;
}

/** Reads all of a stream's text until it ends. */
function collect(link: AgentLink): Promise<string> {
  let text = '';
  link.stderr.setEncoding('utf8').on('data', (data: string) => { text += data; });
  return new Promise((resolve) => link.stderr.on('end', () => resolve(text)));
}

async function roundTrip(link: AgentLink): Promise<void> {
  const path = scratch.path(`data-${Math.random().toString(36).slice(2)}.img`);
  writeFileSync(path, Buffer.alloc(10_000, 3));
  const rpc = new RpcClient(link.input, link.output, 8);
  await rpc.waitHello();
  const opened = await rpc.call({ type: MSG.OPEN, writable: false, hashId: 0, seed: 0n, path });
  if (opened.size !== 10_000) throw new Error(`size ${opened.size}`);
  const data = await rpc.call({ type: MSG.READ, offset: 0, length: 10_000, level: 0 });
  if (data.block.rawLength !== 10_000) throw new Error(`read ${data.block.rawLength}`);
  await rpc.call({ type: MSG.CLOSE });
  link.output.end();
  const exit = await link.exited;
  if (exit.code !== 0) throw new Error(`agent exit ${exit.code}`);
}

test('splitCommand splits like a shell, without expanding', (t) => {
  t.deepEqual(splitCommand(`ssh -i '/a b/key' -o "Foo=\\"x\\" \\$HOME" -p\\ 2 $X`), ['ssh', '-i', '/a b/key', '-o', 'Foo="x" $HOME', '-p 2', '$X']);
  t.deepEqual(splitCommand('  ssh   host  '), ['ssh', 'host']);
  t.deepEqual(splitCommand(`a''b ""`), ['ab', '']);
  t.throws(() => splitCommand(`ssh 'open`), { instanceOf: UsageError });
  t.throws(() => splitCommand('ssh "open'), { instanceOf: UsageError });
});

sshTest('rshArgv puts -p, -l, -- (for ssh), the host and the loader command after the command', (t) => {
  const argv = rshArgv({ ...connection(sshd), host: 'h', port: 2222, user: 'u', rsh: 'ssh -x' });
  t.deepEqual(argv.slice(0, 8), ['ssh', '-x', '-p', '2222', '-l', 'u', '--', 'h']);
  t.regex(argv[8], /^exec sh -c '/);
  t.is(argv.length, 9);
  t.deepEqual(rshArgv({ ...connection(sshd), host: 'h', port: undefined, user: undefined, rsh: '/usr/bin/ssh' }).slice(0, 3), ['/usr/bin/ssh', '--', 'h']);
  t.deepEqual(rshArgv({ ...connection(sshd), host: 'h', port: undefined, user: undefined, rsh: 'rsh' }).slice(0, 2), ['rsh', 'h'], 'no -- for a command not known to take it');
  t.throws(() => rshArgv({ ...connection(sshd), rsh: '  ' }), { instanceOf: UsageError });
  t.throws(() => rshArgv({ ...connection(sshd), host: '-oProxyCommand=x', rsh: 'rsh' }), { instanceOf: UsageError, message: /cannot start with '-'/ });
});

sshTest('--rsh with the system ssh client runs the agent over its stdin/stdout', async (t) => {
  const link = await new RshTransport(connection(sshd, { rsh: systemSsh(sshd) }), { bundle }).start();
  t.regex(link.description, /^ssh 127\.0\.0\.1$/);
  await roundTrip(link);
  t.pass();
});

sshTest('--rsh: ssh failing to authenticate is one line with its own reason', async (t) => {
  const wrong = scratch.path('wrong_key');
  keygen(wrong);
  const error = await t.throwsAsync(new RshTransport(connection(sshd, { rsh: systemSsh(sshd, wrong) }), { bundle }).start());
  t.true(error instanceof BasynError);
  t.is((error as BasynError).exitCode, EXIT_SYNC);
  t.regex(error?.message ?? '', /^--rsh ssh to 127\.0\.0\.1 failed: .*Permission denied/);
});

sshTest('--rsh with a command that does not exist', async (t) => {
  const error = await t.throwsAsync(new RshTransport(connection(sshd, { rsh: '/nonexistent/ssh' }), { bundle }).start());
  t.is((error as BasynError).exitCode, EXIT_SYNC);
  t.regex(error?.message ?? '', /could not run \/nonexistent\/ssh: not found/);
});

sshTest('--rsh: remote node missing gives the same hint as ssh2', async (t) => {
  const error = await t.throwsAsync(new RshTransport(connection(sshd, { rsh: systemSsh(sshd), remoteNode: '/nonexistent' }), { bundle }).start());
  t.is(error?.message, 'node >= 18 not found on 127.0.0.1 at /nonexistent; install it or pass --remote-node PATH');
});

sshTest('remote shell noise on stderr is shown as text and does not disturb the protocol (ssh2)', async (t) => {
  const link = await new SshTransport(connection(noisy), { bundle, environment: { home, localUser: 'nobody' } }).start();
  const stderr = collect(link);
  await roundTrip(link);
  t.is((await stderr).trim(), NOISE);
});

sshTest('remote shell noise on stderr is shown as text and does not disturb the protocol (--rsh)', async (t) => {
  const link = await new RshTransport(connection(noisy, { rsh: systemSsh(noisy) }), { bundle }).start();
  const stderr = collect(link);
  await roundTrip(link);
  t.is((await stderr).trim(), NOISE);
});

sshTest('noise before a failure: the hint still comes, the noise is not taken for the reason', async (t) => {
  const error = await t.throwsAsync(new SshTransport(connection(noisy, { remoteNode: '/nonexistent' }), { bundle, environment: { home, localUser: 'nobody' } }).start());
  t.is(error?.message, 'node >= 18 not found on 127.0.0.1 at /nonexistent; install it or pass --remote-node PATH');
});

// The exec-channel phase: an SSH server that authenticates the client and then never answers the request
// to open a session channel. OpenSSH's sshd cannot be made to do that, so this is an in-process ssh2
// Server (in addition to the real sshd of the other tests): ConnectTimeout bounds the phase, and the
// run's AbortSignal (a SIGTERM) ends it at once.
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { Server } from 'ssh2';
import type { ConnectionOptions } from '../src/local/options';
import { SshTransport } from '../src/local/transport/ssh';
import { BasynError, EXIT_SYNC, SyncError } from '../src/shared/errors';
import { tempDir } from './helpers/images';
import { builtAgent, keygen } from './helpers/sshd';

const scratch = tempDir('basyn-exec-phase-');
const hostPublicKey = keygen(scratch.path('host_key'));
const userKey = scratch.path('user_key');
keygen(userKey);
const home = scratch.path('home');
let server: Server;
let port = 0;
let sessionsAsked = 0;

test.before(async () => {
  server = new Server({ hostKeys: [readFileSync(scratch.path('host_key'))] }, (client) => {
    client.on('error', () => undefined);
    client.on('authentication', (context) => context.accept());
    // Never accepted, never rejected: the client waits for an answer that does not come.
    client.on('session', () => { sessionsAsked++; });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : 0;
  writeFileSync(scratch.path('known_hosts'), `[127.0.0.1]:${port} ${hostPublicKey}\n`);
});
test.after.always(() => { server?.close(); scratch.cleanup(); });

function transport(sshOptions: Record<string, string> = {}): SshTransport {
  const connection: ConnectionOptions = {
    host: '127.0.0.1', port, user: 'tester', identities: [userKey], knownHosts: [scratch.path('known_hosts')],
    acceptNew: false, sshOptions, interactive: false,
  };
  return new SshTransport(connection, { bundle: builtAgent(), environment: { home, localUser: 'tester' }, agentSocket: '', notice: () => undefined });
}

test.serial('the exec channel never opens: ConnectTimeout ends the start with one line naming the phase and host', async (t) => {
  const before = sessionsAsked;
  const started = Date.now();
  const error = await t.throwsAsync(transport({ connecttimeout: '10' }).start());
  t.true(error instanceof BasynError && error.exitCode === EXIT_SYNC);
  t.is(error?.message, 'ssh: 127.0.0.1: the exec channel for the agent did not open within 10 s');
  t.true(sessionsAsked > before, 'the server was asked for a session');
  t.true(Date.now() - started < 60_000, `ended after ${Date.now() - started} ms`);
});

test.serial('the exec channel never opens: an abort (SIGTERM) ends the start at once', async (t) => {
  const before = sessionsAsked;
  const controller = new AbortController();
  const starting = transport().start(controller.signal);
  const deadline = Date.now() + 60_000;
  while (sessionsAsked === before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  t.true(sessionsAsked > before, 'the server was asked for a session');
  const aborted = Date.now();
  controller.abort(new SyncError('Interrupted by SIGTERM', 'EINTR'));
  const error = await t.throwsAsync(starting);
  t.is(error?.message, 'Interrupted by SIGTERM');
  t.true(Date.now() - aborted < 5000, `ended ${Date.now() - aborted} ms after the abort`);
});

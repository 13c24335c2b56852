// The SSH transport: ssh2 connects (through ProxyJump hops if configured), verifies the host key against
// known_hosts (known-hosts.ts), authenticates like OpenSSH (ssh-auth.ts), and execs the loader
// (agent-start.ts):
//
//   exec sh -c '<find node>; exec "$N" -e '\''<LOADER_SOURCE>'\'''
//
// The channel's stdin then gets the upload (loader.ts) and carries protocol frames; its stdout carries
// the agent's frames only; its stderr (shell noise, node warnings) is passed on as remote text.
// start() resolves once the agent's first byte arrives, so "node missing" or "node too old" is an
// error of start() with a hint, not a puzzling early EOF later. Each phase (TCP connect, handshake,
// exec channel, agent start, and the session's wait for HELLO) is bounded by ConnectTimeout (default
// 30 s) and by the run's AbortSignal (deadline.ts).
import type { Client, ClientChannel, ConnectConfig } from 'ssh2';
import { connect as tcpConnect } from 'node:net';
import { PassThrough, type Duplex, type Readable } from 'node:stream';
import { SyncError, basynError } from '../../shared/errors';
import { printable } from '../../shared/remote-text';
import type { ConnectionOptions } from '../options';
import { AGENT_START_TIMEOUT_MS, awaitAgentStart, KILL_GRACE_MS, remoteLoaderCommand, TextTail } from './agent-start';
import { DEFAULT_CONNECT_TIMEOUT_MS, seconds, withDeadline } from './deadline';
import { HostKeyVerifier } from './known-hosts';
import { uploadPayload } from './loader';
import { askSecret, Authenticator, type ConnectContext, type NextAuth } from './ssh-auth';
import { defaultEnvironment, resolveConnection, type SshEnvironment, type SshTarget } from './ssh-config';
import { cryptoBindingLoaded, ssh2 } from './ssh2-lazy';
import type { AgentExit, AgentLink, Transport } from './transport';

/** GCM first: with AES instructions it is the fastest; ssh2 would put chacha20 first without cpu-features. */
export const CIPHERS = [
  'aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'chacha20-poly1305@openssh.com', 'aes128-ctr', 'aes192-ctr', 'aes256-ctr',
] as const;
const HOST_KEY_ALGORITHMS = [
  'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa',
];

/** A one-line message for a socket-level error of connecting to host:port. */
function socketError(error: NodeJS.ErrnoException, target: SshTarget): SyncError {
  const { host, port } = target;
  switch (error.code) {
    case 'ECONNREFUSED': return basynError('SSH_CONNECT', host, port, 'connection refused');
    case 'ENOTFOUND':
    case 'EAI_AGAIN': return basynError('SSH_RESOLVE', host);
    case 'ETIMEDOUT': return basynError('SSH_CONNECT_TIMEOUT', host, port);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH': return basynError('SSH_CONNECT', host, port, 'no route to host');
    case 'ECONNRESET': return basynError('SSH_CONNECTION_RESET', host, port);
    default: return basynError('SSH_CONNECT', host, port, error.message);
  }
}

/** ConnectTimeout, or 30 s: the bound of each phase of reaching the agent. */
function phaseTimeout(target: SshTarget): number {
  return target.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
}

/** A TCP connection to the target, or a rejection with a one-line SyncError. */
function tcp(target: SshTarget, abort?: AbortSignal): Promise<Duplex> {
  const socket = tcpConnect({ host: target.host, port: target.port });
  socket.setNoDelay(true);
  const connected = new Promise<Duplex>((resolve, reject) => {
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error) => reject(socketError(error, target)));
  });
  const limit = phaseTimeout(target);
  return withDeadline(connected, {
    ms: limit,
    timeout: () => basynError('SSH_CONNECT_TIMEOUT', target.host, target.port, ` after ${seconds(limit)}`),
    abort,
    cancel: () => { socket.on('error', () => undefined).destroy(); },
  });
}

/** The cipher each connection negotiated (client to server), for --debug. */
const cipherOf = new WeakMap<Client, string>();

/** What --debug says of the data path of a connection: the cipher, and whether ssh2's native binding does it. */
export function sshCryptoDescription(cipher: string | undefined): string {
  const engine = cryptoBindingLoaded() ? "ssh2's native crypto binding loaded" : "ssh2's native crypto binding NOT loaded (slower fallback)";
  return `cipher ${cipher ?? 'unknown'}, ${engine}`;
}

/** One authenticated ssh2 connection to `target` over `sock`. */
function sshConnect(target: SshTarget, sock: Duplex, context: ConnectContext, abort?: AbortSignal): Promise<Client> {
  const verifier = new HostKeyVerifier({
    host: target.host,
    port: target.port,
    alias: target.hostKeyAlias,
    files: target.knownHostsFiles,
    strict: target.strictHostKeyChecking,
  });
  const auth = new Authenticator(target, context);
  const client = new (ssh2().Client)();
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const onAbort = (): void => finish(abort?.reason as Error);
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      abort?.removeEventListener('abort', onAbort);
      if (verifier.recorded) context.notice(verifier.recorded); // even if authentication fails next
      if (error) {
        client.end();
        sock.destroy();
        reject(error);
      } else resolve(client);
    };
    const armTimer = (): void => {
      clearTimeout(timer);
      const limit = phaseTimeout(target);
      timer = setTimeout(() => finish(basynError('SSH_HANDSHAKE_TIMEOUT', target.alias, seconds(limit))), limit);
    };
    auth.onPrompt = (prompting) => { if (prompting) clearTimeout(timer); else armTimer(); };
    armTimer();
    if (abort?.aborted) onAbort();
    else abort?.addEventListener('abort', onAbort, { once: true });

    client.once('handshake', (negotiated: { cs: { cipher: string } }) => { cipherOf.set(client, negotiated.cs.cipher); });
    client.once('ready', () => finish());
    client.on('error', (error: Error & { level?: string }) => {
      if (settled) return;
      if (verifier.failure) finish(verifier.failure);
      else if (error.level === 'client-authentication') finish(auth.failure());
      else if ((error as NodeJS.ErrnoException).code) finish(socketError(error as NodeJS.ErrnoException, target));
      else finish(basynError('SSH_FAILED', target.alias, error.message));
    });
    client.once('close', () => finish(verifier.failure ?? basynError('SSH_HANDSHAKE_CLOSED', target.alias)));

    const config: ConnectConfig = {
      sock: sock as Readable,
      username: target.user,
      readyTimeout: 0, // our own timer, paused during prompts
      keepaliveInterval: target.keepaliveIntervalMs,
      keepaliveCountMax: target.keepaliveCountMax,
      algorithms: {
        cipher: [...CIPHERS],
        serverHostKey: verifier.hostKeyAlgorithms(HOST_KEY_ALGORITHMS) as NonNullable<ConnectConfig['algorithms']>['serverHostKey'],
      },
      hostVerifier: (key: Buffer) => verifier.verify(key),
      authHandler: (methodsLeft, _partialSuccess, callback) => {
        // ssh2 takes `false` for "no more methods" although its types do not say so.
        const next = callback as (auth: NextAuth) => void;
        auth.next(methodsLeft).then(next, (error: Error) => finish(error));
      },
    };
    client.connect(config);
  });
}

/** A stream to target through an established connection (ProxyJump). */
function forward(via: Client, viaName: string, target: SshTarget, abort?: AbortSignal): Promise<Duplex> {
  const opened = new Promise<Duplex>((resolve, reject) => {
    via.forwardOut('127.0.0.1', 0, target.host, target.port, (error, stream) => {
      if (error) reject(basynError('SSH_JUMP_UNREACHABLE', viaName, target.host, target.port, error.message));
      else resolve(stream);
    });
  });
  const limit = phaseTimeout(target);
  return withDeadline(opened, {
    ms: limit,
    timeout: () => basynError('SSH_JUMP_TIMEOUT', viaName, target.host, target.port, seconds(limit)),
    abort,
    discard: (stream) => stream.destroy(),
  });
}

export interface SshTransportOptions {
  /** The agent bundle to upload (default: dist/agent.js next to the controller). */
  bundle?: Buffer;
  /** Home dir and local user name, for ~/.ssh files (tests use a temp dir). */
  environment?: SshEnvironment;
  /** Messages for the user such as "Permanently added ..." (default: stderr). */
  notice?: (text: string) => void;
  /** The ssh-agent socket (default: $SSH_AUTH_SOCK; '' for none). */
  agentSocket?: string;
  /** How a passphrase or password is asked (default: the TTY, without echo). */
  askSecret?: (prompt: string) => Promise<string>;
  startTimeoutMs?: number;
}

export class SshTransport implements Transport {
  constructor(
    private readonly connection: ConnectionOptions,
    private readonly options: SshTransportOptions = {},
  ) {}

  async start(abort?: AbortSignal): Promise<AgentLink> {
    const { connection, options } = this;
    const environment = options.environment ?? defaultEnvironment();
    const { target, jumps } = resolveConnection(connection, environment);
    const context: ConnectContext = {
      interactive: connection.interactive,
      agentSocket: options.agentSocket ?? process.env.SSH_AUTH_SOCK,
      environment,
      notice: options.notice ?? ((text) => process.stderr.write(`basyn: ${text}\n`)),
      askSecret: options.askSecret ?? askSecret,
    };

    // Each hop is reached through the one before it; the first over TCP.
    const clients: Client[] = [];
    const closeAll = (): void => { for (const client of [...clients].reverse()) client.end(); };
    try {
      let previous: { client: Client; name: string } | undefined;
      for (const hop of [...jumps, target]) {
        const sock = previous ? await forward(previous.client, previous.name, hop, abort) : await tcp(hop, abort);
        const client = await sshConnect(hop, sock, context, abort);
        clients.push(client);
        previous = { client, name: hop.alias };
      }
    } catch (error) {
      closeAll();
      throw error;
    }
    const client = clients[clients.length - 1];

    let channel: ClientChannel;
    const limit = phaseTimeout(target);
    try {
      const opened = new Promise<ClientChannel>((resolve, reject) => {
        client.exec(remoteLoaderCommand(connection.remoteNode, connection.wrap), (error, stream) => {
          if (error) reject(basynError('SSH_EXEC_FAILED', target.alias, error.message));
          else resolve(stream);
        });
      });
      channel = await withDeadline(opened, {
        ms: limit,
        timeout: () => basynError('SSH_EXEC_TIMEOUT', target.alias, seconds(limit)),
        abort,
      });
    } catch (error) {
      closeAll();
      throw error;
    }
    return this.link(client, channel, target, closeAll, options.startTimeoutMs ?? target.connectTimeoutMs ?? AGENT_START_TIMEOUT_MS, abort);
  }

  private async link(
    client: Client, channel: ClientChannel, target: SshTarget, closeAll: () => void, startTimeoutMs: number, abort?: AbortSignal,
  ): Promise<AgentLink> {
    const input = new PassThrough();
    const stderr = new PassThrough();
    const tail = new TextTail();
    channel.pipe(input, { end: false });
    // Never backpressure stderr: the channel's window is shared with stdout, and nobody may read stderr yet.
    channel.stderr.on('data', (data: Buffer) => { tail.push(data); stderr.write(data); });
    const stderrDone = new Promise<void>((resolve) => { channel.stderr.once('end', resolve).once('close', resolve); });

    let status: { code: number | null; signal: string | null } = { code: null, signal: null };
    let reason: string | undefined;
    channel.on('exit', (code: number | null, signal?: string) => { status = { code: code ?? null, signal: signal ?? null }; });
    client.on('error', (error: Error) => { reason ??= error.message === 'Keepalive timeout' ? 'connection lost (no answer to keepalives)' : `connection lost: ${printable(error.message)}`; });
    channel.on('error', () => undefined); // writes after the end; the end itself is reported below

    const exited = new Promise<AgentExit>((resolve) => {
      let done = false;
      const end = (why?: string): void => {
        if (done) return;
        done = true;
        if (why && status.code === null && status.signal === null) reason ??= why;
        input.end();
        stderr.end();
        closeAll();
        resolve({ ...status, reason });
      };
      // ssh2 passes the exit status to 'close' too: an 'exit' event emitted before the exec callback
      // attached our listener (a remote command that fails at once) is not lost that way.
      channel.once('close', (code?: number | null, signal?: string) => {
        if (status.code === null && status.signal === null && (typeof code === 'number' || signal)) {
          status = { code: typeof code === 'number' ? code : null, signal: signal ?? null };
        }
        end();
      });
      client.once('close', () => end('connection closed'));
    });

    channel.write(uploadPayload(this.options.bundle));
    let killed = false;
    const kill = (): void => {
      if (killed) return;
      killed = true;
      // The agent first: sshd (>= 7.9) delivers the KILL signal where it can, and EOF on its stdin ends
      // it too. sshd then reports its end and closes the channel, which settles `exited`. A side that
      // does not answer (a dead link) is dropped after a grace period.
      try {
        channel.signal('KILL');
        channel.end();
      } catch { /* already closed */ }
      setTimeout(() => {
        try {
          channel.close();
        } catch { /* already closed */ }
        client.destroy();
        closeAll();
      }, KILL_GRACE_MS).unref();
    };
    try {
      await awaitAgentStart(channel, exited, {
        host: target.alias, remoteNode: this.connection.remoteNode, wrap: this.connection.wrap, stderr: tail, stderrDone, timeoutMs: startTimeoutMs, abort,
      });
    } catch (error) {
      kill();
      throw error;
    }
    return {
      input,
      output: channel,
      stderr,
      exited,
      description: `ssh ${target.user}@${target.alias}:${target.port}`,
      details: [sshCryptoDescription(cipherOf.get(client))],
      helloTimeoutMs: startTimeoutMs,
      kill,
    };
  }
}

// The SSH transport: ssh2 connects (through ProxyJump hops if configured), verifies the host key against
// known_hosts, authenticates like OpenSSH (ssh-agent, then key files), and execs the loader:
//
//   exec sh -c '<find node>; exec "$N" -e '\''<LOADER_SOURCE>'\'''
//
// The channel's stdin then gets the upload (loader.ts) and carries protocol frames; its stdout carries
// the agent's frames only; its stderr (shell noise, node warnings) is passed on as remote text.
// start() resolves once the agent's first byte arrives, so "node missing" or "node too old" is an
// error of start() with a hint, not a puzzling early EOF later.
import { Client, utils, type AnyAuthMethod, type ClientChannel, type ConnectConfig, type ParsedKey, type Prompt } from 'ssh2';
import { readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { PassThrough, type Duplex, type Readable } from 'node:stream';
import { SyncError } from '../../shared/errors';
import type { ConnectionOptions } from '../options';
import { HostKeyVerifier } from './known-hosts';
import { LOADER_EXIT_BAD_BUNDLE, LOADER_EXIT_OLD_NODE, LOADER_SOURCE, MIN_REMOTE_NODE_MAJOR, uploadPayload } from './loader';
import { defaultEnvironment, resolveConnection, type SshEnvironment, type SshTarget } from './ssh-config';
import type { AgentExit, AgentLink, Transport } from './transport';

/** AgentExit plus why the link ended when it was not the agent's own exit (connection lost, ...). */
export interface LinkExit extends AgentExit {
  readonly reason?: string;
}

/** GCM first: with AES instructions it is the fastest; ssh2 would put chacha20 first without cpu-features. */
export const CIPHERS = [
  'aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'chacha20-poly1305@openssh.com', 'aes128-ctr', 'aes192-ctr', 'aes256-ctr',
] as const;
const HOST_KEY_ALGORITHMS = [
  'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa',
];
/** How long the handshake and authentication may take (time spent at a passphrase prompt excluded). */
const HANDSHAKE_TIMEOUT_MS = 30_000;
/** How long the agent may take to send its first byte once the command runs. */
export const AGENT_START_TIMEOUT_MS = 30_000;
const STDERR_TAIL_BYTES = 4096;
const STDERR_GRACE_MS = 500;

/** Single-quotes `text` for a POSIX shell (plain words stay as they are). */
export function shellQuote(text: string): string {
  if (/^[A-Za-z0-9_/.,:@%+=-]+$/.test(text)) return text;
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The command line that starts the loader on the remote host, for its login shell (any Bourne-like or csh-like shell). */
export function remoteLoaderCommand(remoteNode?: string): string {
  const loader = shellQuote(LOADER_SOURCE);
  const script = remoteNode !== undefined
    ? `exec ${shellQuote(remoteNode)} -e ${loader}`
    : `N=$(command -v node || command -v nodejs) || { echo "basyn: node not found in PATH" >&2; exit 127; }; exec "$N" -e ${loader}`;
  return `exec sh -c ${shellQuote(script)}`;
}

/** Keeps the last few KB of a stream's text, for error messages. */
export class TextTail {
  private text = '';
  push(data: Buffer | string): void {
    this.text = (this.text + data.toString()).slice(-STDERR_TAIL_BYTES);
  }
  /** The last non-empty line. */
  lastLine(): string {
    return this.text.split('\n').map((line) => line.trim()).filter(Boolean).pop() ?? '';
  }
}

/**
 * Waits until the agent's side sends its first byte on `stdout` (the HELLO frame). If the process or
 * channel ends first, the exit code says why: the loader's own codes, or 126/127 from the shell.
 */
export function awaitAgentStart(
  stdout: Readable,
  exited: Promise<LinkExit>,
  what: { host: string; remoteNode?: string; stderr: TextTail; stderrDone: Promise<void>; timeoutMs: number },
): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stdout.removeListener('data', onData);
      if (error) reject(error);
      else resolve();
    };
    const onData = (): void => settle();
    stdout.on('data', onData);
    const timer = setTimeout(() => {
      settle(new SyncError(`the remote agent on ${what.host} did not start within ${what.timeoutMs / 1000} s`, 'ESTART'));
    }, what.timeoutMs);
    // The exit status may overtake the last stderr bytes, which hold the reason: wait for them briefly.
    void exited
      .then(async (exit) => {
        await Promise.race([what.stderrDone, new Promise((resolve) => setTimeout(resolve, STDERR_GRACE_MS))]);
        return exit;
      })
      .then((exit) => settle(startFailure(exit, what.host, what.remoteNode, what.stderr)));
  });
}

function startFailure(exit: LinkExit, host: string, remoteNode: string | undefined, stderr: TextTail): SyncError {
  const said = stderr.lastLine();
  const at = remoteNode !== undefined ? ` at ${remoteNode}` : '';
  if (exit.code === 126 || exit.code === 127 || exit.code === LOADER_EXIT_OLD_NODE) {
    const detail = exit.code === LOADER_EXIT_OLD_NODE && said ? ` (${said.replace(/^basyn: /, '')})` : '';
    return new SyncError(`node >= ${MIN_REMOTE_NODE_MAJOR} not found on ${host}${at}${detail}; install it or pass --remote-node PATH`, 'ENONODE');
  }
  if (exit.code === LOADER_EXIT_BAD_BUNDLE) return new SyncError(`the agent upload to ${host} arrived corrupted`, 'EUPLOAD');
  const how = exit.reason ?? (exit.code !== null ? `exited with code ${exit.code}` : exit.signal ? `was killed by ${exit.signal}` : 'ended');
  return new SyncError(`the remote agent on ${host} ${how} before starting${said ? `: ${said}` : ''}`, 'ESTART');
}

/** Reads a secret from the TTY without echo (stdin must be a TTY). Ctrl-C aborts. */
export function askSecret(prompt: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) return Promise.reject(new SyncError('cannot ask for a passphrase: standard input is not a terminal', 'EAUTH'));
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (): void => {
      input.removeListener('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
    };
    const onData = (data: Buffer): void => {
      for (const char of data.toString('utf8')) {
        if (char === '\r' || char === '\n') {
          done();
          resolve(text);
          return;
        }
        if (char === '\u0003' || char === '\u0004') {
          done();
          reject(new SyncError('interrupted at the passphrase prompt', 'EINTR'));
          return;
        }
        if (char === '\u007f' || char === '\b') text = text.slice(0, -1);
        else text += char;
      }
    };
    process.stderr.write(prompt);
    input.setRawMode(true);
    input.resume();
    input.on('data', onData);
  });
}

interface ConnectContext {
  readonly interactive: boolean;
  /** The ssh-agent's socket (SSH_AUTH_SOCK), if any. */
  readonly agentSocket?: string;
  readonly environment: SshEnvironment;
  readonly notice: (text: string) => void;
  readonly askSecret: (prompt: string) => Promise<string>;
}

/** A one-line message for a socket-level error of connecting to host:port. */
function socketMessage(error: NodeJS.ErrnoException, target: SshTarget): string {
  const where = `${target.host} port ${target.port}`;
  switch (error.code) {
    case 'ECONNREFUSED': return `ssh: cannot connect to ${where}: connection refused`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN': return `ssh: could not resolve hostname ${target.host}`;
    case 'ETIMEDOUT': return `ssh: connect to ${where}: timed out`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH': return `ssh: cannot connect to ${where}: no route to host`;
    case 'ECONNRESET': return `ssh: connection to ${where} was reset`;
    default: return `ssh: cannot connect to ${where}: ${error.message}`;
  }
}

/** A TCP connection to the target, or a rejection with a one-line SyncError. */
function tcp(target: SshTarget): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: target.host, port: target.port });
    socket.setNoDelay(true);
    if (target.connectTimeoutMs !== undefined) {
      socket.setTimeout(target.connectTimeoutMs, () => {
        socket.destroy();
        reject(new SyncError(`ssh: connect to ${target.host} port ${target.port}: timed out`, 'ECONNECT'));
      });
    }
    socket.once('connect', () => {
      socket.setTimeout(0);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error) => reject(new SyncError(socketMessage(error, target), 'ECONNECT')));
  });
}

/** What ssh2's authHandler callback takes: a method to try, or false for "no more". */
type NextAuth = AnyAuthMethod | false;

/**
 * OpenSSH's order of authentication: the ssh-agent's keys (unless IdentitiesOnly), then the key
 * files, then (on a TTY only) keyboard-interactive and password. Encrypted keys ask for their
 * passphrase on the TTY; in batch use they are skipped and the reason ends up in the message.
 */
class Authenticator {
  private readonly steps: Array<() => Promise<NextAuth | undefined>> = [];
  private readonly tried: string[] = [];
  private readonly notes: string[] = [];
  /** Called around prompts so the handshake timer does not run while the user types. */
  onPrompt?: (prompting: boolean) => void;

  constructor(private readonly target: SshTarget, private readonly context: ConnectContext) {
    const username = target.user;
    const agent = context.agentSocket;
    if (agent && !target.identitiesOnly) {
      this.steps.push(async () => { this.tried.push('ssh-agent'); return { type: 'agent' as const, username, agent }; });
    }
    for (const file of target.identityFiles) this.steps.push(() => this.keyFile(file));
    if (this.canPrompt) {
      this.steps.push(async () => {
        this.tried.push('keyboard-interactive');
        return {
          type: 'keyboard-interactive' as const,
          username,
          prompt: (_name: string, _instructions: string, _lang: string, prompts: Prompt[], finish: (answers: string[]) => void) => {
            void this.prompted(async () => {
              const answers: string[] = [];
              for (const prompt of prompts) answers.push(await this.context.askSecret(`(${username}@${target.alias}) ${prompt.prompt}`));
              return answers;
            }).then(finish, () => finish([]));
          },
        };
      });
      this.steps.push(async () => {
        this.tried.push('password');
        const password = await this.prompted(() => this.context.askSecret(`${username}@${target.alias}'s password: `));
        return { type: 'password' as const, username, password };
      });
    }
  }

  private get canPrompt(): boolean {
    return this.context.interactive && !this.target.batchMode;
  }

  private async prompted<T>(ask: () => Promise<T>): Promise<T> {
    this.onPrompt?.(true);
    try {
      return await ask();
    } finally {
      this.onPrompt?.(false);
    }
  }

  /** The next step the server still accepts, for ssh2's authHandler. */
  async next(methodsLeft: string[] | null): Promise<NextAuth> {
    while (this.steps.length > 0) {
      const step = this.steps.shift() as () => Promise<NextAuth | undefined>;
      const auth = await step();
      if (auth === undefined || auth === false) continue;
      const method = auth.type === 'agent' ? 'publickey' : auth.type;
      if (methodsLeft === null || methodsLeft.includes(method)) return auth;
    }
    return false;
  }

  private async keyFile(file: string): Promise<NextAuth | undefined> {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (this.target.explicitIdentities) this.notes.push(`${file}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
      return undefined;
    }
    let key = utils.parseKey(data);
    if (key instanceof Error && /passphrase/i.test(key.message)) {
      if (!this.canPrompt) {
        this.notes.push(`${file} is encrypted and there is no TTY to ask its passphrase (add it to ssh-agent)`);
        return undefined;
      }
      const passphrase = await this.prompted(() => this.context.askSecret(`Enter passphrase for key '${file}': `));
      key = utils.parseKey(data, passphrase);
      if (key instanceof Error) {
        this.notes.push(`${file}: wrong passphrase`);
        return undefined;
      }
    }
    if (key instanceof Error) {
      this.notes.push(`${file}: ${key.message}`);
      return undefined;
    }
    this.tried.push(file);
    return { type: 'publickey' as const, username: this.target.user, key: (Array.isArray(key) ? key[0] : key) as ParsedKey };
  }

  failure(): SyncError {
    const tried = this.tried.length > 0 ? `tried ${this.tried.join(', ')}` : 'no key to offer (none found, no ssh-agent)';
    const notes = this.notes.length > 0 ? `; ${this.notes.join('; ')}` : '';
    return new SyncError(`Authentication failed for ${this.target.user}@${this.target.alias}: ${tried}${notes}`, 'EAUTH');
  }
}

/** One authenticated ssh2 connection to `target` over `sock`. */
function sshConnect(target: SshTarget, sock: Duplex, context: ConnectContext): Promise<Client> {
  const verifier = new HostKeyVerifier({
    host: target.host,
    port: target.port,
    alias: target.hostKeyAlias,
    files: target.knownHostsFiles,
    strict: target.strictHostKeyChecking,
  });
  const auth = new Authenticator(target, context);
  const client = new Client();
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (verifier.recorded) context.notice(verifier.recorded); // even if authentication fails next
      if (error) {
        client.end();
        sock.destroy();
        reject(error);
      } else resolve(client);
    };
    const armTimer = (): void => {
      clearTimeout(timer);
      const limit = Math.max(HANDSHAKE_TIMEOUT_MS, target.connectTimeoutMs ?? 0);
      timer = setTimeout(() => finish(new SyncError(`ssh: ${target.alias}: no answer to the SSH handshake within ${limit / 1000} s`, 'ECONNECT')), limit);
    };
    auth.onPrompt = (prompting) => { if (prompting) clearTimeout(timer); else armTimer(); };
    armTimer();

    client.once('ready', () => finish());
    client.on('error', (error: Error & { level?: string }) => {
      if (settled) return;
      if (verifier.failure) finish(verifier.failure);
      else if (error.level === 'client-authentication') finish(auth.failure());
      else if ((error as NodeJS.ErrnoException).code) finish(new SyncError(socketMessage(error as NodeJS.ErrnoException, target), 'ECONNECT'));
      else finish(new SyncError(`ssh: ${target.alias}: ${error.message}`, 'ECONNECT'));
    });
    client.once('close', () => finish(verifier.failure ?? new SyncError(`ssh: ${target.alias} closed the connection during the handshake`, 'ECONNECT')));

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
function forward(via: Client, viaName: string, target: SshTarget): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    via.forwardOut('127.0.0.1', 0, target.host, target.port, (error, stream) => {
      if (error) reject(new SyncError(`ssh: jump host ${viaName} cannot reach ${target.host} port ${target.port}: ${error.message}`, 'ECONNECT'));
      else resolve(stream);
    });
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

  async start(): Promise<AgentLink> {
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
        const sock = previous ? await forward(previous.client, previous.name, hop) : await tcp(hop);
        const client = await sshConnect(hop, sock, context);
        clients.push(client);
        previous = { client, name: hop.alias };
      }
    } catch (error) {
      closeAll();
      throw error;
    }
    const client = clients[clients.length - 1];

    let channel: ClientChannel;
    try {
      channel = await new Promise<ClientChannel>((resolve, reject) => {
        client.exec(remoteLoaderCommand(connection.remoteNode), (error, stream) => (error ? reject(error) : resolve(stream)));
      });
    } catch (error) {
      closeAll();
      throw new SyncError(`ssh: ${target.alias}: cannot run the agent: ${(error as Error).message}`, 'ECONNECT');
    }
    return this.link(client, channel, target, closeAll, options.startTimeoutMs ?? AGENT_START_TIMEOUT_MS);
  }

  private async link(client: Client, channel: ClientChannel, target: SshTarget, closeAll: () => void, startTimeoutMs: number): Promise<AgentLink> {
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
    client.on('error', (error: Error) => { reason ??= error.message === 'Keepalive timeout' ? 'connection lost (no answer to keepalives)' : `connection lost: ${error.message}`; });
    channel.on('error', () => undefined); // writes after the end; the end itself is reported below

    const exited = new Promise<LinkExit>((resolve) => {
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
    const kill = (): void => {
      try {
        channel.close();
      } catch { /* already closed */ }
      closeAll();
    };
    try {
      await awaitAgentStart(channel, exited, { host: target.alias, remoteNode: this.connection.remoteNode, stderr: tail, stderrDone, timeoutMs: startTimeoutMs });
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
      kill,
    };
  }
}

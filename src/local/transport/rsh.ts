// --rsh CMD: an external remote shell (OpenSSH's own `ssh` for certificates, GSSAPI or exotic
// configs; or anything that behaves like it), as bdsync's REMSHCMD. It runs, without a shell,
//
//   CMD... [-p PORT] [-l USER] [--] HOST 'exec sh -c ...loader...'   (-- when CMD is ssh)
//
// and the same upload and protocol go over its stdin/stdout; its stderr is remote text. CMD itself
// authenticates and verifies host keys: basyn's own known_hosts handling is not involved.
import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import { PassThrough } from 'node:stream';
import { basynError } from '../../shared/errors';
import type { ConnectionOptions } from '../options';
import { uploadPayload } from './loader';
import { awaitAgentStart, KILL_GRACE_MS, remoteLoaderCommand, TextTail } from './agent-start';
import { DEFAULT_CONNECT_TIMEOUT_MS } from './deadline';
import type { AgentExit, AgentLink, Transport } from './transport';

/**
 * Splits a command line into words the way a POSIX shell would, without expanding anything:
 * blanks separate words, '...' is literal, "..." allows \" \\ \$ \` escapes, \ escapes one character.
 */
export function splitCommand(command: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let index = 0;
  const append = (text: string): void => { word = (word ?? '') + text; };
  while (index < command.length) {
    const char = command[index];
    if (/\s/.test(char)) {
      if (word !== undefined) words.push(word);
      word = undefined;
      index += 1;
    } else if (char === "'") {
      const end = command.indexOf("'", index + 1);
      if (end < 0) throw basynError('USAGE_RSH_QUOTE', "'", command);
      append(command.slice(index + 1, end));
      index = end + 1;
    } else if (char === '"') {
      index += 1;
      let text = '';
      for (;;) {
        if (index >= command.length) throw basynError('USAGE_RSH_QUOTE', '"', command);
        const inner = command[index];
        if (inner === '"') break;
        if (inner === '\\' && index + 1 < command.length && '"\\$`'.includes(command[index + 1])) {
          text += command[index + 1];
          index += 2;
        } else {
          text += inner;
          index += 1;
        }
      }
      append(text);
      index += 1;
    } else if (char === '\\') {
      if (index + 1 >= command.length) throw basynError('USAGE_RSH_BACKSLASH', command);
      append(command[index + 1]);
      index += 2;
    } else {
      append(char);
      index += 1;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** Remote shells known to take `--` as the end of their options (OpenSSH's ssh and slogin). */
const TAKES_END_OF_OPTIONS = /^(?:ssh|slogin)$/;

/**
 * The argv that --rsh runs: the command, then -p/-l when given, `--` when the command is OpenSSH's
 * (so the host can never be read as an option), the host and the remote command line (quoted).
 */
export function rshArgv(connection: ConnectionOptions): string[] {
  const words = splitCommand(connection.rsh ?? '');
  if (words.length === 0) throw basynError('USAGE_RSH_EMPTY');
  if (!connection.host) throw basynError('USAGE_NEEDS_HOST', '--rsh');
  // Also refused by the option checks; here again because this is where it would become an option.
  if (connection.host.startsWith('-')) throw basynError('USAGE_HOST_DASH', connection.host);
  return [
    ...words,
    ...(connection.port !== undefined ? ['-p', String(connection.port)] : []),
    ...(connection.user !== undefined ? ['-l', connection.user] : []),
    ...(TAKES_END_OF_OPTIONS.test(basename(words[0])) ? ['--'] : []),
    connection.host,
    remoteLoaderCommand(connection.remoteNode, connection.wrap),
  ];
}

export class RshTransport implements Transport {
  constructor(
    private readonly connection: ConnectionOptions,
    private readonly options: { bundle?: Buffer; startTimeoutMs?: number } = {},
  ) {}

  /** How long CMD may take to start the agent: -o ConnectTimeout=N when given, else 30 s. */
  private startTimeoutMs(): number {
    if (this.options.startTimeoutMs !== undefined) return this.options.startTimeoutMs;
    const seconds = Number(this.connection.sshOptions.connecttimeout);
    return Number.isInteger(seconds) && seconds > 0 ? seconds * 1000 : DEFAULT_CONNECT_TIMEOUT_MS;
  }

  async start(abort?: AbortSignal): Promise<AgentLink> {
    const [command, ...args] = rshArgv(this.connection);
    const host = this.connection.host as string;
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const input = new PassThrough();
    const stderr = new PassThrough();
    const tail = new TextTail();
    child.stdout.pipe(input);
    child.stderr.on('data', (data: Buffer) => { tail.push(data); stderr.write(data); });
    const stderrDone = new Promise<void>((resolve) => child.stderr.once('end', resolve).once('close', resolve));
    child.stderr.on('end', () => stderr.end());
    child.stdin.on('error', () => undefined); // a dead child is reported through `exited`

    const exited = new Promise<AgentExit>((resolve) => {
      child.once('error', (error: NodeJS.ErrnoException) => {
        stderr.end();
        input.end();
        resolve({ code: null, signal: null, reason: error.code === 'ENOENT' ? `could not run ${command}: not found` : `could not run ${command}: ${error.message}` });
      });
      child.once('close', (code, signal) => resolve({ code, signal }));
    });
    child.stdin.write(uploadPayload(this.options.bundle));
    let killed = false;
    const kill = (): void => {
      if (killed) return;
      killed = true;
      // EOF ends the remote agent even where the signal does not reach it (a wrapper, a relay);
      // a command that ignores SIGTERM gets SIGKILL after a grace period.
      child.stdin.destroy();
      child.kill('SIGTERM');
      setTimeout(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); }, KILL_GRACE_MS).unref();
    };

    const timeoutMs = this.startTimeoutMs();
    try {
      await awaitAgentStart(child.stdout, exited, { host, remoteNode: this.connection.remoteNode, wrap: this.connection.wrap, stderr: tail, stderrDone, timeoutMs, abort });
    } catch (error) {
      kill();
      const exit = await Promise.race([exited, Promise.resolve(undefined)]);
      // ssh exits 255 when it could not connect or authenticate: its own last words say why.
      if (exit?.code === 255) throw basynError('SSH_RSH_FAILED', command, host, tail.lastLine() || 'exit code 255');
      throw error;
    }
    return {
      input,
      output: child.stdin,
      stderr,
      exited,
      description: `${command} ${host}`,
      helloTimeoutMs: timeoutMs,
      kill,
    };
  }
}

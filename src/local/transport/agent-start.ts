// Starting the agent on the far side of a remote shell, shared by ssh.ts (ssh2 exec) and rsh.ts (an
// external command): the command line that finds node and runs the loader under any login shell, the
// tail of the remote stderr for messages, and the wait for the agent's first byte, which turns "node
// missing", "node too old" or a corrupted upload into an error with a hint instead of an early EOF.
import type { Readable } from 'node:stream';
import { SyncError, basynError } from '../../shared/errors';
import { DEFAULT_CONNECT_TIMEOUT_MS, seconds } from './deadline';
import { printable } from '../../shared/remote-text';
import { askedHashThreads, HASH_THREADS_ENV } from '../../shared/hash-threads';
import { LOADER_EXIT_BAD_BUNDLE, LOADER_EXIT_OLD_NODE, LOADER_SOURCE, MIN_REMOTE_NODE_MAJOR } from './loader';
import type { AgentExit } from './transport';

/** How long the agent may take to send its first byte once the command runs, unless ConnectTimeout says. */
export const AGENT_START_TIMEOUT_MS = DEFAULT_CONNECT_TIMEOUT_MS;
/** After kill(): how long the agent's side may take to report its end before it is dropped by force. */
export const KILL_GRACE_MS = 2000;
const STDERR_TAIL_BYTES = 4096;
const STDERR_GRACE_MS = 500;

/** Single-quotes `text` for a POSIX shell (plain words stay as they are). */
export function shellQuote(text: string): string {
  if (/^[A-Za-z0-9_/.,:@%+=-]+$/.test(text)) return text;
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command line that starts the loader on the remote host, for its login shell (any Bourne-like or
 * csh-like shell). `wrap` (--source-wrap / --target-wrap) goes in front of node as the user wrote it:
 * it is a command line for that host's shell, like --rsh is for this one (e.g. `sudo -n`, or a script
 * that takes a snapshot, runs its arguments and drops the snapshot). BASYN_HASH_THREADS, when this
 * process has it, is exported to the agent (a wrapper that resets the environment, as sudo does, drops it).
 */
export function remoteLoaderCommand(remoteNode?: string, wrap?: string, env: NodeJS.ProcessEnv = process.env): string {
  const loader = shellQuote(LOADER_SOURCE);
  const threads = askedHashThreads(env);
  const prefix = wrap !== undefined ? `${wrap} ` : '';
  const exported = threads !== undefined ? `${HASH_THREADS_ENV}=${threads}; export ${HASH_THREADS_ENV}; ` : '';
  const script = exported + (remoteNode !== undefined
    ? `exec ${prefix}${shellQuote(remoteNode)} -e ${loader}`
    : `N=$(command -v node || command -v nodejs) || { echo "basyn: node not found in PATH" >&2; exit 127; }; exec ${prefix}"$N" -e ${loader}`);
  return `exec sh -c ${shellQuote(script)}`;
}

/** Keeps the last few KB of a stream's text, for error messages. */
export class TextTail {
  private text = '';
  push(data: Buffer | string): void {
    this.text = (this.text + data.toString()).slice(-STDERR_TAIL_BYTES);
  }
  /** The last non-empty line, made printable (it ends up in error messages). */
  lastLine(): string {
    return this.lastLines(1);
  }

  /** The last `count` non-empty lines, made printable, joined with ' | ' (a wrapper's stderr). */
  lastLines(count: number): string {
    return printable(this.text.split('\n').map((line) => line.trim()).filter(Boolean).slice(-count).join(' | '));
  }
}

/**
 * Waits until the agent's side sends its first byte on `stdout` (the HELLO frame). If the process or
 * channel ends first, the exit code says why: the loader's own codes, or 126/127 from the shell.
 */
export function awaitAgentStart(
  stdout: Readable,
  exited: Promise<AgentExit>,
  what: { host: string; remoteNode?: string; wrap?: string; stderr: TextTail; stderrDone: Promise<void>; timeoutMs: number; abort?: AbortSignal },
): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stdout.removeListener('data', onData);
      what.abort?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve();
    };
    const onData = (): void => settle();
    const onAbort = (): void => settle(what.abort?.reason as Error);
    stdout.on('data', onData);
    const timer = setTimeout(() => {
      settle(basynError('REMOTE_AGENT_START_TIMEOUT', what.host, seconds(what.timeoutMs)));
    }, what.timeoutMs);
    if (what.abort?.aborted) onAbort();
    else what.abort?.addEventListener('abort', onAbort, { once: true });
    // The exit status may overtake the last stderr bytes, which hold the reason: wait for them briefly.
    void exited
      .then(async (exit) => {
        await Promise.race([what.stderrDone, new Promise((resolve) => setTimeout(resolve, STDERR_GRACE_MS))]);
        return exit;
      })
      .then((exit) => settle(startFailure(exit, what.host, what.remoteNode, what.stderr, what.wrap)));
  });
}

function startFailure(exit: AgentExit, host: string, remoteNode: string | undefined, stderr: TextTail, wrap?: string): SyncError {
  const said = stderr.lastLine();
  // A wrapper that fails before the agent starts: its own words say why (sudo's password prompt, a
  // snapshot that could not be taken). The loader's own exit codes still mean what they say.
  if (wrap !== undefined && exit.code !== LOADER_EXIT_OLD_NODE && exit.code !== LOADER_EXIT_BAD_BUNDLE && !/node not found/.test(said)) {
    const how = exit.reason !== undefined ? `failed (${exit.reason})` : exit.code !== null ? `exited with code ${exit.code}` : exit.signal ? `was killed by ${exit.signal}` : 'ended';
    const lines = stderr.lastLines(3);
    return basynError('WRAPPER_FAILED', printable(wrap), host, how, lines);
  }
  const at = remoteNode !== undefined ? ` at ${remoteNode}` : '';
  if (exit.code === 126 || exit.code === 127 || exit.code === LOADER_EXIT_OLD_NODE) {
    return exit.code === LOADER_EXIT_OLD_NODE && said
      ? basynError('REMOTE_NODE_TOO_OLD', MIN_REMOTE_NODE_MAJOR, host, at, said.replace(/^basyn: /, ''))
      : basynError('REMOTE_NODE_MISSING', MIN_REMOTE_NODE_MAJOR, host, at);
  }
  if (exit.code === LOADER_EXIT_BAD_BUNDLE) return basynError('REMOTE_UPLOAD_CORRUPTED', host);
  const how = exit.reason ?? (exit.code !== null ? `exited with code ${exit.code}` : exit.signal ? `was killed by ${exit.signal}` : 'ended');
  return basynError('REMOTE_AGENT_START_FAILED', host, how, said);
}

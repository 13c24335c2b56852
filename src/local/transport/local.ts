// The local pipe: the agent runs as a child `node` process on this machine. Used without -h, and for
// the local side of every run, so both sides of a sync are the same agent code. With a wrapper
// (--source-wrap / --target-wrap on a local endpoint) the child is `WRAP... node -e LOADER`, the
// wrapper's words split as a shell would but run without one.
import { spawn } from 'node:child_process';
import type { AgentExit, AgentLink, Transport } from './transport';
import { LOADER_SOURCE, uploadPayload } from './loader';
import { awaitAgentStart, KILL_GRACE_MS, TextTail } from './agent-start';
import { DEFAULT_CONNECT_TIMEOUT_MS } from './deadline';
import { splitCommand } from './rsh';
import { PassThrough } from 'node:stream';

export class LocalTransport implements Transport {
  /** `bundle`: the agent to run (default: dist/agent.js next to the controller; tests pass it). */
  constructor(private readonly bundle?: Buffer, private readonly wrap?: string) {}

  async start(abort?: AbortSignal): Promise<AgentLink> {
    if (abort?.aborted) throw abort.reason as Error;
    const wrapper = this.wrap !== undefined ? splitCommand(this.wrap) : [];
    const [command, ...args] = [...wrapper, process.execPath, '-e', LOADER_SOURCE];
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<AgentExit>((resolve) => {
      child.once('error', (error: NodeJS.ErrnoException) => resolve({
        code: null, signal: null, ...(this.wrap !== undefined ? { reason: `could not run ${command}: ${error.code === 'ENOENT' ? 'not found' : error.message}` } : {}),
      }));
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    child.stdin.on('error', () => undefined); // a dead agent is reported through `exited` and the rpc
    child.stdin.write(uploadPayload(this.bundle));
    const link: AgentLink = {
      input: child.stdout,
      output: child.stdin,
      stderr: child.stderr,
      exited,
      description: this.wrap !== undefined ? `local pipe (${this.wrap})` : 'local pipe',
      kill: () => {
        if (this.wrap === undefined) {
          child.kill('SIGKILL');
          return;
        }
        // A wrapper gets the chance to clean up (drop its snapshot): EOF and SIGTERM, SIGKILL after a grace.
        child.stdin.destroy();
        child.kill('SIGTERM');
        setTimeout(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); }, KILL_GRACE_MS).unref();
      },
    };
    if (this.wrap === undefined) return link;
    // A wrapper may fail before the agent starts (sudo without a password, a snapshot that cannot be
    // taken): that is an error with its stderr, not an early end of the protocol.
    // The wait below listens for the first byte: the agent's stdout reaches the session through a
    // PassThrough piped first, so that byte (the HELLO) is not taken from it.
    const input = new PassThrough();
    child.stdout.pipe(input);
    const tail = new TextTail();
    const stderr = new PassThrough();
    child.stderr.on('data', (data: Buffer) => { tail.push(data); stderr.write(data); });
    child.stderr.on('end', () => stderr.end());
    const stderrDone = new Promise<void>((resolve) => child.stderr.once('end', resolve).once('close', resolve));
    try {
      await awaitAgentStart(child.stdout, exited, { host: 'this host', wrap: this.wrap, stderr: tail, stderrDone, timeoutMs: DEFAULT_CONNECT_TIMEOUT_MS, abort });
    } catch (error) {
      link.kill();
      throw error;
    }
    return { ...link, input, stderr };
  }
}

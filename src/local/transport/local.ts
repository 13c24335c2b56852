// The local pipe: the agent runs as a child `node` process on this machine. Used without -h, and for
// the local side of every run, so both sides of a sync are the same agent code.
import { spawn } from 'node:child_process';
import type { AgentExit, AgentLink, Transport } from './transport';
import { LOADER_SOURCE, uploadPayload } from './loader';

export class LocalTransport implements Transport {
  /** `bundle`: the agent to run (default: dist/agent.js next to the controller; tests pass it). */
  constructor(private readonly bundle?: Buffer) {}

  async start(abort?: AbortSignal): Promise<AgentLink> {
    if (abort?.aborted) throw abort.reason as Error;
    const child = spawn(process.execPath, ['-e', LOADER_SOURCE], { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<AgentExit>((resolve) => {
      child.once('error', () => resolve({ code: null, signal: null }));
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    child.stdin.on('error', () => undefined); // a dead agent is reported through `exited` and the rpc
    child.stdin.write(uploadPayload(this.bundle));
    return {
      input: child.stdout,
      output: child.stdin,
      stderr: child.stderr,
      exited,
      description: 'local pipe',
      kill: () => { child.kill('SIGKILL'); },
    };
  }
}

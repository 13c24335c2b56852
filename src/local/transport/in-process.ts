// The in-process agent: the same protocol loop as the bundled agent (remote/serve.ts), served on a
// pair of in-memory streams inside the controller's own process. Nothing is spawned, so the engine,
// the session and the bitmap rules can be tested fast, case by case; the sync suite runs over it as
// over every other transport (test/helpers/sync-suite.ts). Not used by the CLI: a real run hashes on
// both sides in parallel processes.
import { PassThrough } from 'node:stream';
import { serveAgent, type AgentServiceOptions } from '../../remote/serve';
import type { AgentExit, AgentLink, Transport } from './transport';

export class InProcessTransport implements Transport {
  /** `agent`: the agent's options (its hashing threads). */
  constructor(private readonly agent: AgentServiceOptions = {}) {}

  async start(): Promise<AgentLink> {
    const toAgent = new PassThrough();
    const fromAgent = new PassThrough();
    const stderr = new PassThrough();
    const service = serveAgent(toAgent, fromAgent, this.agent);
    const exited = service.done.then((code): AgentExit => {
      stderr.end();
      return { code, signal: null };
    });
    return {
      input: fromAgent,
      output: toAgent,
      stderr,
      exited,
      description: 'in-process agent',
      kill: () => {
        // As a killed process: the agent stops at once and the controller sees its stream end.
        service.stop();
        if (!fromAgent.writableEnded) fromAgent.end();
      },
    };
  }
}

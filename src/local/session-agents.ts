// The agents of a run, as the session sees them: each side (its peer, path and size), their stop at
// the end of a failed run, and why one ended when its stream did. (Their stderr: agent-stderr.ts.)
import { BasynError, basynError } from '../shared/errors';
import type { Peer } from './peer';
import type { AgentLink } from './transport/transport';

export interface Side {
  readonly peer: Peer;
  readonly path: string;
  size: number;
}

/** How long killed agents may take to be gone before the run ends (and the bitmap lock goes) anyway. */
const AGENT_STOP_TIMEOUT_MS = 10_000;

/** Kills every agent and waits (bounded) until each is gone. */
export async function stopAgents(links: readonly AgentLink[]): Promise<void> {
  for (const link of links) link.kill();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, AGENT_STOP_TIMEOUT_MS); });
  await Promise.race([Promise.all(links.map((link) => link.exited)), timeout]);
  clearTimeout(timer);
}

/** Turns "the stream ended" into why the agent ended, when it is known. */
export async function explain(error: unknown, sides: Side[]): Promise<unknown> {
  if (!(error instanceof BasynError) || error.code !== 'ELINK') return error;
  for (const side of sides) {
    if (side.peer.rpc.failure !== error) continue;
    const exit = await Promise.race([side.peer.link.exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1000))]);
    if (exit) {
      const how = exit.reason ?? (exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`);
      return basynError('LINK_AGENT_ENDED', side.peer.role, side.peer.link.description, how);
    }
  }
  return error;
}

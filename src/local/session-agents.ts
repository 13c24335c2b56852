// The agents of a run, as the session sees them: each side (its peer, path and size), their stderr
// shown as text, their stop at the end of a failed run, and why one ended when its stream did.
import { BasynError, SyncError } from '../shared/errors';
import { printable, REMOTE_TEXT_MAX } from '../shared/remote-text';
import type { Peer } from './peer';
import type { Reporter } from './progress';
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

/** Most agent stderr shown per agent and run; past it, one line says more was not shown. */
const STDERR_SHOWN_BYTES = 16 * 1024;

/**
 * Agent stderr is never protocol: it is shown as text, line by line, with where it came from, each
 * line made printable (remote-text.ts) and cut to REMOTE_TEXT_MAX, and at most STDERR_SHOWN_BYTES of
 * it per agent: a remote side that prints megabytes or escape sequences cannot flood or take over
 * the terminal. A line is held only up to its cut, so memory stays bounded too.
 */
export function forwardStderr(link: AgentLink, role: string, reporter: Reporter): void {
  let partial = '';
  let partialCut = 0;
  let shown = 0;
  const show = (line: string, cut: number): void => {
    if ((!line.trim() && cut === 0) || shown > STDERR_SHOWN_BYTES) return;
    const text = `${role}: ${printable(line, REMOTE_TEXT_MAX, cut)}\n`;
    shown += text.length;
    reporter.remoteText(shown > STDERR_SHOWN_BYTES ? `${role}: ... more output from the ${role} side not shown (over ${STDERR_SHOWN_BYTES / 1024} KiB)\n` : text);
  };
  link.stderr.setEncoding('utf8');
  link.stderr.on('data', (text: string) => {
    const lines = text.split('\n');
    const last = lines.pop() as string;
    for (const line of lines) {
      show(partial + line, partialCut);
      partial = '';
      partialCut = 0;
    }
    const rest = partial + last;
    partial = rest.slice(0, REMOTE_TEXT_MAX);
    partialCut += rest.length - partial.length;
  });
  link.stderr.on('end', () => show(partial, partialCut));
}

/** Turns "the stream ended" into why the agent ended, when it is known. */
export async function explain(error: unknown, sides: Side[]): Promise<unknown> {
  if (!(error instanceof BasynError) || error.code !== 'ELINK') return error;
  for (const side of sides) {
    if (side.peer.rpc.failure !== error) continue;
    const exit = await Promise.race([side.peer.link.exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1000))]);
    if (exit) {
      const how = exit.reason ?? (exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`);
      return new SyncError(`${side.peer.role} agent (${side.peer.link.description}) ended unexpectedly (${how})`, 'ELINK');
    }
  }
  return error;
}

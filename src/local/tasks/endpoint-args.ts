// A task's SOURCE and TARGET (after any resource is acquired: a device path then) as basyn's own
// options: `-l`, `-r`, `-h`, `-u`, `-a`. A local path stays local; `[user@]host:path` is on that host
// (the local side is then the other one, and the action says which way data flows).
import { UsageError } from '../../shared/errors';

interface Place {
  readonly path: string;
  readonly host?: string;
  readonly user?: string;
}

/** `[user@]host:path` (a colon before any slash), else a local path. */
export function placeOf(endpoint: string): Place {
  const match = /^(?:([^@/:]+)@)?([^/:@]+):(.+)$/s.exec(endpoint);
  return match ? { user: match[1], host: match[2], path: match[3] } : { path: endpoint };
}

export function isLocal(endpoint: string): boolean {
  return placeOf(endpoint).host === undefined;
}

/** `-l/-r/-h/-u/-a` for a sync of `source` to `target`; `direction` false gives them without `-a`. */
export function deviceArgs(source: string, target: string): string[] {
  const from = placeOf(source);
  const to = placeOf(target);
  if (from.host && to.host) throw new UsageError(`source ${source} and target ${target} are both remote: one side must be on this machine`, 'ECONFIG');
  const remote = from.host ? from : to.host ? to : undefined;
  const [local, other] = from.host ? [to, from] : [from, to];
  return [
    '-l', local.path, '-r', other.path,
    ...(remote?.host ? ['-h', remote.host] : []), ...(remote?.user ? ['-u', remote.user] : []),
    '-a', from.host ? 'PULL' : 'PUSH',
  ];
}

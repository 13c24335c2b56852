// A task's SOURCE and TARGET as read by the endpoint parser (endpoint.ts: local path, file://,
// [user@]host:PATH, ssh://), once any resource of theirs is acquired (a device path then), turned into
// basyn's own options for the child run: `-l`, `-r`, `-h`, `-u`, `-p`, `-a`. The local side is -l; the
// action says which way the data flows.
import { UsageError, basynError } from '../../shared/errors';
import { parseEndpoint, type EndpointSide, type LocalEndpoint, type RemoteEndpoint } from '../endpoint';

/** A plain endpoint (not a resource) as the parser reads it. */
export function plainEndpoint(spec: string, side: EndpointSide): LocalEndpoint | RemoteEndpoint {
  const endpoint = parseEndpoint(spec, side);
  // An invariant: config.ts and task-run.ts hand only plain endpoints here (resources become devices first).
  if (endpoint.kind === 'resource') throw new UsageError(`internal: ${spec} is a resource, acquired before the sync`);
  return endpoint;
}

export function isLocal(spec: string, side: EndpointSide): boolean {
  return plainEndpoint(spec, side).kind === 'local';
}

/** `-l/-r/[-h/-u/-p]/-a` for a sync of `source` to `target`. */
export function deviceArgs(source: string, target: string): string[] {
  const from = plainEndpoint(source, 'source');
  const to = plainEndpoint(target, 'target');
  if (from.kind === 'remote' && to.kind === 'remote') {
    throw basynError('TASKS_BOTH_REMOTE', source, target);
  }
  const remote = from.kind === 'remote' ? from : to.kind === 'remote' ? to : undefined;
  const [local, other] = from.kind === 'remote' ? [to, from] : [from, to];
  return [
    '-l', local.path, '-r', other.path,
    ...(remote ? ['-h', remote.host] : []),
    ...(remote?.user !== undefined ? ['-u', remote.user] : []),
    ...(remote?.port !== undefined ? ['-p', String(remote.port)] : []),
    '-a', from.kind === 'remote' ? 'PULL' : 'PUSH',
  ];
}

// SOURCE and TARGET of `basyn [options] SOURCE TARGET`: what each spelling means (spec:
// docs/endpoints.md). Pure: nothing is opened, resolved or connected here.
//
//   /abs/path, rel/path, ./x:y     local path (a ':' after a '/' is part of the path)
//   file://PATH                    local path PATH (file:///abs, file://rel)
//   [user@]host:PATH               remote; a relative PATH is relative to the remote home, ~ and
//   [user@][v6addr]:PATH           ~user are expanded by the agent (never by a shell)
//   ssh://[user@]host[:port]/PATH  remote, absolute /PATH; /./PATH relative to the home, /~/PATH too
//   SCHEME://REST                  a resource (resource.ts): set up before the run, released after
//
// `patch`, `tasks`, `completion` and `check-host` are subcommands: a file of that name is `./patch`.
import { basynError, type UsageError } from '../shared/errors';
import { parseUserHostPort } from './transport/ssh-config';
import { resourceFactory, unknownScheme, type EndpointSide, type Resource } from './resource';

export type { EndpointSide } from './resource';

/** A path on this machine, opened by the local agent as given (relative to the current directory). */
export interface LocalEndpoint {
  readonly kind: 'local';
  readonly spec: string;
  readonly path: string;
}

/**
 * A path on another host. `path` is what the agent opens: absolute, relative to the login home, or
 * starting with `~` / `~user` (expanded by the agent). `user` and `port` are set only when the
 * endpoint names them; -u/-p then do not apply to it.
 */
export interface RemoteEndpoint {
  readonly kind: 'remote';
  readonly spec: string;
  readonly host: string;
  readonly user?: string;
  readonly port?: number;
  readonly path: string;
}

/** SCHEME://REST: a resource acquired before the run (its path is then a local endpoint's). */
export interface ResourceEndpoint {
  readonly kind: 'resource';
  readonly spec: string;
  readonly scheme: string;
  readonly resource: Resource;
}

export type Endpoint = LocalEndpoint | RemoteEndpoint | ResourceEndpoint;

/** First words that are subcommands, never endpoints. */
export const SUBCOMMANDS = ['patch', 'tasks', 'completion', 'check-host'] as const;

/** A URL-like scheme: letters, digits, + . - ; then `://`. */
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
/** Host names and IPv4 addresses (ssh config aliases too); bracketed IPv6 is checked apart. */
const HOST_NAME = /^[A-Za-z0-9_.%-]+$/;
const IPV6 = /^[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?$/;
// eslint-disable-next-line no-control-regex
const BLANK_OR_CONTROL = /[\s\x00-\x1f\x7f]/;

function fail(side: EndpointSide, spec: string, why: string): UsageError {
  return basynError('USAGE_BAD_ENDPOINT', side === 'source' ? 'SOURCE' : 'TARGET', JSON.stringify(spec).slice(1, -1), why);
}

/** Parses one endpoint as given on the command line; UsageError (exit 1) when it cannot be one. */
export function parseEndpoint(spec: string, side: EndpointSide): Endpoint {
  if (spec === '') throw fail(side, spec, 'is empty');
  if (spec.includes('\0')) throw fail(side, spec, 'contains a NUL character');
  if ((SUBCOMMANDS as readonly string[]).includes(spec)) {
    throw fail(side, spec, `'${spec}' is a subcommand (basyn ${spec} ...) and only as the first word; a file of that name is ./${spec}`);
  }
  const scheme = SCHEME.exec(spec);
  if (scheme) {
    const name = scheme[1].toLowerCase();
    const rest = spec.slice(scheme[0].length);
    if (name === 'file') {
      if (rest === '') throw fail(side, spec, 'file:// needs a path');
      return { kind: 'local', spec, path: rest };
    }
    if (name === 'ssh') return parseSshUrl(spec, rest, side);
    const factory = resourceFactory(name);
    if (!factory) throw unknownScheme(name, spec);
    return { kind: 'resource', spec, scheme: name, resource: factory(rest, { side, spec }) };
  }
  return parseScpStyle(spec, side) ?? { kind: 'local', spec, path: spec };
}

/** `ssh://[user@]host[:port]/PATH` (`[v6addr]` allowed); /./PATH and /~PATH are home-relative. */
function parseSshUrl(spec: string, rest: string, side: EndpointSide): RemoteEndpoint {
  const bracket = rest.indexOf(']');
  const slash = rest.indexOf('/', rest.includes('[') && bracket >= 0 ? bracket : 0);
  if (slash < 0) throw fail(side, spec, 'ssh:// needs a path after the host: ssh://host/abs/path, or ssh://host/./path for one relative to the remote home');
  const authority = rest.slice(0, slash);
  if (authority.startsWith('@')) throw fail(side, spec, "'' is not a user name");
  const { host, user, port } = parseUserHostPort(authority, () => fail(side, spec, 'expected ssh://[user@]host[:port]/PATH'), (value) => fail(side, spec, `port must be a number from 1 to 65535, got '${value}'`));
  let path = rest.slice(slash);
  if (path.startsWith('/./')) path = path.slice(3);
  else if (path.startsWith('/~')) path = path.slice(1);
  if (path === '' || path === '/' || path === '~' || path.endsWith('/')) throw fail(side, spec, 'names a directory, not a device or image file');
  return remote(spec, side, host, user, port, path);
}

/** `[user@]host:PATH` or `[user@][v6addr]:PATH`; undefined when the spelling is a local path. */
function parseScpStyle(spec: string, side: EndpointSide): RemoteEndpoint | undefined {
  const bracketed = /^(?:([^@/]*)@)?\[([^\]/]*)\]:(.*)$/s.exec(spec);
  let user: string | undefined;
  let host: string;
  let path: string;
  if (bracketed) {
    [, user, host, path] = bracketed;
    if (!IPV6.test(host)) throw fail(side, spec, `'[${host}]' is not an IPv6 address`);
  } else {
    const colon = spec.indexOf(':');
    const slash = spec.indexOf('/');
    // No ':' at all, or the first '/' before it: a local path (as scp and rsync read it).
    if (colon < 0 || (slash >= 0 && slash < colon)) return undefined;
    const userHost = spec.slice(0, colon);
    path = spec.slice(colon + 1);
    const at = userHost.lastIndexOf('@');
    user = at >= 0 ? userHost.slice(0, at) : undefined;
    host = userHost.slice(at + 1);
    if (host === '') throw fail(side, spec, "no host before ':' (a local path with a ':' can be written ./PATH)");
    if (!HOST_NAME.test(host)) throw fail(side, spec, `'${host}' is not a host name or address (a local path with a ':' can be written ./PATH)`);
  }
  if (path === '') throw fail(side, spec, `no path after '${host}:'`);
  if (path.endsWith('/') || path === '~') throw fail(side, spec, 'names a directory, not a device or image file');
  return remote(spec, side, host, user, undefined, path);
}

function remote(spec: string, side: EndpointSide, host: string, user: string | undefined, port: number | undefined, path: string): RemoteEndpoint {
  if (host.startsWith('-')) throw fail(side, spec, "a host name cannot start with '-'");
  if (!HOST_NAME.test(host) && !IPV6.test(host)) throw fail(side, spec, `'${host}' is not a host name or address`);
  if (user !== undefined && (user === '' || user.startsWith('-') || BLANK_OR_CONTROL.test(user))) {
    throw fail(side, spec, `'${user}' is not a user name`);
  }
  return { kind: 'remote', spec, host, ...(user !== undefined ? { user } : {}), ...(port !== undefined ? { port } : {}), path };
}

/** The same place, as far as the command line tells: refused, since a device cannot be synced with itself. */
export function sameRemotePlace(first: RemoteEndpoint, second: RemoteEndpoint): boolean {
  return first.host === second.host && first.port === second.port && first.user === second.user && first.path === second.path;
}

// The SOURCE TARGET form (`basyn [options] SOURCE TARGET`) in terms of the run's two roles, so that
// everything below the options (session, engine, bitmap) serves both forms unchanged:
//
//   SOURCE      TARGET      local role      remote role     action
//   local       local       SOURCE          TARGET (pipe)   PUSH
//   local       remote      SOURCE          TARGET          PUSH
//   remote      local       TARGET          SOURCE          PULL
//   remote      remote      SOURCE (ssh)    TARGET          PUSH   (remote to remote: localConnection)
//
// A resource endpoint counts as local (its path is known once it is acquired). -u/-p/--rsh apply to
// every remote endpoint that does not name its own user/port or have its own --source-rsh/--target-rsh.
// Pure: the environment is handed in.
import { basynError } from '../shared/errors';
import { parsePort } from './option-values';
import { parseEndpoint, sameRemotePlace, type Endpoint, type EndpointSide } from './endpoint';
import type { RawOptions } from './options';
import { sameFile } from './same-file';
import type { Role } from './transport/index';

/** What a SOURCE TARGET run's session needs to know beyond the roles' paths. */
export interface EndpointRun {
  readonly source: Endpoint;
  readonly target: Endpoint;
  /** The target's role: 'remote' unless only the source is remote (then the run is a PULL). */
  readonly targetRole: Role;
  /** Roles whose path the agent expands (`~`, `~user`): the remote endpoints'. */
  readonly homeRoles: readonly Role[];
}

/** The part of one side's connection that the endpoint form decides. */
export interface SideConnection {
  host?: string;
  port?: number;
  user?: string;
  rsh?: string;
  wrap?: string;
}

export interface EndpointForm {
  /** The options as the basyn form spells them: -l/-r/-h/-p/-u/-a/-m/--rsh filled in from the endpoints. */
  readonly raw: RawOptions;
  readonly remote: SideConnection;
  /** The local role's connection when it is not this machine's plain pipe (a remote SOURCE, a wrapper). */
  readonly local?: SideConnection;
  readonly run: EndpointRun;
}

export type Environment = Readonly<Record<string, string | undefined>>;

/** Options that belong to the SOURCE TARGET form only. */
const ENDPOINT_ONLY: ReadonlyArray<[keyof RawOptions, string]> = [
  ['sourceRsh', '--source-rsh'], ['targetRsh', '--target-rsh'], ['sourceWrap', '--source-wrap'], ['targetWrap', '--target-wrap'], ['force', '-f/--force'],
];

/** The basyn form: refuses the options that only the SOURCE TARGET form has. */
export function checkBasynForm(raw: RawOptions): void {
  for (const [key, name] of ENDPOINT_ONLY) {
    if (raw[key] !== undefined && raw[key] !== false) throw basynError('USAGE_ENDPOINT_FORM_ONLY', name);
  }
}

function sideConnection(raw: RawOptions, env: Environment, side: EndpointSide, endpoint: Endpoint): SideConnection {
  const [rshOption, wrapOption] = side === 'source' ? [raw.sourceRsh, raw.sourceWrap] : [raw.targetRsh, raw.targetWrap];
  const [rshVariable, wrapVariable] = side === 'source' ? ['BASYN_SOURCE_RSH', 'BASYN_SOURCE_WRAP'] : ['BASYN_TARGET_RSH', 'BASYN_TARGET_WRAP'];
  const wrap = wrapOption ?? (env[wrapVariable] || undefined);
  if (wrap !== undefined && wrap.trim() === '') throw basynError('USAGE_EMPTY_WRAP', side);
  if (endpoint.kind !== 'remote') {
    // An environment variable is ambient: a local endpoint ignores the RSH one. An option is not.
    if (rshOption !== undefined) throw basynError('USAGE_SIDE_RSH_LOCAL', side, side.toUpperCase(), endpoint.spec);
    return wrap !== undefined ? { wrap } : {};
  }
  const rsh = rshOption ?? (env[rshVariable] || undefined) ?? raw.rsh;
  return {
    host: endpoint.host,
    port: endpoint.port ?? parsePort(raw.port),
    user: endpoint.user ?? raw.user,
    ...(rsh !== undefined ? { rsh } : {}),
    ...(wrap !== undefined ? { wrap } : {}),
  };
}

/** Reads `basyn [options] SOURCE TARGET`; UsageError (exit 1) for anything that does not fit the form. */
export function endpointForm(raw: RawOptions, env: Environment): EndpointForm {
  const positional = raw.endpoints ?? [];
  const mixed = ([['local', '-l/--local'], ['remote', '-r/--remote'], ['host', '-h/--host'], ['action', '-a/--action']] as const)
    .filter(([key]) => raw[key] !== undefined).map(([, name]) => name);
  if (mixed.length > 0) throw basynError('USAGE_FORMS_MIXED', mixed.join(', '));
  if (positional.length !== 2) {
    throw positional.length === 1 ? basynError('USAGE_TARGET_MISSING', positional[0]) : basynError('USAGE_TOO_MANY_ENDPOINTS', positional.length);
  }
  parsePort(raw.port); // checked even when every remote endpoint names its own
  const source = parseEndpoint(positional[0], 'source');
  const target = parseEndpoint(positional[1], 'target');
  const remotes = [source, target].filter((endpoint) => endpoint.kind === 'remote');
  if (remotes.length === 0) {
    const given = [raw.user !== undefined ? '-u/--user' : '', raw.port !== undefined ? '-p/--port' : '', raw.rsh !== undefined ? '--rsh' : ''].filter(Boolean);
    if (given.length > 0) throw basynError('USAGE_NEEDS_REMOTE_ENDPOINT', given.join(', '));
  }
  if (source.kind === 'local' && target.kind === 'local' && sameFile(source.path, target.path)) {
    throw basynError('USAGE_SAME_ENDPOINT', source.path, target.path);
  }
  if (source.kind === 'remote' && target.kind === 'remote' && sameRemotePlace(source, target)) {
    throw basynError('USAGE_SAME_REMOTE_ENDPOINT', source.spec);
  }
  const sourceConnection = sideConnection(raw, env, 'source', source);
  const targetConnection = sideConnection(raw, env, 'target', target);

  // Only the source remote: the remote role is the source, the run a PULL into the local target.
  const pull = source.kind === 'remote' && target.kind !== 'remote';
  const [localEndpoint, remoteEndpoint] = pull ? [target, source] : [source, target];
  const [localConnection, remoteConnection] = pull ? [targetConnection, sourceConnection] : [sourceConnection, targetConnection];
  const pathOf = (endpoint: Endpoint): string => (endpoint.kind === 'resource' ? endpoint.spec : endpoint.path);
  const homeRoles: Role[] = [];
  if (localEndpoint.kind === 'remote') homeRoles.push('local');
  if (remoteEndpoint.kind === 'remote') homeRoles.push('remote');
  return {
    raw: {
      ...raw,
      endpoints: undefined,
      local: pathOf(localEndpoint),
      remote: pathOf(remoteEndpoint),
      host: remoteConnection.host,
      port: remoteConnection.port !== undefined ? String(remoteConnection.port) : undefined,
      user: remoteConnection.user,
      rsh: remoteConnection.rsh,
      action: pull ? 'PULL' : 'PUSH',
      // SYNC unless -m says otherwise; --verify-bitmap syncs nothing.
      mode: raw.mode ?? (raw.verifyBitmap ? undefined : 'SYNC'),
    },
    remote: remoteConnection,
    local: Object.keys(localConnection).length > 0 ? localConnection : undefined,
    run: { source, target, targetRole: pull ? 'local' : 'remote', homeRoles },
  };
}

// Picks the transport for each side of a run: the local side always runs its agent over the local
// pipe; the remote side over the local pipe without -h, ssh2 with -h, an external command with --rsh.
// The session takes a TransportFor from outside (tests pass the in-process agent, or any other).
import type { ConnectionOptions } from '../options';
import { LocalTransport } from './local';
import { RshTransport } from './rsh';
import { SshTransport } from './ssh';
import type { Transport } from './transport';

export type Role = 'local' | 'remote';

/** The transport that starts the agent for one side of a run. */
export type TransportFor = (role: Role) => Transport;

export function remoteTransport(connection: ConnectionOptions): Transport {
  if (!connection.host) return new LocalTransport(undefined, connection.wrap);
  if (connection.rsh !== undefined) return new RshTransport(connection);
  return new SshTransport(connection);
}

/**
 * What the options say: the default of runSession(). `localConnection` reaches the local role's
 * agent when it is not this machine's plain pipe (SOURCE TARGET form: a remote SOURCE of a remote to
 * remote run, or a wrapped local endpoint).
 */
export function transportsFor(connection: ConnectionOptions, localConnection?: ConnectionOptions): TransportFor {
  return (role) => (role === 'local' ? (localConnection ? remoteTransport(localConnection) : new LocalTransport()) : remoteTransport(connection));
}

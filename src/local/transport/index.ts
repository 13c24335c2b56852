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
  if (!connection.host) return new LocalTransport();
  if (connection.rsh !== undefined) return new RshTransport(connection);
  return new SshTransport(connection);
}

/** What the options say: the default of runSession(). */
export function transportsFor(connection: ConnectionOptions): TransportFor {
  return (role) => (role === 'local' ? new LocalTransport() : remoteTransport(connection));
}

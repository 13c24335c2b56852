// Picks the transport for the remote side of a run: the local pipe without -h, ssh2 with -h,
// an external command with --rsh.
import type { ConnectionOptions } from '../options';
import { LocalTransport } from './local';
import { RshTransport } from './rsh';
import { SshTransport } from './ssh';
import type { Transport } from './transport';

export function remoteTransport(connection: ConnectionOptions): Transport {
  if (!connection.host) return new LocalTransport();
  if (connection.rsh !== undefined) return new RshTransport(connection);
  return new SshTransport(connection);
}

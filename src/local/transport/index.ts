// Picks the transport for the remote side of a run: the local pipe without -h, ssh2 with -h,
// an external command with --rsh.
import type { ConnectionOptions } from '../options';
import { LocalTransport } from './local';
import type { Transport } from './transport';
import { UsageError } from '../../shared/errors';

export function remoteTransport(connection: ConnectionOptions): Transport {
  if (!connection.host) return new LocalTransport();
  throw new UsageError('SSH is not implemented yet');
}

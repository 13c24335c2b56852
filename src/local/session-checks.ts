// The checks of a run that come before anything is written, so that each failure leaves the devices
// and the state files as they were: device sizes, the -b and --changes paths, the bitmap's fit.
import { SyncError, basynError } from '../shared/errors';
import { BITMAP_FILE, BitmapStore } from './bitmap-store';
import { destinationIdentity, NO_DESTINATION } from './bitmap-identity';
import type { Options } from './options';
import type { Side } from './session-agents';
import { assertNotSameFile, checkReplaceable, resolveStatePath, type ForbiddenPlace, type StateFileKind } from './state-file';

/** -a: the source must not be empty nor larger than the destination. */
export function checkSizes(options: Options, source?: Side, destination?: Side): void {
  if (!source) throw new SyncError('internal: no source device');
  if (source.size === 0) throw basynError('DEVICE_EMPTY');
  if (destination && destination.size < source.size) {
    const [remote, local] = options.action === 'PUSH' ? [destination, source] : [source, destination];
    throw basynError(options.action === 'PUSH' ? 'SIZE_PUSH_DESTINATION_SMALLER' : 'SIZE_PULL_DESTINATION_SMALLER', remote.size, local.size);
  }
}

/** -b: locks and checks the bitmap against this run (exit 1 on any mismatch: nothing written yet). */
export async function loadBitmap(options: Options, source: Side, destination?: Side): Promise<BitmapStore> {
  const bitmap = await BitmapStore.load(options.bitmap as string, {
    layout: { deviceSize: source.size, bufferSize: options.bufferSize, chunkSize: options.chunkSize, hash: options.hash },
    destination: destination ? await identityOf(options, destination) : NO_DESTINATION,
    reset: options.resetBitmap,
    continueReset: options.resume,
    adoptChunkSize: options.chunkSizeDefaulted,
    update: options.updateBitmap,
  });
  if (!options.mode && bitmap.blank) {
    await bitmap.close();
    throw basynError('BITMAP_MISSING_FOR_RECHECK', options.bitmap ?? bitmap.path);
  }
  return bitmap;
}

export function identityOf(options: Options, destination: Side) {
  // PULL writes the local role's device: on another host in a remote to remote run.
  const connection = options.action === 'PUSH' ? options.connection : options.localConnection;
  return destinationIdentity({ path: destination.path, size: destination.size, ...(connection?.host !== undefined ? { host: connection.host, port: connection.port } : {}) });
}

/**
 * An earlier --changes output: empty, or nothing but `offset length` lines. Only such a file is
 * replaced; anything else (a file of another kind, a device, a FIFO, a directory) is refused.
 */
export const CHANGES_FILE: StateFileKind = {
  what: 'Changes file',
  probeBytes: 256 * 1024 * 1024,
  isOurs: (content, size) => content.length === size && /^(?:\d+ \d+\n)*$/.test(content.toString('latin1')),
  hint: 'basyn only replaces a file of "offset length" lines it wrote; delete or move it yourself, or choose another --changes file',
};

/**
 * Before anything is written: -b and --changes must not name a device of the run (nor each other), and
 * an existing --changes file must be one basyn wrote. Returns the --changes path, resolved once.
 */
export async function checkStateFiles(options: Options): Promise<string | undefined> {
  const devices: ForbiddenPlace[] = [
    ...(options.local ? [{ label: 'the local device', path: options.local, remote: Boolean(options.localConnection?.host) }] : []),
    ...(options.remote ? [{ label: 'the remote device', path: options.remote, remote: Boolean(options.connection.host) }] : []),
  ];
  const bitmap = options.bitmap ? await resolveStatePath(options.bitmap, BITMAP_FILE) : undefined;
  if (bitmap) {
    await assertNotSameFile(bitmap, BITMAP_FILE, devices);
    await assertNotSameFile(`${bitmap}.lock`, { what: 'Bitmap lock file' }, devices);
  }
  if (!options.changes) return undefined;
  const changes = await resolveStatePath(options.changes, CHANGES_FILE);
  await assertNotSameFile(changes, CHANGES_FILE, [...devices, ...(bitmap ? [{ label: 'the bitmap', path: bitmap }, { label: 'the bitmap lock', path: `${bitmap}.lock` }] : [])]);
  await checkReplaceable(changes, CHANGES_FILE);
  return changes;
}

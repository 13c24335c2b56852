// The destination a bitmap describes (bitmap-format.md §2.2), from what the controller knows: the
// host (or this machine), the path, the size, and for a destination on this machine the device and
// file ids from stat(). A remote destination's ids are not known to the controller: 0 (unknown).
import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { DESTINATION_KIND, type DestinationIdentity } from '../shared/bitmap';
import type { BitmapStore } from './bitmap-store';

export const NO_DESTINATION: DestinationIdentity = { kind: DESTINATION_KIND.NONE, host: '', path: '', size: 0, deviceId: 0n, fileId: 0n };

export interface DestinationPlace {
  readonly path: string;
  readonly size: number;
  /** Undefined: on this machine (the local pipe). */
  readonly host?: string;
  readonly port?: number;
}

export async function destinationIdentity(place: DestinationPlace): Promise<DestinationIdentity> {
  if (place.host !== undefined) {
    // The port tells apart machines behind one address (forwarded ports); the user does not.
    const host = place.port !== undefined ? `${place.host}:${place.port}` : place.host;
    return { kind: DESTINATION_KIND.SSH, host, path: place.path, size: place.size, deviceId: 0n, fileId: 0n };
  }
  const path = resolve(place.path);
  let deviceId = 0n;
  let fileId = 0n;
  try {
    const stat = await fs.stat(path, { bigint: true });
    // A block device's node in /dev gets a new inode at every boot: only a regular file's inode names it.
    if (stat.isBlockDevice()) deviceId = stat.rdev;
    else if (stat.isFile()) [deviceId, fileId] = [stat.dev, stat.ino];
  } catch {
    // the agent opened it; if the controller cannot stat it, the ids stay unknown
  }
  return { kind: DESTINATION_KIND.LOCAL, host: hostname(), path, size: place.size, deviceId, fileId };
}

/** --verbose lines about the bitmap in use: where it came from, and whether the last run was cut short. */
export function describeBitmap(bitmap: BitmapStore, withDestination: boolean): string[] {
  const { status } = bitmap;
  const lines = [`Using bitmap ${bitmap.path} (${status.origin}${bitmap.blank && withDestination ? ': every buffer will be sent or compared' : ''})`];
  if (bitmap.verify) {
    lines.push('Bitmap: a version 1 (Python basyn) bitmap names no destination, so it is not trusted: this run compares every buffer with the destination, as --update-bitmap does');
  }
  if (status.mismatch) lines.push(`Bitmap did not fit (${status.mismatch}): --update-bitmap rebuilds it from the destination`);
  if (status.previousRunInterrupted) {
    lines.push('Bitmap: the previous run did not end cleanly (interrupted, killed or disconnected); its entries are still valid, what it left unfinished is sent again');
  }
  if (status.origin === 'existing') lines.push(`Bitmap: last clean run ${status.lastClean ? new Date(status.lastClean).toISOString() : 'never'}`);
  return lines;
}

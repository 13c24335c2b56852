// The full comparisons: --recheck (and --repair) after or instead of a sync, and --verify-bitmap,
// the destination against the bitmap's digests.
import { basynError } from '../shared/errors';
import { BitmapStore } from './bitmap-store';
import type { Options } from './options';
import type { Reporter } from './progress';
import { recheck } from './recheck';
import type { Side } from './session-agents';
import { identityOf } from './session-checks';
import { runChunkSize } from './session-sync';
import { bitmapLayoutOf, verifyBitmap } from './verify-bitmap';

/**
 * --recheck: both devices reopened (read-only, or the destination for writing with --repair) and
 * compared in full; with -b, differing buffers are invalidated in the bitmap.
 */
export async function recheckDevices(options: Options, reporter: Reporter, seed: bigint, local: Side, remote: Side, source?: Side, bitmap?: BitmapStore): Promise<void> {
  await Promise.all([local, remote].map((side) => side.peer.open(side.path, options.repair && side !== source, options.hash, seed)));
  const size = source?.size ?? Math.min(local.size, remote.size);
  reporter.verbose(`Starting total re-check of ${size}B`);
  const progress = reporter.startProgress('RECHECK', size);
  try {
    await recheck({
      local: local.peer,
      remote: remote.peer,
      size,
      bufferSize: options.bufferSize,
      onProgress: (bytes) => progress.advance(bytes),
      source: source?.peer,
      bitmap,
      repair: options.repair ? { chunkSize: runChunkSize(options, bitmap), zlevel: options.zlevel } : undefined,
      onInfo: (text) => reporter.print(`${text}\n`),
      onRange: (kind, range) => reporter.range(kind, range),
      onInvalidated: (entries) => reporter.json?.countInvalidated(entries),
    });
  } finally {
    progress.stop();
  }
  reporter.verbose('Local and remote data MATCH');
}

/** --verify-bitmap: the destination hashed against the bitmap's digests (the layout is the bitmap's). */
export async function verifyDestination(options: Options, reporter: Reporter, destination: Side): Promise<void> {
  const path = options.bitmap as string;
  const layout = await bitmapLayoutOf(path);
  if (destination.size < layout.deviceSize) {
    throw basynError('BITMAP_DESTINATION_SMALLER', destination.path, destination.size, layout.deviceSize);
  }
  // The destination was opened with --hash; the bitmap's own hash decides.
  await destination.peer.open(destination.path, false, layout.hash, 0n);
  const bitmap = await BitmapStore.load(path, { layout, destination: await identityOf(options, destination), reset: false, update: false });
  try {
    await bitmap.open();
    reporter.verbose(`Verifying ${destination.path} against bitmap ${path}`);
    const progress = reporter.startProgress('VERIFY', layout.deviceSize);
    try {
      await verifyBitmap({
        destination: destination.peer, bitmap, onProgress: (bytes) => progress.advance(bytes), onInfo: (text) => reporter.print(`${text}\n`),
        onMismatch: (range) => reporter.range('mismatch', range),
        onInvalidated: (entries) => reporter.json?.countInvalidated(entries),
      });
    } finally {
      progress.stop();
      await bitmap.finish();
    }
  } finally {
    await bitmap.close();
  }
}

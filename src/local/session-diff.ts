// --diff: the run that writes a patch file instead of the destination (patch-writer.ts writes it).
import { decodeBlock } from '../shared/block-codec';
import { SyncError, basynError } from '../shared/errors';
import type { Extent } from '../shared/geometry';
import { BitmapStore } from './bitmap-store';
import { destinationIdentity, NO_DESTINATION } from './bitmap-identity';
import { runEngine } from './engine';
import type { Options } from './options';
import { PatchWriter } from './patch-writer';
import type { Reporter } from './progress';
import type { Side } from './session-agents';
import { runChunkSize, type SyncFigures } from './session-sync';
import { patchDigest } from '../shared/hash';

/**
 * --diff: compare as a SYNC does, but the differing blocks go to a patch file; the destination is
 * only read (for the comparison and for the pre-image digests of the ranges the patch overwrites).
 */
export async function diffDevices(options: Options, reporter: Reporter, local?: Side, remote?: Side): Promise<Partial<SyncFigures>> {
  const push = options.action === 'PUSH';
  const source = push ? local : remote;
  const destination = push ? remote : local;
  // An invariant: session.ts opens the source before a --diff run gets here.
  if (!source) throw new SyncError('internal: no source device');
  if (source.size === 0 || destination?.size === 0) throw basynError('DEVICE_EMPTY');
  const targetSize = destination?.size ?? source.size;
  if (targetSize !== source.size && options.diffSize === 'strict') {
    throw basynError('PATCH_SIZES_DIFFER', source.size, targetSize);
  }
  const compared = Math.min(source.size, targetSize);
  const bitmap = options.bitmap && (!destination || options.diffAdvancesBitmap)
    ? await BitmapStore.load(options.bitmap, {
      layout: { deviceSize: source.size, bufferSize: options.bufferSize, chunkSize: options.chunkSize, hash: options.hash },
      destination: destination
        ? await destinationIdentity({ path: destination.path, size: destination.size, ...(destination === remote ? { host: options.connection.host, port: options.connection.port } : {}) })
        : NO_DESTINATION,
      reset: false,
      adoptChunkSize: options.chunkSizeDefaulted,
      update: false,
    })
    : undefined;
  if (bitmap && compared !== source.size) throw basynError('PATCH_BITMAP_SIZES_DIFFER');
  const chunkSize = runChunkSize(options, bitmap);
  // With a bitmap its digests stand for the target's pre-image (the destination is not read), so the
  // patch carries the bitmap's hash; otherwise the destination's bytes are hashed with the patch's.
  const digest = bitmap ? bitmap.layout.hash : options.patchHash;
  const readRange = async (side: Side, range: Extent) => decodeBlock(await side.peer.read(range, 0));
  const writer = await PatchWriter.create(options.diff as string, {
    format: options.diffFormat,
    digest,
    sizeMode: options.diffSize,
    blockSize: chunkSize > 0 ? chunkSize : options.bufferSize,
    bufferSize: options.bufferSize,
    sourceSize: options.diffSize === 'minsize' && options.diffFormat === 'bdsync' ? compared : source.size,
    targetSize,
    targetName: destination?.path ?? '',
    bitmapPreImages: Boolean(bitmap),
    preImageOf: destination ? async (range) => patchDigest(digest, await readRange(destination, range)) : undefined,
    tail: async (patch) => {
      // --diffsize resize, larger source: the tail is compared with zeros (the grown target's holes).
      const step = chunkSize > 0 ? chunkSize : options.bufferSize;
      if (options.diffSize !== 'resize') return;
      for (let offset = compared; offset < source.size; offset += step) {
        await patch.writeTail(offset, await readRange(source, { offset, length: Math.min(step, source.size - offset) }));
      }
    },
  });
  await bitmap?.open();
  reporter.verbose(`Writing the differences to ${options.diff === '-' ? 'stdout' : options.diff} (${options.diffFormat} format)`);
  const progress = reporter.startProgress(options.mode ?? 'SYNC', compared);
  try {
    const result = await runEngine({
      mode: 'SYNC', source: source.peer, destination: bitmap ? undefined : destination?.peer, size: compared,
      bufferSize: options.bufferSize, chunkSize, zlevel: options.diffFormat === 'bdsync' ? 0 : options.zlevel,
      bitmap, updateBitmap: false, sink: writer,
      onProgress: (bytes) => progress.advance(bytes),
      debug: options.debug ? (text) => reporter.debug(text) : undefined,
    });
    await bitmap?.finish();
    progress.stop();
    for (const range of result.changed) reporter.range('changed', range);
    reporter.verbose(`Patch written: ${result.changedBytes} bytes differed${bitmap ? ', bitmap advanced' : ''}`);
    return { passes: 1, changedBuffers: result.changedBuffers, changedBytes: result.changedBytes };
  } catch (error) {
    await writer.abandon();
    throw error;
  } finally {
    progress.stop();
    await bitmap?.close();
  }
}

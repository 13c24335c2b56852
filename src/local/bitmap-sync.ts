// One buffer of a SYNC with a bitmap (bitmap-format.md §5): decide from the stored digests what to
// send, mark those entries unknown durably before any destination write, and stage the digests of
// what the destination now holds. The engine owns the loop and the FLUSH-then-commit batches.
//
//   plain bitmap SYNC   the destination is never read; a staged digest is computed by the controller
//                       from the very bytes it forwarded
//   --update-bitmap     both sides are hashed; staged digests are read back from the destination
//   bitmap-only         no destination: entries describe the source as seen (nothing to protect)
import { createHash } from 'node:crypto';
import { decodeBlock } from '../shared/block-codec';
import { chunkExtents, type Extent } from '../shared/geometry';
import { splitDigests, type HashAlgorithm } from '../shared/hash';
import type { EncodedBlock } from '../shared/protocol';
import type { BitmapStore } from './bitmap-store';
import type { Peer } from './peer';

export interface BitmapSyncJob {
  readonly source: Peer;
  /** Absent in bitmap-only mode. */
  readonly destination?: Peer;
  readonly bitmap: BitmapStore;
  readonly updateBitmap: boolean;
  /** Reads a range from the source and writes it to the destination; resolves after WRITTEN. */
  transfer(extent: Extent): Promise<EncodedBlock>;
  /** Undefined unless --debug: `debug?.(...)` then skips building the text (it has hex digests). */
  debug?: (text: string) => void;
}

/** Digest computed by the controller (bitmaps never use salted hashes, so node:crypto has it). */
function digest(algorithm: HashAlgorithm, data: Uint8Array): Buffer {
  if (!algorithm.nodeName) throw new Error(`${algorithm.name} cannot be used with a bitmap`);
  return createHash(algorithm.nodeName).update(data).digest();
}

/** Syncs buffer `index` (`extent`) and returns the ranges found changed (sent, unless bitmap-only). */
export async function syncBufferWithBitmap(job: BitmapSyncJob, index: number, extent: Extent): Promise<Extent[]> {
  if (job.updateBitmap && job.destination) return updateBuffer(job, job.destination, index, extent);
  const { source, destination, bitmap } = job;
  const chunkSize = bitmap.layout.chunkSize;
  const chunks = chunkSize > 0 ? chunkExtents(extent, chunkSize) : [];
  const chunksDecide = source.role === 'local' && chunks.length > 1 && chunks.every((_, chunk) => bitmap.entry(index, 1 + chunk) !== undefined);
  if (chunksDecide) {
    // Every chunk entry is known and the source is on this machine: the chunk digests alone decide, in
    // one pass over the source. (From a remote source they would cost 32 digests per buffer on the
    // wire instead of one: there the buffer digest is asked first.)
    return syncChunks(job, index, chunks, splitDigests(await source.hash(extent, chunkSize), chunks.length));
  }
  const sourceDigest = await source.hash(extent);
  const stored = bitmap.entry(index);
  if (stored && sourceDigest.equals(stored)) return [];
  job.debug?.(`buffer ${index} at ${extent.offset}: source ${sourceDigest.toString('hex')}, bitmap ${stored?.toString('hex') ?? 'unknown'}`);

  if (chunkSize === 0) {
    if (!destination) {
      bitmap.stage(index, 0, sourceDigest);
      return [extent];
    }
    await bitmap.markUnknown(index);
    const data = await decodeBlock(await job.transfer(extent));
    bitmap.stage(index, 0, digest(bitmap.layout.hash, data));
    return [extent];
  }

  return syncChunks(job, index, chunks, splitDigests(await source.hash(extent, chunkSize), chunks.length), sourceDigest);
}

/**
 * The chunks of buffer `index` whose stored digest is unknown or differs from the source's travel.
 * `sourceDigest` is the buffer's own digest when it was computed (it then replaces the stored one in
 * bitmap-only mode; otherwise that entry is staged unknown there, as it may no longer describe the source).
 */
async function syncChunks(job: BitmapSyncJob, index: number, chunks: Extent[], sourceChunks: Buffer[], sourceDigest?: Buffer): Promise<Extent[]> {
  const { destination, bitmap } = job;
  const changed = chunks.map((_, chunk) => chunk).filter((chunk) => {
    const entry = bitmap.entry(index, 1 + chunk);
    return !entry || !entry.equals(sourceChunks[chunk]);
  });
  if (!destination) {
    if (changed.length === 0 && !sourceDigest) return [];
    bitmap.stage(index, 0, sourceDigest ?? Buffer.alloc(bitmap.layout.hash.digestLength));
    for (const chunk of changed) bitmap.stage(index, 1 + chunk, sourceChunks[chunk]);
    return changed.map((chunk) => chunks[chunk]);
  }
  // Every chunk already matches (the buffer entry was left unknown by an earlier partial write).
  if (changed.length === 0) return [];
  await bitmap.markUnknown(index, changed.map((chunk) => 1 + chunk));
  const written = await Promise.all(changed.map(async (chunk) => decodeBlock(await job.transfer(chunks[chunk]))));
  changed.forEach((chunk, position) => bitmap.stage(index, 1 + chunk, digest(bitmap.layout.hash, written[position])));
  // The buffer digest is known only when this run forwarded every byte of the buffer (§5.4).
  if (changed.length === chunks.length) bitmap.stage(index, 0, digest(bitmap.layout.hash, Buffer.concat(written)));
  return changed.map((chunk) => chunks[chunk]);
}

/** --update-bitmap: compare with the destination itself; stage the destination's own digests. */
async function updateBuffer(job: BitmapSyncJob, destination: Peer, index: number, extent: Extent): Promise<Extent[]> {
  const { source, bitmap } = job;
  const chunkSize = bitmap.layout.chunkSize;
  const chunks = chunkSize > 0 ? chunkExtents(extent, chunkSize) : [];
  const [sourceDigest, destinationDigest] = await Promise.all([source.hash(extent), destination.hash(extent)]);

  const stageDestination = async (buffer: Buffer) => {
    bitmap.stage(index, 0, buffer);
    if (chunkSize === 0) return;
    splitDigests(await destination.hash(extent, chunkSize), chunks.length).forEach((entry, chunk) => bitmap.stage(index, 1 + chunk, entry));
  };
  if (sourceDigest.equals(destinationDigest)) {
    await stageDestination(destinationDigest);
    return [];
  }
  job.debug?.(`buffer ${index} at ${extent.offset}: source ${sourceDigest.toString('hex')}, destination ${destinationDigest.toString('hex')} differ`);

  let changed = [extent];
  if (chunkSize > 0 && chunks.length > 1) {
    const [sourceChunks, destinationChunks] = await Promise.all([source.hash(extent, chunkSize), destination.hash(extent, chunkSize)]);
    const sourceList = splitDigests(sourceChunks, chunks.length);
    const destinationList = splitDigests(destinationChunks, chunks.length);
    changed = chunks.filter((_, chunk) => !sourceList[chunk].equals(destinationList[chunk]));
  }
  await bitmap.markUnknown(index, chunks.map((_, chunk) => 1 + chunk));
  await Promise.all(changed.map((range) => job.transfer(range)));
  // Read back what the destination holds now; committed only after the FLUSH that makes it durable.
  await stageDestination(await destination.hash(extent));
  return changed;
}

// The one read / hash / compare / refine / transfer loop. PUSH and PULL are the same loop with the
// peers swapped (the session decides which peer is the source); COPY and SYNC differ only in whether
// digests are compared. Buffers are processed by a bounded pool of workers, so requests to both
// agents stay pipelined (never one round trip per block) and memory stays flat.
//
// The first error stops the run at once: no buffer starts after it and no write is issued after it
// is known (a failed WRITE or FLUSH, a failed bitmap commit, a protocol error). Digests staged for a
// batch whose FLUSH failed are never committed, so the bitmap claims nothing that was not flushed.
import { appendExtent, bufferCount, bufferExtent, chunkExtents, refinementChunkSize, type Extent } from '../shared/geometry';
import { payloadLength, type EncodedBlock } from '../shared/protocol';
import type { BitmapStore } from './bitmap-store';
import { BitmapSync } from './bitmap-sync';
import { differingExtents } from './compare';
import { DurableFrontier } from './durable-frontier';
import type { Peer } from './peer';
import type { BlockSink } from './patch-writer';

export interface EngineJob {
  readonly mode: 'SYNC' | 'COPY';
  readonly source: Peer;
  /** Absent in bitmap-only mode: only the bitmap is updated. */
  readonly destination?: Peer;
  /** Bytes to sync: the source size. */
  readonly size: number;
  readonly bufferSize: number;
  /** The run's chunk size, decided once by the session (a bitmap's own when there is one); 0 = none. */
  readonly chunkSize: number;
  readonly zlevel: number;
  /** With a bitmap, the destination is never read: its stored digests stand in for it (bitmap-sync.ts). */
  readonly bitmap?: BitmapStore;
  /** --update-bitmap: compare against the destination itself and rewrite every entry. */
  readonly updateBitmap: boolean;
  /** Unknown bitmap entries are compared with the destination, not sent whole (false: --reset-bitmap). */
  readonly compareUnknown?: boolean;
  /**
   * --diff: differing blocks go here instead of to the destination, which is then only read. Bitmap
   * digests are staged as usual but committed only at the end, after the sink's finish() made the
   * whole patch durable (a bitmap entry never claims data that is in no complete patch).
   */
  readonly sink?: BlockSink & { finish(): Promise<void> };
  readonly onProgress: (bytes: number) => void;
  /** Bytes of a buffer found different (sent, unless bitmap-only), as each buffer is done: progress and --json. */
  readonly onChanged?: (bytes: number) => void;
  /** Undefined unless --debug: `debug?.(...)` then skips building the text, once per buffer. */
  readonly debug?: (text: string) => void;
  /** Resume: the first buffer to sync (the buffers before it were synced by an interrupted run). */
  readonly startIndex?: number;
  /** Only these buffers (ascending), e.g. a later --passes pass over what the previous one sent; default: all. */
  readonly indexes?: readonly number[];
  /** Resume checkpoints: saves an offset below which every write is acknowledged and flushed (durable-frontier.ts). */
  readonly checkpoint?: { readonly save: (offset: number) => Promise<void>; readonly everyMs: number };
}

export interface EngineResult {
  /** Source ranges found different (and sent, unless bitmap-only), merged. */
  readonly changed: Extent[];
  readonly changedBytes: number;
  /** Buffers with at least one changed range. */
  readonly changedBuffers: number;
  /** Bytes written to the destination (after refinement). */
  readonly sentBytes: number;
}

/**
 * Bytes of buffers in progress at once. Comparing, enough to keep both agents busy across a 50 ms
 * round trip at about 1 GB/s (only digests travel back). Copying, every byte in flight is also held
 * by the controller and the transport, so half that keeps peak memory under 250 MB.
 */
export const IN_FLIGHT_BYTES = { compare: 64 * 1024 * 1024, copy: 32 * 1024 * 1024 };

/** Buffers in progress at once for a buffer size (also used by the recheck). */
export function workersFor(bufferSize: number, mode: 'SYNC' | 'COPY' = 'SYNC'): number {
  const budget = mode === 'COPY' ? IN_FLIGHT_BYTES.copy : IN_FLIGHT_BYTES.compare;
  return Math.max(2, Math.min(32, Math.floor(budget / bufferSize)));
}

/**
 * Runs `work` over every buffer index with at most `workers` in flight; starts no buffer after the
 * first error, or once `stopped()` says so.
 */
export async function forEachBuffer(count: number, workers: number, work: (index: number) => Promise<void>, stopped = () => false): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && !stopped() && next < count) {
      const index = next++;
      try {
        await work(index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(workers, count) }, worker));
  const rejected = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (rejected) throw rejected.reason;
}

export async function runEngine(job: EngineJob): Promise<EngineResult> {
  const { source, destination } = job;
  const changedByIndex = new Map<number, Extent[]>();
  let sentBytes = 0;
  /** The first error of the run: nothing is read, written or started after it. */
  let failure: unknown;
  const fail = (error: unknown): void => {
    if (failure !== undefined) return;
    failure = error;
    job.debug?.(`stopping at the first error, no more writes: ${(error as Error)?.message ?? String(error)}`);
  };
  const checkFailure = (): void => {
    if (failure !== undefined) throw failure;
  };

  /** Forwards a range; resolves with the block written, once the destination acknowledged it. */
  const transfer = async (to: Pick<Peer, 'write'>, extent: Extent): Promise<EncodedBlock> => {
    checkFailure();
    const block = await source.read(extent, job.zlevel);
    checkFailure();
    await to.write(extent.offset, block);
    sentBytes += extent.length;
    job.debug?.(`wrote ${extent.length} bytes at ${extent.offset} (${payloadLength(block)} on the wire, encoding ${block.encoding})`);
    return block;
  };
  // Marks, transfers, staged digests and FLUSH-then-commit batches: one module (bitmap-sync.ts).
  const bitmap = job.bitmap && new BitmapSync({
    source, destination, bitmap: job.bitmap, chunkSize: job.chunkSize, updateBitmap: job.updateBitmap, compareUnknown: job.compareUnknown ?? false, transfer, debug: job.debug,
  });

  /** Bitmap-only --diff: each changed range goes to the patch, a bitmap entry (chunk or buffer) per record. */
  const sendToSink = async (sink: BlockSink, preImages: Map<number, PreImage>, changed: Extent[]) => {
    for (const range of changed) {
      for (const [offset, entry] of preImages) {
        if (offset < range.offset || offset >= range.offset + range.length) continue;
        const piece = { offset, length: Math.min(entry.length, range.offset + range.length - offset) };
        const block = await source.read(piece, job.zlevel);
        await sink.write(piece.offset, block, entry.digest ?? null);
        sentBytes += piece.length;
      }
    }
  };

  const syncBuffer = async (index: number): Promise<void> => {
    const extent = bufferExtent(index, job.size, job.bufferSize);
    if (job.mode === 'COPY') {
      const target = job.sink ?? destination;
      if (target) await transfer(target, extent);
      changedByIndex.set(index, [extent]);
      return;
    }
    if (bitmap) {
      // Bitmap-only --diff: the bitmap's digests stand for the target's pre-image (read before they are restaged).
      const preImages = job.sink && !destination && job.bitmap ? bitmapPreImages(job.bitmap, job.chunkSize, index, extent) : undefined;
      const changed = await bitmap.buffer(index, extent);
      if (changed.length > 0) changedByIndex.set(index, changed);
      if (preImages && job.sink) await sendToSink(job.sink, preImages, changed);
      return;
    }
    if (!destination) throw new Error('internal: SYNC without a bitmap needs a destination');
    // With chunks, both sides hash the buffer chunk by chunk in their first and only pass: a differing
    // buffer needs no second read, and only its differing chunks travel (adjacent ones merged).
    const chunkSize = refinementChunkSize(extent, job.chunkSize);
    const [sourceDigests, destinationDigests] = await Promise.all([source.hash(extent, chunkSize), destination.hash(extent, chunkSize)]);
    const differing = differingExtents(extent, chunkSize, sourceDigests, destinationDigests);
    job.debug?.(`buffer ${index} at ${extent.offset}: ${differing.length === 0 ? 'same' : `${differing.length} differing range(s)`}`);
    if (differing.length === 0) return;
    changedByIndex.set(index, differing);
    await Promise.all(differing.map((range) => transfer(job.sink ?? destination, range)));
  };

  const startIndex = job.startIndex ?? 0;
  const indexes = job.indexes ?? { length: bufferCount(job.size, job.bufferSize) - startIndex };
  const indexAt = (position: number) => (job.indexes ? job.indexes[position] : startIndex + position);
  // Checkpoints follow the destination's flushes (durable-frontier.ts); never for --diff, which writes no destination.
  const frontier = destination && !job.sink && !job.indexes && job.checkpoint
    ? new DurableFrontier({
      destination, startIndex, bufferSize: job.bufferSize, size: job.size, save: job.checkpoint.save, everyMs: job.checkpoint.everyMs,
      onError: fail, stopped: () => failure !== undefined,
    })
    : undefined;

  await forEachBuffer(indexes.length, workersFor(job.bufferSize, job.mode), async (position) => {
    const index = indexAt(position);
    try {
      await syncBuffer(index);
    } catch (error) {
      fail(error);
      throw error;
    }
    frontier?.bufferDone(index);
    const changed = changedByIndex.get(index);
    if (changed) job.onChanged?.(changed.reduce((sum, extent) => sum + extent.length, 0));
    await job.sink?.bufferDone(index);
    job.onProgress(bufferExtent(index, job.size, job.bufferSize).length);
    if (!job.sink) bitmap?.afterBuffer()?.catch(fail); // with --diff: committed once the whole patch is durable
  }, () => failure !== undefined);
  checkFailure();
  await frontier?.settle();
  if (job.sink) await job.sink.finish();
  await bitmap?.finish();
  if (destination && !job.sink) await destination.flush();

  const changed: Extent[] = [];
  let changedBytes = 0;
  for (const index of [...changedByIndex.keys()].sort((a, b) => a - b)) {
    for (const extent of changedByIndex.get(index) as Extent[]) {
      appendExtent(changed, extent);
      changedBytes += extent.length;
    }
  }
  return { changed, changedBytes, changedBuffers: changedByIndex.size, sentBytes };
}

interface PreImage {
  readonly length: number;
  /** undefined: the bitmap entry is unknown. */
  readonly digest?: Buffer;
}

/** The bitmap's digests of buffer `index`, by offset: per chunk, or the buffer's own without chunks. */
function bitmapPreImages(bitmap: BitmapStore, chunkSize: number, index: number, extent: Extent): Map<number, PreImage> {
  const result = new Map<number, PreImage>();
  if (chunkSize === 0 || chunkSize >= extent.length) {
    const entry = chunkSize === 0 ? bitmap.entry(index) : bitmap.entry(index, 1) ?? bitmap.entry(index);
    result.set(extent.offset, { length: extent.length, digest: entry && Buffer.from(entry) });
    return result;
  }
  chunkExtents(extent, chunkSize).forEach((chunk, position) => {
    const entry = bitmap.entry(index, 1 + position);
    result.set(chunk.offset, { length: chunk.length, digest: entry && Buffer.from(entry) });
  });
  return result;
}

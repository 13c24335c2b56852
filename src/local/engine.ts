// The one read / hash / compare / refine / transfer loop. PUSH and PULL are the same loop with the
// peers swapped (the session decides which peer is the source); COPY and SYNC differ only in whether
// digests are compared. Buffers are processed by a bounded pool of workers, so requests to both
// agents stay pipelined (never one round trip per block) and memory stays flat.
import { appendExtent, bufferCount, bufferExtent, chunkExtents, type Extent } from '../shared/geometry';
import type { BitmapStore } from './bitmap-store';
import { syncBufferWithBitmap } from './bitmap-sync';
import type { EncodedBlock } from '../shared/protocol';
import type { Peer } from './peer';

export interface EngineJob {
  readonly mode: 'SYNC' | 'COPY';
  readonly source: Peer;
  /** Absent in bitmap-only mode: only the bitmap is updated. */
  readonly destination?: Peer;
  /** Bytes to sync: the source size. */
  readonly size: number;
  readonly bufferSize: number;
  readonly chunkSize: number;
  readonly zlevel: number;
  /** With a bitmap, the destination is never read: its stored digests stand in for it. */
  readonly bitmap?: BitmapStore;
  /** --update-bitmap: compare against the destination itself and rewrite every entry. */
  readonly updateBitmap: boolean;
  readonly onProgress: (bytes: number) => void;
  readonly debug: (text: string) => void;
}

export interface EngineResult {
  /** Source ranges found different (and sent, unless bitmap-only), merged. */
  readonly changed: Extent[];
  readonly changedBytes: number;
  /** Bytes written to the destination (after refinement). */
  readonly sentBytes: number;
}

/** Buffers in progress at once. */
const WORKERS = 8;
/** The destination is flushed and the bitmap committed after this many bytes written... */
const COMMIT_EVERY_BYTES = 64 * 1024 * 1024;
/** ...or this many buffers with new digests, whichever comes first (bounds what a crash resends). */
const COMMIT_EVERY_BUFFERS = 64;

/** Runs `work` over every buffer index with at most `workers` in flight; stops at the first error. */
export async function forEachBuffer(count: number, workers: number, work: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < count) {
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
  const { source, destination, bitmap } = job;
  const changedByIndex = new Map<number, Extent[]>();
  let sentBytes = 0;
  let uncommittedBytes = 0;
  let committing: Promise<void> = Promise.resolve();

  /** Flushes the destination, then makes the staged bitmap digests durable: never the other way round. */
  const commit = (): Promise<void> => {
    uncommittedBytes = 0;
    committing = committing.then(async () => {
      if (!bitmap || bitmap.stagedCount === 0) return;
      const batch = bitmap.takeStaged(); // before FLUSH is sent: the FLUSH covers every write they describe
      if (destination) await destination.flush();
      await bitmap.commit(batch);
    });
    return committing;
  };

  /** Forwards a range; resolves with the block written, once the destination acknowledged it. */
  const transfer = async (extent: Extent): Promise<EncodedBlock | undefined> => {
    if (!destination) return undefined;
    const block = await source.read(extent, job.zlevel);
    await destination.write(extent.offset, block);
    sentBytes += extent.length;
    uncommittedBytes += extent.length;
    job.debug(`wrote ${extent.length} bytes at ${extent.offset} (${block.bytes.length} on the wire, encoding ${block.encoding})`);
    return block;
  };

  /** Sends only the chunks whose digests differ (both sides hash the buffer chunk by chunk). */
  const transferRefined = async (extent: Extent): Promise<void> => {
    if (!destination) return;
    const [sourceDigests, destinationDigests] = await Promise.all([
      source.hash(extent, job.chunkSize),
      destination.hash(extent, job.chunkSize),
    ]);
    const length = sourceDigests.length / chunkExtents(extent, job.chunkSize).length;
    const chunks = chunkExtents(extent, job.chunkSize);
    await Promise.all(
      chunks.map((chunk, index) => {
        const same = sourceDigests.subarray(index * length, (index + 1) * length).equals(destinationDigests.subarray(index * length, (index + 1) * length));
        return same ? undefined : transfer(chunk).then(() => undefined);
      }),
    );
  };

  const syncBuffer = async (index: number): Promise<void> => {
    const extent = bufferExtent(index, job.size, job.bufferSize);
    if (job.mode === 'COPY') {
      await transfer(extent);
      changedByIndex.set(index, [extent]);
      return;
    }
    if (bitmap) {
      // Marks, transfers and staged digests per bitmap-format.md §5 (src/local/bitmap-sync.ts).
      const changed = await syncBufferWithBitmap({
        source, destination, bitmap, updateBitmap: job.updateBitmap, debug: job.debug,
        transfer: async (range) => (await transfer(range)) as EncodedBlock,
      }, index, extent);
      if (changed.length > 0) changedByIndex.set(index, changed);
      return;
    }
    const [sourceDigest, destinationDigest] = await Promise.all([source.hash(extent), destination?.hash(extent)]);
    const same = destinationDigest !== undefined && sourceDigest.equals(destinationDigest);
    job.debug(`buffer ${index} at ${extent.offset}: source ${sourceDigest.toString('hex')}, destination ${destinationDigest?.toString('hex') ?? 'unknown'}${same ? '' : ' differ'}`);
    if (!same) {
      changedByIndex.set(index, [extent]);
      if (job.chunkSize > 0 && job.chunkSize < extent.length) await transferRefined(extent);
      else await transfer(extent);
    }
  };

  await forEachBuffer(bufferCount(job.size, job.bufferSize), WORKERS, async (index) => {
    await syncBuffer(index);
    job.onProgress(bufferExtent(index, job.size, job.bufferSize).length);
    if (uncommittedBytes >= COMMIT_EVERY_BYTES || (bitmap?.stagedCount ?? 0) >= COMMIT_EVERY_BUFFERS) void commit().catch(() => undefined);
  });
  await commit();
  if (destination) await destination.flush();

  const changed: Extent[] = [];
  let changedBytes = 0;
  for (const index of [...changedByIndex.keys()].sort((a, b) => a - b)) {
    for (const extent of changedByIndex.get(index) as Extent[]) {
      appendExtent(changed, extent);
      changedBytes += extent.length;
    }
  }
  return { changed, changedBytes, sentBytes };
}

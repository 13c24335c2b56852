// A SYNC with a bitmap (bitmap-format.md §5). This module owns the order that keeps the bitmap true
// after any crash, for every destination write:
//
//   1. mark unknown   the entries the write touches, durably (BitmapStore.markUnknown resolves after fsync)
//   2. write          read from the source, write to the destination, wait for WRITTEN
//   3. stage          the digests of the bytes written (in memory only)
//   4. flush          FLUSH the destination, covering every write whose digests were staged before it
//   5. commit         write the staged digests to the bitmap and fsync (BitmapStore.commit)
//
// The engine calls buffer() for each buffer, afterBuffer() after each, and finish() at the end; it
// never touches the bitmap itself. The store does the file I/O, in the order this module asks.
//
//   plain bitmap SYNC   a buffer the bitmap knows: the destination is never read; a staged digest is
//                       computed by the controller from the very bytes it forwarded
//   unknown entries     (a new bitmap, or entries a crash left unknown) are settled by comparing with
//                       the destination, as --update-bitmap does, so a first run is a SYNC, not a COPY;
//                       with --reset-bitmap (compareUnknown false) they are sent, the destination unread
//   --update-bitmap     both sides are hashed; staged digests are read back from the destination
//   bitmap-only         no destination: entries describe the source as seen (nothing to protect)
//
// The same steps serve the full comparisons outside a SYNC (invalidateEntries, recordRepaired below):
//
//   --recheck, --verify-bitmap   step 1 alone: buffers found different are marked unknown
//   --repair                     step 1, then recheck.ts writes, flushes and compares again; only
//                                a clean compare lets steps 3-5 record the destination's digests
import { decodeBlock } from '../shared/block-codec';
import { bufferExtent, chunkExtents, type Extent } from '../shared/geometry';
import { createHasher, splitDigests, type Hasher } from '../shared/hash';
import type { EncodedBlock } from '../shared/protocol';
import type { BitmapStore } from './bitmap-store';
import { differingChunks } from './compare';
import type { Peer } from './peer';

/** The destination is flushed and the bitmap committed after this many bytes written... */
export const COMMIT_EVERY_BYTES = 64 * 1024 * 1024;
/** ...or this many buffers with new digests, whichever comes first (bounds what a crash resends). */
export const COMMIT_EVERY_BUFFERS = 64;

export interface BitmapSyncJob {
  readonly source: Peer;
  /** Absent in bitmap-only mode. */
  readonly destination?: Peer;
  readonly bitmap: BitmapStore;
  /** The run's chunk size (the session's one decision: the bitmap's own, 0 = none). */
  readonly chunkSize: number;
  readonly updateBitmap: boolean;
  /**
   * A buffer whose entry is unknown (and whose chunk entries cannot decide) is compared with the
   * destination instead of being sent whole; false with --reset-bitmap ("send everything, never read
   * the destination").
   */
  readonly compareUnknown: boolean;
  /** Reads a range from the source and writes it to `destination`; resolves after WRITTEN. */
  transfer(destination: Peer, extent: Extent): Promise<EncodedBlock>;
  /** Undefined unless --debug: `debug?.(...)` then skips building the text (it has hex digests). */
  debug?: (text: string) => void;
}

export class BitmapSync {
  /** The bitmap's digest, computed here from forwarded bytes (XXH3's WebAssembly is instantiated asynchronously). */
  private readonly hasher: Promise<Hasher>;
  private uncommittedBytes = 0;
  private committing: Promise<void> = Promise.resolve();

  constructor(private readonly job: BitmapSyncJob) {
    // Bitmaps never hold salted digests (options.ts refuses them): no seed.
    this.hasher = createHasher(job.bitmap.layout.hash);
  }

  /** Syncs buffer `index` (`extent`) and returns the ranges found changed (sent, unless bitmap-only). */
  async buffer(index: number, extent: Extent): Promise<Extent[]> {
    const { source, destination, bitmap, chunkSize } = this.job;
    if (this.job.updateBitmap && destination) return this.updateBuffer(destination, index, extent);
    const chunks = chunkSize > 0 ? chunkExtents(extent, chunkSize) : [];
    const chunksDecide = source.role === 'local' && chunks.length > 1 && chunks.every((_, chunk) => bitmap.entry(index, 1 + chunk) !== undefined);
    if (chunksDecide) {
      // Every chunk entry is known and the source is on this machine: the chunk digests alone decide, in
      // one pass over the source. (From a remote source they would cost 32 digests per buffer on the
      // wire instead of one: there the buffer digest is asked first.)
      return this.syncChunks(index, chunks, splitDigests(await source.hash(extent, chunkSize), chunks.length));
    }
    const stored = bitmap.entry(index);
    if (!stored && destination && this.job.compareUnknown) return this.compareBuffer(destination, index, extent, chunks);
    if (!stored && destination && chunks.every((_, chunk) => bitmap.entry(index, 1 + chunk) === undefined)) {
      // --reset-bitmap: nothing is known and nothing is compared, so the buffer is sent without hashing the
      // source first; its digests come from the forwarded bytes (one read of the source, as a COPY).
      return this.sendUnknown(destination, index, extent, chunks);
    }
    const sourceDigest = await source.hash(extent);
    if (stored && sourceDigest.equals(stored)) return [];
    this.job.debug?.(`buffer ${index} at ${extent.offset}: source ${sourceDigest.toString('hex')}, bitmap ${stored?.toString('hex') ?? 'unknown'}`);

    if (chunkSize === 0) {
      if (!destination) {
        bitmap.stage(index, 0, sourceDigest);
        return [extent];
      }
      const [written] = await this.write(destination, index, [], [extent]);
      bitmap.stage(index, 0, await this.digestOf(written));
      return [extent];
    }
    return this.syncChunks(index, chunks, splitDigests(await source.hash(extent, chunkSize), chunks.length), sourceDigest);
  }

  /**
   * After each buffer: flushes the destination and commits, when enough is staged or written. Returns
   * that commit, if one started: its failure (a failed FLUSH) must stop the run (engine.ts).
   */
  afterBuffer(): Promise<void> | undefined {
    if (this.uncommittedBytes >= COMMIT_EVERY_BYTES || this.job.bitmap.stagedCount >= COMMIT_EVERY_BUFFERS) return this.commit();
    return undefined;
  }

  /** The last commit; resolves once every staged digest is durable (after the destination's FLUSH). */
  finish(): Promise<void> {
    return this.commit();
  }

  /**
   * Steps 1-2 for the `ranges` of buffer `index` (chunk entries `chunkSlots`, the buffer entry always):
   * marks them unknown durably, then writes them; resolves with the blocks written, once acknowledged.
   */
  private async write(destination: Peer, index: number, chunkSlots: number[], ranges: Extent[]): Promise<EncodedBlock[]> {
    await this.job.bitmap.markUnknown(index, chunkSlots);
    return Promise.all(ranges.map(async (range) => {
      const block = await this.job.transfer(destination, range);
      this.uncommittedBytes += range.length;
      return block;
    }));
  }

  /** Step 3 for plain bitmap SYNCs: the digest of the very bytes forwarded. */
  private async digestOf(block: EncodedBlock): Promise<Buffer> {
    return (await this.hasher).digest(await decodeBlock(block));
  }

  /** Steps 4-5, one commit at a time. */
  private commit(): Promise<void> {
    const { bitmap, destination } = this.job;
    this.uncommittedBytes = 0;
    this.committing = this.committing.then(() => flushThenCommit(bitmap, destination));
    return this.committing;
  }

  /**
   * The chunks of buffer `index` whose stored digest is unknown or differs from the source's travel.
   * `sourceDigest` is the buffer's own digest when it was computed (it then replaces the stored one in
   * bitmap-only mode; otherwise that entry is staged unknown there, as it may no longer describe the source).
   */
  private async syncChunks(index: number, chunks: Extent[], sourceChunks: Buffer[], sourceDigest?: Buffer): Promise<Extent[]> {
    const { destination, bitmap } = this.job;
    const changed = differingChunks(sourceChunks, chunks.map((_, chunk) => bitmap.entry(index, 1 + chunk)));
    if (!destination) {
      if (changed.length === 0 && !sourceDigest) return [];
      bitmap.stage(index, 0, sourceDigest ?? Buffer.alloc(bitmap.layout.hash.digestLength));
      for (const chunk of changed) bitmap.stage(index, 1 + chunk, sourceChunks[chunk]);
      return changed.map((chunk) => chunks[chunk]);
    }
    // Every chunk already matches (the buffer entry was left unknown by an earlier partial write).
    if (changed.length === 0) return [];
    const blocks = await this.write(destination, index, changed.map((chunk) => 1 + chunk), changed.map((chunk) => chunks[chunk]));
    const written = await Promise.all(blocks.map((block) => decodeBlock(block)));
    const hasher = await this.hasher;
    changed.forEach((chunk, position) => bitmap.stage(index, 1 + chunk, hasher.digest(written[position])));
    // The buffer digest is known only when this run forwarded every byte of the buffer (§5.4).
    if (changed.length === chunks.length) bitmap.stage(index, 0, hasher.digest(Buffer.concat(written)));
    return changed.map((chunk) => chunks[chunk]);
  }

  /**
   * An unknown entry with a destination (issue 15, target 9): one hashing pass on each side, at chunk
   * granularity when there are chunks; only what differs is marked, sent and staged from the forwarded
   * bytes; what matches gets the digests both sides agreed on, which the destination read from its own
   * bytes (committed after the next FLUSH, like --update-bitmap's, §5.5). A buffer entry needs a second
   * pass: the destination's is asked only for a buffer found equal whose source is remote (a local
   * source's chunk digests decide alone on the next run, buffer() above); a partly written buffer keeps
   * its buffer entry unknown, as §5.4 says.
   */
  private async compareBuffer(destination: Peer, index: number, extent: Extent, chunks: Extent[]): Promise<Extent[]> {
    const { source, bitmap } = this.job;
    if (chunks.length <= 1) {
      const [sourceDigest, destinationDigest] = await Promise.all([source.hash(extent), destination.hash(extent)]);
      if (sourceDigest.equals(destinationDigest)) {
        bitmap.stage(index, 0, destinationDigest);
        for (const chunk of chunks.keys()) bitmap.stage(index, 1 + chunk, destinationDigest);
        return [];
      }
      this.job.debug?.(`buffer ${index} at ${extent.offset}: unknown in the bitmap, differs from the destination`);
      const [written] = await this.write(destination, index, chunks.map((_, chunk) => 1 + chunk), [extent]);
      const digest = await this.digestOf(written);
      bitmap.stage(index, 0, digest);
      for (const chunk of chunks.keys()) bitmap.stage(index, 1 + chunk, digest);
      return [extent];
    }
    const chunkSize = chunks[0].length;
    const [sourceChunks, destinationChunks] = (await Promise.all([source.hash(extent, chunkSize), destination.hash(extent, chunkSize)]))
      .map((digests) => splitDigests(digests, chunks.length));
    const changed = differingChunks(sourceChunks, destinationChunks);
    if (changed.length === 0) {
      destinationChunks.forEach((digest, chunk) => bitmap.stage(index, 1 + chunk, digest));
      if (source.role !== 'local') bitmap.stage(index, 0, await destination.hash(extent));
      return [];
    }
    this.job.debug?.(`buffer ${index} at ${extent.offset}: unknown in the bitmap, ${changed.length} of ${chunks.length} chunks differ from the destination`);
    const blocks = await this.write(destination, index, chunks.map((_, chunk) => 1 + chunk), changed.map((chunk) => chunks[chunk]));
    const written = await Promise.all(blocks.map((block) => decodeBlock(block)));
    const hasher = await this.hasher;
    const sent = new Map(changed.map((chunk, position) => [chunk, hasher.digest(written[position])]));
    destinationChunks.forEach((digest, chunk) => bitmap.stage(index, 1 + chunk, sent.get(chunk) ?? digest));
    if (changed.length === chunks.length) bitmap.stage(index, 0, hasher.digest(Buffer.concat(written)));
    return changed.map((chunk) => chunks[chunk]);
  }

  /** A buffer whose every entry is unknown, under --reset-bitmap: marked, sent whole, staged from the forwarded bytes. */
  private async sendUnknown(destination: Peer, index: number, extent: Extent, chunks: Extent[]): Promise<Extent[]> {
    const { bitmap } = this.job;
    const [written] = await this.write(destination, index, chunks.map((_, chunk) => 1 + chunk), [extent]);
    const data = await decodeBlock(written);
    const hasher = await this.hasher;
    bitmap.stage(index, 0, hasher.digest(data));
    chunks.forEach((chunk, position) => bitmap.stage(index, 1 + position, hasher.digest(data.subarray(chunk.offset - extent.offset, chunk.offset - extent.offset + chunk.length))));
    return [extent];
  }

  /** --update-bitmap: compare with the destination itself; stage the destination's own digests. */
  private async updateBuffer(destination: Peer, index: number, extent: Extent): Promise<Extent[]> {
    const { source, bitmap, chunkSize } = this.job;
    const chunks = chunkSize > 0 ? chunkExtents(extent, chunkSize) : [];
    const [sourceDigest, destinationDigest] = await Promise.all([source.hash(extent), destination.hash(extent)]);

    if (sourceDigest.equals(destinationDigest)) {
      await stageDestination(bitmap, destination, index, extent, destinationDigest);
      return [];
    }
    this.job.debug?.(`buffer ${index} at ${extent.offset}: source ${sourceDigest.toString('hex')}, destination ${destinationDigest.toString('hex')} differ`);

    let changed = [extent];
    if (chunkSize > 0 && chunks.length > 1) {
      const [sourceChunks, destinationChunks] = await Promise.all([source.hash(extent, chunkSize), destination.hash(extent, chunkSize)]);
      changed = differingChunks(splitDigests(sourceChunks, chunks.length), splitDigests(destinationChunks, chunks.length)).map((chunk) => chunks[chunk]);
    }
    await this.write(destination, index, chunkSlots(bitmap, extent), changed);
    // Read back what the destination holds now; committed only after the FLUSH that makes it durable.
    await stageDestination(bitmap, destination, index, extent, await destination.hash(extent));
    return changed;
  }
}

/**
 * Steps 4-5: FLUSH the destination, then commit the digests staged before it; never the other way
 * round. The batch is taken before FLUSH is sent: the FLUSH covers every write its digests describe.
 */
async function flushThenCommit(bitmap: BitmapStore, destination?: Peer): Promise<void> {
  if (bitmap.stagedCount === 0) return;
  const batch = bitmap.takeStaged();
  if (destination) await destination.flush();
  await bitmap.commit(batch);
}

/** The entry slots of the chunks of the buffer at `extent` (1, 2, ...; none without chunk entries). */
function chunkSlots(bitmap: BitmapStore, extent: Extent): number[] {
  const { chunkSize } = bitmap.layout;
  return chunkSize > 0 ? chunkExtents(extent, chunkSize).map((_, chunk) => 1 + chunk) : [];
}

/** Step 3 from the destination itself: its digest of the buffer (`bufferDigest`) and of each chunk. */
async function stageDestination(bitmap: BitmapStore, destination: Peer, index: number, extent: Extent, bufferDigest: Buffer): Promise<void> {
  const { chunkSize } = bitmap.layout;
  bitmap.stage(index, 0, bufferDigest);
  if (chunkSize === 0) return;
  const count = chunkExtents(extent, chunkSize).length;
  splitDigests(await destination.hash(extent, chunkSize), count).forEach((digest, chunk) => bitmap.stage(index, 1 + chunk, digest));
}

/**
 * --recheck -b and --verify-bitmap (step 1 alone): durably marks every entry (buffer and chunks) of
 * the given buffers unknown; resolves with how many buffers had an entry that claimed something (the
 * ones the bitmap was wrong about).
 */
export async function invalidateEntries(bitmap: BitmapStore, indexes: number[], size: number): Promise<number> {
  const { bufferSize } = bitmap.layout;
  let invalidated = 0;
  await Promise.all(indexes.map((index) => {
    const slots = chunkSlots(bitmap, bufferExtent(index, size, bufferSize));
    if ([0, ...slots].some((slot) => bitmap.entry(index, slot) !== undefined)) invalidated++;
    return bitmap.markUnknown(index, slots);
  }));
  return invalidated;
}

/**
 * --repair -b (steps 3-5), called only after a clean second compare of the repaired buffers, whose
 * entries invalidateEntries marked unknown before the repair wrote anything: their entries get the
 * destination's digests again, committed after a FLUSH, so the next SYNC need not resend them.
 */
export async function recordRepaired(bitmap: BitmapStore, destination: Peer, indexes: number[], size: number): Promise<void> {
  const { bufferSize } = bitmap.layout;
  for (const index of indexes) {
    const extent = bufferExtent(index, size, bufferSize);
    await stageDestination(bitmap, destination, index, extent, await destination.hash(extent));
  }
  await flushThenCommit(bitmap, destination);
}

// --recheck: a full compare of both devices, buffer by buffer, both sides hashing in parallel.
// On a mismatch it reports how much differs and where (the first few ranges), not just "differs".
// With a bitmap (-b and -a), every buffer found different has its entries durably marked unknown, so
// the next SYNC resends it although the bitmap had claimed it synced. With --repair the differing
// ranges are sent, flushed and compared again; the run succeeds only if that second compare is clean.
// What happens to the bitmap, and in which order, is bitmap-sync.ts's (invalidateEntries, recordRepaired).
import { SYNC_ERRORS, basynError } from '../shared/errors';
import { appendExtent, bufferCount, bufferExtent, type Extent } from '../shared/geometry';
import type { BitmapStore } from './bitmap-store';
import { invalidateEntries, recordRepaired } from './bitmap-sync';
import { differingExtents } from './compare';
import { forEachBuffer, workersFor } from './engine';
import type { Peer } from './peer';

const RANGES_SHOWN = 5;

export interface RecheckJob {
  readonly local: Peer;
  readonly remote: Peer;
  readonly size: number;
  readonly bufferSize: number;
  readonly onProgress: (bytes: number) => void;
  /** -a: which peer is the source (needed by --repair; with a bitmap, the side it describes). */
  readonly source?: Peer;
  /** Entries of differing buffers are invalidated (durably) in this bitmap. */
  readonly bitmap?: BitmapStore;
  /** --repair: send the differing ranges (refined in chunks of this size, 0 = whole buffers). */
  readonly repair?: { readonly chunkSize: number; readonly zlevel: number };
  /** Text for the user that is not an error (how much was repaired). */
  readonly onInfo?: (text: string) => void;
  /** Each range found different, and each range repaired (for --json). */
  readonly onRange?: (kind: 'differs' | 'repaired', range: Extent) => void;
  /** How many bitmap entries were invalidated (for --json), once they are on disk. */
  readonly onInvalidated?: (entries: number) => void;
}

/** Buffers found different by a compare: their indexes (sorted) and the merged ranges they cover. */
export interface Differences {
  readonly indexes: number[];
  readonly ranges: Extent[];
  readonly bytes: number;
  /** Buffers compared. */
  readonly compared: number;
}

/** Hashes `indexes` (default: every buffer) on both peers; returns the buffers whose digests differ. */
export async function compareBuffers(local: Peer, remote: Peer, size: number, bufferSize: number, onProgress: (bytes: number) => void, indexes?: number[]): Promise<Differences> {
  const list = indexes ?? Array.from({ length: bufferCount(size, bufferSize) }, (_, index) => index);
  const differing = new Set<number>();
  await forEachBuffer(list.length, workersFor(bufferSize), async (position) => {
    const index = list[position];
    const extent = bufferExtent(index, size, bufferSize);
    const [localDigest, remoteDigest] = await Promise.all([local.hash(extent), remote.hash(extent)]);
    if (!localDigest.equals(remoteDigest)) differing.add(index);
    onProgress(extent.length);
  });
  return differencesOf([...differing], size, bufferSize, list.length);
}

export function differencesOf(indexes: number[], size: number, bufferSize: number, compared: number): Differences {
  const sorted = [...indexes].sort((a, b) => a - b);
  const ranges: Extent[] = [];
  let bytes = 0;
  for (const index of sorted) {
    const extent = bufferExtent(index, size, bufferSize);
    appendExtent(ranges, extent);
    bytes += extent.length;
  }
  return { indexes: sorted, ranges, bytes, compared };
}

/** "2 of 10 buffers (131072 bytes) differ, in 2 ranges (offset+length): 65536+65536, 524288+65536" */
export function describeDifferences(differences: Differences): string {
  const { ranges } = differences;
  const shown = ranges.slice(0, RANGES_SHOWN).map((range) => `${range.offset}+${range.length}`).join(', ');
  const more = ranges.length > RANGES_SHOWN ? ` and ${ranges.length - RANGES_SHOWN} more` : '';
  return `${differences.indexes.length} of ${differences.compared} buffers (${differences.bytes} bytes) differ, ` +
    `in ${ranges.length} range${ranges.length === 1 ? '' : 's'} (offset+length): ${shown}${more}`;
}

/** "3 bitmap entries invalidated: the next SYNC compares them with the destination" (`then`: what follows instead). */
export function invalidationText(count: number, then?: string): string {
  if (count === 0) return 'no bitmap entry invalidated (they were unknown already)';
  return `${count} bitmap entr${count === 1 ? 'y' : 'ies'} invalidated${then ? `, ${then}` : `: the next SYNC compares ${count === 1 ? 'it' : 'them'} with the destination`}`;
}

/** Resolves when both devices hold the same first `size` bytes (after --repair if asked); throws MismatchError otherwise. */
export async function recheck(job: RecheckJob): Promise<void> {
  const differences = await compareBuffers(job.local, job.remote, job.size, job.bufferSize, job.onProgress);
  if (differences.indexes.length === 0) return;
  for (const range of differences.ranges) job.onRange?.('differs', range);
  const invalidated = job.bitmap ? await invalidateEntries(job.bitmap, differences.indexes, job.size) : undefined;
  if (invalidated !== undefined) job.onInvalidated?.(invalidated);
  const found = describeDifferences(differences);
  const bitmapNote = invalidated !== undefined ? `; ${invalidationText(invalidated)}` : '';
  if (!job.repair || !job.source) throw basynError('RECHECK_MISMATCH', found, bitmapNote);

  const repairNote = invalidated !== undefined ? `; ${invalidationText(invalidated, 'recorded again once repaired')}` : '';
  job.onInfo?.(`${SYNC_ERRORS.RECHECK_MISMATCH.message(found, repairNote)}; repairing`);
  const source = job.source;
  const destination = source === job.local ? job.remote : job.local;
  const repaired = await repairBuffers(job, source, destination, differences.indexes);
  await destination.flush();
  const again = await compareBuffers(job.local, job.remote, job.size, job.bufferSize, () => undefined, differences.indexes);
  if (again.indexes.length > 0) {
    throw basynError('RECHECK_REPAIR_FAILED', repaired.bytes, describeDifferences({ ...again, compared: differences.indexes.length }), bitmapNote);
  }
  for (const range of repaired.ranges) job.onRange?.('repaired', range);
  if (job.bitmap) await recordRepaired(job.bitmap, destination, differences.indexes, job.size);
  const recorded = job.bitmap ? '; bitmap entries recorded' : '';
  job.onInfo?.(`Repaired ${repaired.bytes} bytes in ${repaired.ranges.length} range${repaired.ranges.length === 1 ? '' : 's'}: the second compare is clean${recorded}`);
}

/** Sends the differing chunks (or whole buffers) of `indexes` from source to destination; not flushed. */
async function repairBuffers(job: RecheckJob, source: Peer, destination: Peer, indexes: number[]): Promise<{ ranges: Extent[]; bytes: number }> {
  const { chunkSize, zlevel } = job.repair as NonNullable<RecheckJob['repair']>;
  const sent = new Map<number, Extent[]>();
  await forEachBuffer(indexes.length, workersFor(job.bufferSize), async (position) => {
    const index = indexes[position];
    const extent = bufferExtent(index, job.size, job.bufferSize);
    const chunks = chunkSize > 0 && chunkSize < extent.length ? chunkSize : 0;
    const [sourceDigests, destinationDigests] = await Promise.all([source.hash(extent, chunks), destination.hash(extent, chunks)]);
    const ranges = differingExtents(extent, chunks, sourceDigests, destinationDigests);
    await Promise.all(ranges.map(async (range) => destination.write(range.offset, await source.read(range, zlevel))));
    sent.set(index, ranges);
  });
  const ranges: Extent[] = [];
  let bytes = 0;
  for (const index of indexes) {
    for (const range of sent.get(index) ?? []) {
      appendExtent(ranges, range);
      bytes += range.length;
    }
  }
  return { ranges, bytes };
}

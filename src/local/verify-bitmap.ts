// --verify-bitmap: hash the destination only and compare it with the digests the bitmap holds. It finds
// corruption on the backup side (bit rot, another writer) with half the reads of a --recheck, and the
// source is neither needed nor read. Mismatching buffers are reported as ranges and their entries
// durably invalidated, so the next SYNC resends them. Entries the bitmap does not know cannot be
// checked; they are counted, not guessed.
import { decodeBitmapFile, type BitmapLayout } from '../shared/bitmap';
import { isBitmapV1 } from '../shared/bitmap-v1';
import { basynError } from '../shared/errors';
import { bufferCount, bufferExtent, chunkExtents, type Extent } from '../shared/geometry';
import { splitDigests } from '../shared/hash';
import { BITMAP_FILE, type BitmapStore } from './bitmap-store';
import { forEachBuffer, workersFor } from './engine';
import type { Peer } from './peer';
import { readStateFile, resolveStatePath } from './state-file';
import { invalidateEntries } from './bitmap-sync';
import { describeDifferences, differencesOf, invalidationText, type Differences } from './recheck';

/** The layout a bitmap was made with: --verify-bitmap takes it from the file, as it has no source to size. */
export async function bitmapLayoutOf(path: string): Promise<BitmapLayout> {
  // Through state-file.ts: a FIFO, device or directory named by -b is refused, never read (or waited on).
  const bytes = await readStateFile(await resolveStatePath(path, BITMAP_FILE), BITMAP_FILE);
  if (!bytes) throw basynError('BITMAP_MISSING_FOR_VERIFY', path);
  if (isBitmapV1(bytes)) {
    throw basynError('BITMAP_V1_NOT_VERIFIABLE', path);
  }
  return decodeBitmapFile(path, bytes, 'delete it or pass --reset-bitmap to a SYNC to rebuild it').header.layout;
}

export interface VerifyBitmapJob {
  readonly destination: Peer;
  readonly bitmap: BitmapStore;
  readonly onProgress: (bytes: number) => void;
  readonly onInfo: (text: string) => void;
  readonly onMismatch?: (range: Extent) => void;
  /** How many bitmap entries were invalidated (for --json), once they are on disk. */
  readonly onInvalidated?: (entries: number) => void;
}

export interface VerifyOutcome {
  readonly differences: Differences;
  /** Buffers with no known entry: not checked. */
  readonly unknown: number;
}

/** Resolves when every known entry matches the destination; throws MismatchError (exit 2) otherwise. */
export async function verifyBitmap(job: VerifyBitmapJob): Promise<VerifyOutcome> {
  const { destination, bitmap } = job;
  const { deviceSize, bufferSize, chunkSize } = bitmap.layout;
  const count = bufferCount(deviceSize, bufferSize);
  const mismatching: number[] = [];
  let unknown = 0;
  await forEachBuffer(count, workersFor(bufferSize), async (index) => {
    const extent = bufferExtent(index, deviceSize, bufferSize);
    const verdict = await verifyBuffer(destination, bitmap, index, extent, chunkSize);
    if (verdict === 'unknown') unknown++;
    if (verdict === 'differs') mismatching.push(index);
    job.onProgress(extent.length);
  });
  const differences = differencesOf(mismatching, deviceSize, bufferSize, count - unknown);
  const notChecked = unknown > 0 ? ` (${unknown} buffer${unknown === 1 ? '' : 's'} with no known entry not checked)` : '';
  if (mismatching.length === 0) {
    job.onInfo(`Destination matches the bitmap: ${count - unknown} buffers verified${notChecked}`);
    return { differences, unknown };
  }
  for (const range of differences.ranges) job.onMismatch?.(range);
  const invalidated = await invalidateEntries(bitmap, mismatching, deviceSize);
  job.onInvalidated?.(invalidated);
  throw Object.assign(
    basynError('BITMAP_VERIFY_MISMATCH', describeDifferences(differences), notChecked, invalidationText(invalidated)),
    { differences },
  );
}

/**
 * One buffer: with chunk entries, one read hashes the chunks and every known chunk entry is compared;
 * the buffer entry is compared too when it is known and some chunk entry is not (a second read).
 */
async function verifyBuffer(destination: Peer, bitmap: BitmapStore, index: number, extent: { offset: number; length: number }, chunkSize: number): Promise<'same' | 'differs' | 'unknown'> {
  const bufferEntry = bitmap.entry(index);
  let checked = false;
  let allChunksKnown = false;
  if (chunkSize > 0) {
    const chunks = chunkExtents(extent, chunkSize);
    const entries = chunks.map((_, chunk) => bitmap.entry(index, 1 + chunk));
    allChunksKnown = entries.every((entry) => entry !== undefined);
    if (entries.some((entry) => entry !== undefined)) {
      const digests = splitDigests(await destination.hash(extent, chunkSize), chunks.length);
      if (entries.some((entry, chunk) => entry !== undefined && !entry.equals(digests[chunk]))) return 'differs';
      checked = true;
    }
  }
  if (bufferEntry && !allChunksKnown) {
    if (!bufferEntry.equals(await destination.hash(extent))) return 'differs';
    checked = true;
  }
  return checked ? 'same' : 'unknown';
}

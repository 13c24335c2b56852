// --recheck: a full compare of both devices, buffer by buffer, both sides hashing in parallel.
// On a mismatch it reports how much differs and where (the first few ranges), not just "differs".
import { MismatchError } from '../shared/errors';
import { appendExtent, bufferCount, bufferExtent, type Extent } from '../shared/geometry';
import { forEachBuffer, workersFor } from './engine';
import type { Peer } from './peer';

const RANGES_SHOWN = 5;

export interface RecheckJob {
  readonly local: Peer;
  readonly remote: Peer;
  readonly size: number;
  readonly bufferSize: number;
  readonly onProgress: (bytes: number) => void;
}

/** Resolves when both devices hold the same first `size` bytes; throws MismatchError otherwise. */
export async function recheck(job: RecheckJob): Promise<void> {
  const count = bufferCount(job.size, job.bufferSize);
  const differing = new Set<number>();
  await forEachBuffer(count, workersFor(job.bufferSize), async (index) => {
    const extent = bufferExtent(index, job.size, job.bufferSize);
    const [local, remote] = await Promise.all([job.local.hash(extent), job.remote.hash(extent)]);
    if (!local.equals(remote)) differing.add(index);
    job.onProgress(extent.length);
  });
  if (differing.size === 0) return;

  const ranges: Extent[] = [];
  let bytes = 0;
  for (const index of [...differing].sort((a, b) => a - b)) {
    const extent = bufferExtent(index, job.size, job.bufferSize);
    appendExtent(ranges, extent);
    bytes += extent.length;
  }
  const shown = ranges.slice(0, RANGES_SHOWN).map((range) => `${range.offset}+${range.length}`).join(', ');
  const more = ranges.length > RANGES_SHOWN ? ` and ${ranges.length - RANGES_SHOWN} more` : '';
  throw new MismatchError(
    `Local and remote hashes does NOT MATCH: ${differing.size} of ${count} buffers (${bytes} bytes) differ, ` +
      `in ${ranges.length} range${ranges.length === 1 ? '' : 's'} (offset+length): ${shown}${more}`,
  );
}

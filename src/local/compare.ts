// Which parts of a buffer differ, from digests: the one comparison the engine, the bitmap sync and
// --update-bitmap share. A digest list is a buffer's chunk digests in order (splitDigests).
import { appendExtent, chunkExtents, type Extent } from '../shared/geometry';
import { splitDigests } from '../shared/hash';

/** Indexes of the chunks whose reference digest is unknown (undefined) or differs from the source's. */
export function differingChunks(source: readonly Buffer[], reference: ReadonlyArray<Buffer | undefined>): number[] {
  const differing: number[] = [];
  source.forEach((digest, chunk) => {
    const other = reference[chunk];
    if (!other || !other.equals(digest)) differing.push(chunk);
  });
  return differing;
}

/**
 * The ranges of `extent` whose digests differ: the whole extent (chunkSize 0, one digest each), or
 * its differing chunks with touching ones merged.
 */
export function differingExtents(extent: Extent, chunkSize: number, source: Buffer, destination: Buffer): Extent[] {
  if (chunkSize === 0) return source.equals(destination) ? [] : [extent];
  const chunks = chunkExtents(extent, chunkSize);
  const differing: Extent[] = [];
  for (const chunk of differingChunks(splitDigests(source, chunks.length), splitDigests(destination, chunks.length))) {
    appendExtent(differing, chunks[chunk]);
  }
  return differing;
}

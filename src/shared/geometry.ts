// Offsets <-> buffer and chunk indexes. A device is cut into buffers of `bufferSize` bytes
// (the last one may be shorter); a differing buffer is cut into chunks of `chunkSize` bytes
// (again, the last one may be shorter).

export interface Extent {
  readonly offset: number;
  readonly length: number;
}

export function bufferCount(deviceSize: number, bufferSize: number): number {
  return Math.ceil(deviceSize / bufferSize);
}

export function bufferExtent(index: number, deviceSize: number, bufferSize: number): Extent {
  const offset = index * bufferSize;
  return { offset, length: Math.min(bufferSize, deviceSize - offset) };
}

/** The chunks of one buffer, as absolute extents on the device. */
export function chunkExtents(buffer: Extent, chunkSize: number): Extent[] {
  const extents: Extent[] = [];
  for (let start = 0; start < buffer.length; start += chunkSize) {
    extents.push({ offset: buffer.offset + start, length: Math.min(chunkSize, buffer.length - start) });
  }
  return extents;
}

/**
 * The chunk size a buffer without bitmap is refined with: the run's chunk size when the buffer is
 * larger than one chunk, else 0 (one digest for the whole buffer: a single chunk would only repeat it).
 */
export function refinementChunkSize(buffer: Extent, chunkSize: number): number {
  return chunkSize > 0 && chunkSize < buffer.length ? chunkSize : 0;
}

/** Adds an extent to a sorted list, merging it with the last one when they touch. */
export function appendExtent(extents: Extent[], next: Extent): void {
  const last = extents[extents.length - 1];
  if (last && last.offset + last.length === next.offset) {
    extents[extents.length - 1] = { offset: last.offset, length: last.length + next.length };
  } else {
    extents.push(next);
  }
}

// How a block of device data is packed for the wire: all-zero blocks become a marker, others are
// deflated at the requested level and sent raw when deflate would not shrink them. Deflate and
// inflate run on libuv's thread pool (async zlib), so an agent compresses several blocks at once
// while its main thread hashes.
import { promisify } from 'node:util';
import { deflateRaw, inflateRaw } from 'node:zlib';
import { basynError } from './errors';
import { ENCODING, type EncodedBlock } from './protocol';

const deflateRawAsync = promisify(deflateRaw);
const inflateRawAsync = promisify(inflateRaw);

const ZERO_PAGE = Buffer.alloc(64 * 1024);
/** Blocks at least this large are probed before being deflated whole (smaller ones: deflate decides). */
const PROBE_MIN_LENGTH = 32 * 1024;
const PROBE_SLICE = 16 * 1024;
/** From this size on, three slices (start, middle, end) are probed; below it, the first one. */
const PROBE_THREE_SLICES_LENGTH = 256 * 1024;
/** A probe that saves less than this fraction marks the block as incompressible. */
const PROBE_MIN_SAVING = 0.03;
/** A probe that deflates below this ratio at level 1 marks the block as nearly empty. */
const NEARLY_EMPTY_RATIO = 0.05;

export function isAllZero(data: Uint8Array): boolean {
  for (let start = 0; start < data.length; start += ZERO_PAGE.length) {
    const end = Math.min(data.length, start + ZERO_PAGE.length);
    if (Buffer.compare(data.subarray(start, end), ZERO_PAGE.subarray(0, end - start)) !== 0) return false;
  }
  return true;
}

/**
 * Deflating random data costs 30-50 MB/s for nothing (encrypted volumes, compressed archives, media).
 * One to three 16 KiB slices deflated at level 1 tell in well under a millisecond whether it is worth
 * it (off the main thread, like the deflate itself). Changed 64 KiB chunks are probed too: in a SYNC
 * they are most of what travels.
 */
export async function looksIncompressible(data: Buffer): Promise<boolean> {
  const ratio = await probeRatio(data);
  return ratio !== undefined && ratio > 1 - PROBE_MIN_SAVING;
}

/** Compressed / raw size of the probe slices at level 1; undefined for blocks too small to probe. */
async function probeRatio(data: Buffer): Promise<number | undefined> {
  if (data.length < PROBE_MIN_LENGTH) return undefined;
  const step = Math.floor((data.length - PROBE_SLICE) / 2);
  const starts = data.length >= PROBE_THREE_SLICES_LENGTH ? [0, step, 2 * step] : [0];
  const sample = Buffer.concat(starts.map((start) => data.subarray(start, start + PROBE_SLICE)));
  return (await deflateRawAsync(sample, { level: 1 })).length / sample.length;
}

let zeros = Buffer.alloc(0);

/** `length` zero bytes from one shared buffer (never written to): zero blocks cost no allocation. */
export function zeroBytes(length: number): Buffer {
  if (zeros.length < length) zeros = Buffer.alloc(length);
  return zeros.subarray(0, length);
}

export async function encodeBlock(data: Buffer, level: number): Promise<EncodedBlock> {
  if (isAllZero(data)) return { encoding: ENCODING.ZERO, rawLength: data.length, bytes: Buffer.alloc(0) };
  const ratio = level > 0 ? await probeRatio(data) : undefined;
  if (level > 0 && !(ratio !== undefined && ratio > 1 - PROBE_MIN_SAVING)) {
    // A nearly empty block (mostly zeros, a few records) deflates 4 x faster at level 1, to about the
    // same size: the level is chosen per block.
    const deflated = await deflateRawAsync(data, { level: ratio !== undefined && ratio < NEARLY_EMPTY_RATIO ? 1 : level });
    if (deflated.length < data.length) return { encoding: ENCODING.DEFLATE, rawLength: data.length, bytes: deflated };
  }
  return { encoding: ENCODING.RAW, rawLength: data.length, bytes: data };
}

/** The block's data as buffers to write one after the other: a RAW block received in pieces stays in them. */
export async function decodeBlockPieces(block: EncodedBlock): Promise<readonly Buffer[]> {
  if (block.encoding === ENCODING.RAW && block.pieces) return block.pieces;
  return [await decodeBlock(block)];
}

export async function decodeBlock(block: EncodedBlock): Promise<Buffer> {
  switch (block.encoding) {
    case ENCODING.RAW:
      return block.bytes;
    case ENCODING.ZERO:
      return zeroBytes(block.rawLength);
    case ENCODING.DEFLATE: {
      let data: Buffer;
      try {
        data = await inflateRawAsync(block.bytes, { maxOutputLength: block.rawLength });
      } catch (error) {
        throw basynError('PROTOCOL_CORRUPT_BLOCK', (error as Error).message);
      }
      if (data.length !== block.rawLength) {
        throw basynError('PROTOCOL_INFLATED_SIZE', data.length, block.rawLength);
      }
      return data;
    }
  }
}

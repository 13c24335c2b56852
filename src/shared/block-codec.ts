// How a block of device data is packed for the wire: all-zero blocks become a marker, a block with
// zero runs inside travels as runs (the zeros as markers, only the data between them encoded), others
// are deflated at the requested level and sent raw when deflate would not shrink them. Deflate and
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
/** Zero runs inside a block are found at this granularity (a file system block, a page). */
export const ZERO_RUN_GRANULE = 4096;
/** A block travels as runs only when its zero runs add up to at least this much. */
export const MIN_ZERO_RUN_BYTES = 64 * 1024;
/** Bytes of a run's header in a RUNS block: u8 encoding, u32 rawLength, u32 length. */
const RUN_HEADER_LENGTH = 9;

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

/**
 * The block for `data` at compression `level`. `runs` false: never a RUNS block (a patch file stores
 * RAW, DEFLATE and ZERO records only).
 */
export async function encodeBlock(data: Buffer, level: number, runs = true): Promise<EncodedBlock> {
  if (isAllZero(data)) return { encoding: ENCODING.ZERO, rawLength: data.length, bytes: Buffer.alloc(0) };
  if (runs) {
    const spans = zeroSpans(data);
    const zeroTotal = spans.reduce((sum, span) => sum + (span.zero ? span.length : 0), 0);
    if (zeroTotal >= MIN_ZERO_RUN_BYTES) return encodeRuns(data, spans, level);
  }
  return encodeWhole(data, level);
}

/** DEFLATE when it is worth it (probed first), else RAW; `data` has no zero runs worth a marker. */
async function encodeWhole(data: Buffer, level: number): Promise<EncodedBlock> {
  const ratio = level > 0 ? await probeRatio(data) : undefined;
  if (level > 0 && !(ratio !== undefined && ratio > 1 - PROBE_MIN_SAVING)) {
    // A nearly empty block (mostly zeros, a few records) deflates 4 x faster at level 1, to about the
    // same size: the level is chosen per block.
    const deflated = await deflateRawAsync(data, { level: ratio !== undefined && ratio < NEARLY_EMPTY_RATIO ? 1 : level });
    if (deflated.length < data.length) return { encoding: ENCODING.DEFLATE, rawLength: data.length, bytes: deflated };
  }
  return { encoding: ENCODING.RAW, rawLength: data.length, bytes: data };
}

interface Span {
  readonly offset: number;
  readonly length: number;
  readonly zero: boolean;
}

/** `data` cut into alternating zero and data spans, at ZERO_RUN_GRANULE boundaries. */
function zeroSpans(data: Buffer): Span[] {
  const spans: Array<{ offset: number; length: number; zero: boolean }> = [];
  for (let start = 0; start < data.length; start += ZERO_RUN_GRANULE) {
    const end = Math.min(data.length, start + ZERO_RUN_GRANULE);
    const zero = isAllZero(data.subarray(start, end));
    const last = spans[spans.length - 1];
    if (last && last.zero === zero) last.length += end - start;
    else spans.push({ offset: start, length: end - start, zero });
  }
  return spans;
}

/**
 * A RUNS block: each span is a run (u8 encoding · u32 rawLength · u32 length · bytes), zero spans
 * with no bytes, data spans encoded on their own (deflated in parallel on the thread pool). The zeros
 * are neither deflated nor sent; the destination skips writing them where it already reads zeros.
 */
async function encodeRuns(data: Buffer, spans: Span[], level: number): Promise<EncodedBlock> {
  const encoded = await Promise.all(spans.map((span) =>
    span.zero ? undefined : encodeWhole(data.subarray(span.offset, span.offset + span.length), level)));
  const parts: Buffer[] = [];
  spans.forEach((span, index) => {
    const run = encoded[index];
    const header = Buffer.allocUnsafe(RUN_HEADER_LENGTH);
    header.writeUInt8(run ? run.encoding : ENCODING.ZERO, 0);
    header.writeUInt32LE(span.length, 1);
    header.writeUInt32LE(run ? run.bytes.length : 0, 5);
    parts.push(header);
    if (run) parts.push(run.bytes);
  });
  // One buffer of its own (the read buffer it came from is recycled once the frame is written).
  return { encoding: ENCODING.RUNS, rawLength: data.length, bytes: Buffer.concat(parts) };
}

/** One run of a block once decoded: `length` bytes at `offset` in the block; no `data`: zeros. */
export interface Run {
  readonly offset: number;
  readonly length: number;
  /** The bytes, possibly in pieces (written one after the other); undefined for zeros. */
  readonly data?: readonly Buffer[];
}

/** The runs of a RUNS block, checked against the spec (docs/protocol.md §3); PROTOCOL_RUNS otherwise. */
function parseRuns(block: EncodedBlock): Array<{ offset: number; length: number; encoding: number; bytes: Buffer }> {
  const payload = block.bytes;
  const runs: Array<{ offset: number; length: number; encoding: number; bytes: Buffer }> = [];
  let position = 0;
  let offset = 0;
  while (position < payload.length) {
    if (payload.length - position < RUN_HEADER_LENGTH) throw basynError('PROTOCOL_RUNS', `run header cut at byte ${position}`);
    const encoding = payload.readUInt8(position);
    const rawLength = payload.readUInt32LE(position + 1);
    const length = payload.readUInt32LE(position + 5);
    position += RUN_HEADER_LENGTH;
    if (length > payload.length - position) throw basynError('PROTOCOL_RUNS', `run of ${length} bytes runs past the block`);
    if (rawLength === 0 || offset + rawLength > block.rawLength) throw basynError('PROTOCOL_RUNS', `run of ${rawLength} bytes at ${offset} does not fit a block of ${block.rawLength}`);
    const valid = encoding === ENCODING.RAW ? length === rawLength : encoding === ENCODING.ZERO ? length === 0 : encoding === ENCODING.DEFLATE && length > 0;
    if (!valid) throw basynError('PROTOCOL_RUNS', `run with encoding ${encoding}, ${rawLength} bytes, ${length} on the wire`);
    runs.push({ offset, length: rawLength, encoding, bytes: payload.subarray(position, position + length) });
    position += length;
    offset += rawLength;
  }
  if (offset !== block.rawLength) throw basynError('PROTOCOL_RUNS', `runs of ${offset} bytes in all, expected ${block.rawLength}`);
  return runs;
}

/** The block as runs to write: zeros apart (the destination may skip them), data in pieces. */
export async function decodeRuns(block: EncodedBlock): Promise<readonly Run[]> {
  switch (block.encoding) {
    case ENCODING.ZERO:
      return [{ offset: 0, length: block.rawLength }];
    case ENCODING.RAW:
      return [{ offset: 0, length: block.rawLength, data: block.pieces ?? [block.bytes] }];
    case ENCODING.DEFLATE:
      return [{ offset: 0, length: block.rawLength, data: [await inflate(block.bytes, block.rawLength)] }];
    case ENCODING.RUNS:
      return Promise.all(parseRuns(block).map(async (run) => (run.encoding === ENCODING.ZERO
        ? { offset: run.offset, length: run.length }
        : { offset: run.offset, length: run.length, data: [run.encoding === ENCODING.DEFLATE ? await inflate(run.bytes, run.length) : run.bytes] })));
  }
}

async function inflate(bytes: Buffer, rawLength: number): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await inflateRawAsync(bytes, { maxOutputLength: rawLength });
  } catch (error) {
    throw basynError('PROTOCOL_CORRUPT_BLOCK', (error as Error).message);
  }
  if (data.length !== rawLength) {
    throw basynError('PROTOCOL_INFLATED_SIZE', data.length, rawLength);
  }
  return data;
}

/** The block's bytes in one buffer. */
export async function decodeBlock(block: EncodedBlock): Promise<Buffer> {
  switch (block.encoding) {
    case ENCODING.RAW:
      return block.bytes;
    case ENCODING.ZERO:
      return zeroBytes(block.rawLength);
    case ENCODING.DEFLATE:
      return inflate(block.bytes, block.rawLength);
    case ENCODING.RUNS: {
      const whole = Buffer.alloc(block.rawLength); // zero-filled: only the data runs are copied in
      for (const run of await decodeRuns(block)) {
        let at = run.offset;
        for (const piece of run.data ?? []) at += piece.copy(whole, at);
      }
      return whole;
    }
  }
}

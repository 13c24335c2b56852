// The basyn patch file codec (patch-format.md): a header, records, a trailer with a SHA-256 of every
// byte before it. Bytes in, events out: no files. The decoder is a state machine fed any slices of
// the file (a 2 TB patch is never held in memory: at most one record is buffered, its size checked
// against MAX_RECORD_LENGTH before anything is allocated for it).
import { createHash, type Hash } from 'node:crypto';
import { ChunkedDecoder } from './chunked-decoder';
import { PatchError, basynError } from './errors';
import { hashById, type HashAlgorithm } from './hash';

export const PATCH_MAGIC = Buffer.from('BASYNPAT', 'latin1');
export const PATCH_VERSION = 1;
export const PATCH_HEADER_LENGTH = 40;
export const RECORD_HEADER_LENGTH = 20;
export const TRAILER_FIXED_LENGTH = 24;
export const CHECKSUM_LENGTH = 32;
/** Largest range one record may cover (the largest --buffer). */
export const MAX_RECORD_LENGTH = 64 * 1024 * 1024;

export const RECORD_TAG = 0x52; // 'R'
export const TRAILER_TAG = 0x54; // 'T'

export const PATCH_ENCODING = { RAW: 0, DEFLATE: 1, ZERO: 2 } as const;
export type PatchEncoding = (typeof PATCH_ENCODING)[keyof typeof PATCH_ENCODING];

/** --diffsize, as bdsync names it: how a source and a target of different sizes are handled. */
export const SIZE_MODE = { strict: 0, resize: 1, minsize: 2 } as const;
export type SizeMode = keyof typeof SIZE_MODE;
const SIZE_MODE_NAMES = Object.keys(SIZE_MODE) as SizeMode[];

/** Header flag: pre-image digests are a bitmap's (no destination was read when the patch was made). */
export const HEADER_FLAG_BITMAP_PRE_IMAGES = 0x01;
/** Record flag: the pre-image digest is present (else unknown: the range is not checked before writing). */
export const RECORD_FLAG_PRE_IMAGE = 0x01;
/** Trailer flag: a digest of the whole result device follows. */
export const TRAILER_FLAG_WHOLE_DIGEST = 0x01;

export interface PatchHeader {
  readonly digest: HashAlgorithm;
  readonly flags: number;
  readonly sizeMode: SizeMode;
  /** Granularity the patch was compared at (chunk or buffer size); informational. */
  readonly blockSize: number;
  /** Size of the source: the target's size after the patch (unless minsize). */
  readonly sourceSize: number;
  /** Size the target had when the patch was made: applying checks it. */
  readonly targetSize: number;
}

export interface PatchRecord {
  readonly offset: number;
  readonly length: number;
  readonly encoding: PatchEncoding;
  /** Digest of the target's bytes in this range before the patch; undefined when unknown. */
  readonly preImage?: Buffer;
  /** Digest of the bytes this record writes. */
  readonly postImage: Buffer;
  /** The stored bytes: raw data, deflate-raw data, or empty (ZERO). */
  readonly data: Buffer;
}

export interface PatchTrailer {
  readonly recordCount: number;
  readonly totalLength: number;
  readonly wholeDigest?: Buffer;
  readonly checksum: Buffer;
}

export type PatchEvent =
  | { readonly kind: 'header'; readonly header: PatchHeader }
  | { readonly kind: 'record'; readonly record: PatchRecord }
  | { readonly kind: 'trailer'; readonly trailer: PatchTrailer };

// ---------------------------------------------------------------------------------------------
// Encoding

function u64(value: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64LE(BigInt(value));
  return bytes;
}

// bytes[8] magic | u32 version | u8 digest id | u8 flags | u8 size mode | u8 0 | u32 block size | u32 0
// | u64 source size | u64 target size
export function encodeHeader(header: PatchHeader): Buffer {
  const bytes = Buffer.alloc(PATCH_HEADER_LENGTH);
  PATCH_MAGIC.copy(bytes, 0);
  bytes.writeUInt32LE(PATCH_VERSION, 8);
  bytes.writeUInt8(header.digest.id, 12);
  bytes.writeUInt8(header.flags, 13);
  bytes.writeUInt8(SIZE_MODE[header.sizeMode], 14);
  bytes.writeUInt32LE(header.blockSize, 16);
  u64(header.sourceSize).copy(bytes, 24);
  u64(header.targetSize).copy(bytes, 32);
  return bytes;
}

// u8 'R' | u8 encoding | u8 flags | u8 0 | u32 length | u64 offset | u32 stored length
// | digest pre-image (zeros when unknown) | digest post-image | stored bytes
export function encodeRecord(record: PatchRecord, digestLength: number): Buffer[] {
  const head = Buffer.alloc(RECORD_HEADER_LENGTH + 2 * digestLength);
  head.writeUInt8(RECORD_TAG, 0);
  head.writeUInt8(record.encoding, 1);
  head.writeUInt8(record.preImage ? RECORD_FLAG_PRE_IMAGE : 0, 2);
  head.writeUInt32LE(record.length, 4);
  u64(record.offset).copy(head, 8);
  head.writeUInt32LE(record.data.length, 16);
  record.preImage?.copy(head, RECORD_HEADER_LENGTH);
  record.postImage.copy(head, RECORD_HEADER_LENGTH + digestLength);
  return record.data.length > 0 ? [head, record.data] : [head];
}

/** Writes a patch as parts, keeping the running checksum and the counts the trailer needs. */
export class PatchEncoder {
  private readonly checksum = createHash('sha256');
  private recordCount = 0;
  private totalLength = 0;

  constructor(private readonly header: PatchHeader) {}

  start(): Buffer[] {
    return this.track([encodeHeader(this.header)]);
  }

  record(record: PatchRecord): Buffer[] {
    this.recordCount++;
    this.totalLength += record.length;
    return this.track(encodeRecord(record, this.header.digest.digestLength));
  }

  // u8 'T' | u8 flags | u16 0 | u32 0 | u64 record count | u64 total length | [digest whole] | bytes[32] sha256
  finish(wholeDigest?: Buffer): Buffer[] {
    const fixed = Buffer.alloc(TRAILER_FIXED_LENGTH);
    fixed.writeUInt8(TRAILER_TAG, 0);
    fixed.writeUInt8(wholeDigest ? TRAILER_FLAG_WHOLE_DIGEST : 0, 1);
    u64(this.recordCount).copy(fixed, 8);
    u64(this.totalLength).copy(fixed, 16);
    const parts = this.track(wholeDigest ? [fixed, wholeDigest] : [fixed]);
    return [...parts, this.checksum.digest()];
  }

  private track(parts: Buffer[]): Buffer[] {
    for (const part of parts) this.checksum.update(part);
    return parts;
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

type State = 'header' | 'tag' | 'record-head' | 'record-data' | 'trailer' | 'checksum' | 'done';

/**
 * Feed it the file in slices with push(); call end() at the end of the file. Throws PatchError (with
 * a one-line reason and the offset) at the first byte that is not a valid patch.
 */
export class PatchDecoder extends ChunkedDecoder<State, PatchEvent> {
  protected state: State = 'header';
  private readonly checksum: Hash = createHash('sha256');
  private header?: PatchHeader;
  private recordHead?: Omit<PatchRecord, 'data'> & { storedLength: number };
  private recordCount = 0;
  private totalLength = 0;
  private nextFree = 0;
  private trailerHead?: { recordCount: number; totalLength: number; wholeDigest: boolean };

  /** The file ended: anything but a complete patch is an error. */
  end(): void {
    if (this.done) return;
    if (this.received === 0) throw basynError('PATCH_EMPTY');
    throw basynError('PATCH_CUT_SHORT', this.received, describeState(this.state));
  }

  private digestLength(): number {
    return this.header?.digest.digestLength ?? 0;
  }

  protected need(): number | undefined {
    switch (this.state) {
      case 'header': return PATCH_HEADER_LENGTH;
      case 'tag': return 1;
      case 'record-head': return RECORD_HEADER_LENGTH - 1 + 2 * this.digestLength();
      case 'record-data': return this.recordHead?.storedLength;
      case 'trailer': return TRAILER_FIXED_LENGTH - 1;
      case 'checksum': return (this.trailerHead?.wholeDigest ? this.digestLength() : 0) + CHECKSUM_LENGTH;
      case 'done': return undefined;
    }
  }

  private fail(reason: string, back: number): PatchError {
    return basynError('PATCH_MALFORMED', reason, this.consumed - back);
  }

  protected step(bytes: Buffer): PatchEvent | undefined {
    const at = bytes.length;
    if (this.state !== 'checksum') this.checksum.update(bytes);
    switch (this.state) {
      case 'header': {
        this.header = this.parseHeader(bytes, at);
        this.state = 'tag';
        return { kind: 'header', header: this.header };
      }
      case 'tag': {
        const tag = bytes[0];
        if (tag === RECORD_TAG) this.state = 'record-head';
        else if (tag === TRAILER_TAG) this.state = 'trailer';
        else throw this.fail(`unknown section tag 0x${tag.toString(16).padStart(2, '0')} (not a record nor the trailer)`, 1);
        return undefined;
      }
      case 'record-head': {
        this.recordHead = this.parseRecordHead(bytes, at);
        this.state = 'record-data';
        if (this.recordHead.storedLength > 0) return undefined;
        return this.step(Buffer.alloc(0));
      }
      case 'record-data': {
        const head = this.recordHead as NonNullable<typeof this.recordHead>;
        this.state = 'tag';
        const record: PatchRecord = { offset: head.offset, length: head.length, encoding: head.encoding, preImage: head.preImage, postImage: head.postImage, data: bytes };
        return { kind: 'record', record };
      }
      case 'trailer': {
        // (tag already consumed) u8 flags | u16 0 | u32 0 | u64 count | u64 total
        const flags = bytes.readUInt8(0);
        if ((flags & ~TRAILER_FLAG_WHOLE_DIGEST) !== 0 || bytes.readUInt16LE(1) !== 0 || bytes.readUInt32LE(3) !== 0) {
          throw this.fail('bad trailer flags or reserved bytes', at);
        }
        const recordCount = safeNumber(bytes.readBigUInt64LE(7));
        const totalLength = safeNumber(bytes.readBigUInt64LE(15));
        if (recordCount === undefined || totalLength === undefined) throw this.fail('a trailer count is too large', at);
        if (recordCount !== this.recordCount) throw this.fail(`the trailer counts ${recordCount} records, the patch has ${this.recordCount}`, at);
        if (totalLength !== this.totalLength) throw this.fail(`the trailer counts ${totalLength} bytes, the records cover ${this.totalLength}`, at);
        this.trailerHead = { recordCount, totalLength, wholeDigest: (flags & TRAILER_FLAG_WHOLE_DIGEST) !== 0 };
        this.state = 'checksum';
        return undefined;
      }
      case 'checksum': {
        const trailer = this.trailerHead as NonNullable<typeof this.trailerHead>;
        const wholeLength = trailer.wholeDigest ? this.digestLength() : 0;
        const wholeDigest = trailer.wholeDigest ? Buffer.from(bytes.subarray(0, wholeLength)) : undefined;
        if (wholeDigest) this.checksum.update(wholeDigest);
        const expected = this.checksum.digest();
        const found = bytes.subarray(wholeLength);
        if (!expected.equals(found)) throw this.fail('the patch checksum does not match: the file is damaged', CHECKSUM_LENGTH);
        this.state = 'done';
        return { kind: 'trailer', trailer: { recordCount: trailer.recordCount, totalLength: trailer.totalLength, wholeDigest, checksum: Buffer.from(found) } };
      }
      case 'done':
        throw this.fail('trailing bytes after the trailer', at);
    }
  }

  private parseHeader(bytes: Buffer, at: number): PatchHeader {
    if (!bytes.subarray(0, 8).equals(PATCH_MAGIC)) {
      throw this.fail(bytes.subarray(0, 7).toString('latin1') === 'BDSYNC ' ? 'a bdsync patch where a basyn patch was expected' : 'not a basyn patch (bad magic)', at);
    }
    const version = bytes.readUInt32LE(8);
    if (version !== PATCH_VERSION) throw this.fail(`unknown patch version ${version} (this basyn reads version ${PATCH_VERSION})`, at - 8);
    const digest = hashById(bytes.readUInt8(12));
    if (!digest || digest.salted) throw this.fail(`unknown or salted digest id ${bytes.readUInt8(12)}`, at - 12);
    const flags = bytes.readUInt8(13);
    if ((flags & ~HEADER_FLAG_BITMAP_PRE_IMAGES) !== 0) throw this.fail(`unknown header flags 0x${flags.toString(16)}`, at - 13);
    const sizeMode = SIZE_MODE_NAMES[bytes.readUInt8(14)];
    if (!sizeMode) throw this.fail(`unknown size mode ${bytes.readUInt8(14)}`, at - 14);
    if (bytes.readUInt8(15) !== 0 || bytes.readUInt32LE(20) !== 0) throw this.fail('reserved header bytes are not zero', at - 15);
    const blockSize = bytes.readUInt32LE(16);
    if (blockSize === 0) throw this.fail('block size 0', at - 16);
    const sourceSize = safeNumber(bytes.readBigUInt64LE(24));
    const targetSize = safeNumber(bytes.readBigUInt64LE(32));
    if (sourceSize === undefined || targetSize === undefined) throw this.fail('a size is too large', at - 24);
    return { digest, flags, sizeMode, blockSize, sourceSize, targetSize };
  }

  private parseRecordHead(bytes: Buffer, at: number): Omit<PatchRecord, 'data'> & { storedLength: number } {
    const header = this.header as PatchHeader;
    const digestLength = this.digestLength();
    // (tag already consumed) u8 encoding | u8 flags | u8 0 | u32 length | u64 offset | u32 stored
    const encoding = bytes.readUInt8(0) as PatchEncoding;
    const flags = bytes.readUInt8(1);
    const length = bytes.readUInt32LE(3);
    const offset = safeNumber(bytes.readBigUInt64LE(7));
    const storedLength = bytes.readUInt32LE(15);
    const preImage = bytes.subarray(19, 19 + digestLength);
    const postImage = bytes.subarray(19 + digestLength, 19 + 2 * digestLength);
    const where = `record ${this.recordCount + 1}`;
    if (!Object.values(PATCH_ENCODING).includes(encoding)) throw this.fail(`${where}: unknown encoding ${encoding}`, at);
    if ((flags & ~RECORD_FLAG_PRE_IMAGE) !== 0 || bytes.readUInt8(2) !== 0) throw this.fail(`${where}: bad flags or reserved byte`, at - 1);
    if ((flags & RECORD_FLAG_PRE_IMAGE) === 0 && preImage.some((byte) => byte !== 0)) throw this.fail(`${where}: a pre-image digest is flagged absent but present`, at);
    if (length === 0 || length > MAX_RECORD_LENGTH) throw this.fail(`${where}: length ${length} is not between 1 and ${MAX_RECORD_LENGTH}`, at - 3);
    if (offset === undefined || offset < this.nextFree) throw this.fail(`${where}: offset ${offset ?? 'too large'} overlaps or precedes the previous record (which ends at ${this.nextFree})`, at - 7);
    if (offset + length > Math.max(header.sourceSize, header.targetSize)) {
      throw this.fail(`${where}: range ${offset}+${length} ends beyond the device (${Math.max(header.sourceSize, header.targetSize)} bytes)`, at - 7);
    }
    const storedOk = encoding === PATCH_ENCODING.RAW ? storedLength === length : encoding === PATCH_ENCODING.ZERO ? storedLength === 0 : storedLength > 0 && storedLength <= length;
    if (!storedOk) throw this.fail(`${where}: stored length ${storedLength} does not fit encoding ${encoding} of ${length} bytes`, at - 15);
    this.recordCount++;
    this.totalLength += length;
    this.nextFree = offset + length;
    return {
      offset, length, encoding, storedLength,
      preImage: (flags & RECORD_FLAG_PRE_IMAGE) !== 0 ? Buffer.from(preImage) : undefined,
      postImage: Buffer.from(postImage),
    };
  }
}

function safeNumber(value: bigint): number | undefined {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
}

function describeState(state: State): string {
  switch (state) {
    case 'header': return 'header';
    case 'tag':
    case 'record-head':
    case 'record-data': return 'a record or the trailer';
    default: return 'trailer';
  }
}

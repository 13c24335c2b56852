// Bitmap file codec, format version 2 (bitmap-format.md §2-3). Bytes in, headers and tables out: no
// files. The file handling (lock, fsync, upgrade from version 1) is src/local/bitmap-store.ts.
//
// File:      preamble (16) | header slot A (L) | header slot B (L) | digest table (n records of R bytes)
// Preamble:  bytes[8] "BASYNBMP" | u32 version = 2 | u32 slot length L
// Record i:  digest of buffer i | digest of chunk 0 ... chunk k-1 of buffer i   (all zero = unknown)
import { basynError } from './errors';
import { BITMAP_MISMATCH, type BitmapMismatchCode } from './errors-bitmap';
import { bufferCount } from './geometry';
import { hashById, type HashAlgorithm } from './hash';

export const BITMAP_MAGIC = Buffer.from('BASYNBMP', 'latin1');
export const BITMAP_VERSION = 2;
export const PREAMBLE_LENGTH = 16;
/** Slot bytes before the host and path strings. */
export const SLOT_FIXED_LENGTH = 88;
export const MAX_SLOT_LENGTH = 65536;
export const FLAG_RUN_IN_PROGRESS = 0x1;
const KNOWN_FLAGS = FLAG_RUN_IN_PROGRESS;

export const DESTINATION_KIND = {
  /** Bitmap-only mode: entries describe the source as last seen. */
  NONE: 0,
  /** A file or block device on this machine. */
  LOCAL: 1,
  /** A file or block device on an SSH host. */
  SSH: 2,
} as const;
export type DestinationKind = (typeof DESTINATION_KIND)[keyof typeof DESTINATION_KIND];

/** What destination a bitmap's entries describe (bitmap-format.md §2.2, offsets 58-88+h+p). */
export interface DestinationIdentity {
  readonly kind: DestinationKind;
  readonly host: string;
  readonly path: string;
  readonly size: number;
  /** st_dev of a file, st_rdev of a block device; 0n = unknown. Recorded, not compared. */
  readonly deviceId: bigint;
  /** st_ino of a regular file; 0n = unknown. Compared when both sides know it. */
  readonly fileId: bigint;
}

export interface BitmapLayout {
  readonly deviceSize: number;
  readonly bufferSize: number;
  /** 0: no chunk digests. */
  readonly chunkSize: number;
  readonly hash: HashAlgorithm;
}

export interface BitmapHeader {
  readonly flags: number;
  readonly generation: number;
  /** Milliseconds since the Unix epoch. */
  readonly created: number;
  /** End of the last clean run (ms), 0 = never. */
  readonly lastClean: number;
  readonly layout: BitmapLayout;
  readonly destination: DestinationIdentity;
}

/** Chunk entries per record (k): 0 without chunks. */
export function chunksPerRecord(layout: BitmapLayout): number {
  return layout.chunkSize > 0 ? Math.ceil(layout.bufferSize / layout.chunkSize) : 0;
}

/** Bytes of one record (R): the buffer digest and k chunk digests. */
export function recordLength(layout: BitmapLayout): number {
  return (1 + chunksPerRecord(layout)) * layout.hash.digestLength;
}

export function tableLength(layout: BitmapLayout): number {
  return bufferCount(layout.deviceSize, layout.bufferSize) * recordLength(layout);
}

export function slotLengthFor(destination: DestinationIdentity): number {
  const length = SLOT_FIXED_LENGTH + Buffer.byteLength(destination.host) + Buffer.byteLength(destination.path);
  return Math.ceil(length / 8) * 8;
}

export function tableOffset(slotLength: number): number {
  return PREAMBLE_LENGTH + 2 * slotLength;
}

/** Where the header of `generation` is written: slot A for even generations, slot B for odd ones. */
export function slotOffset(generation: number, slotLength: number): number {
  return PREAMBLE_LENGTH + (generation % 2) * slotLength;
}

export function isUnknownDigest(entry: Uint8Array): boolean {
  return entry.every((byte) => byte === 0);
}

// bytes[8] magic "BASYNBMP" | u32 version | u32 slot length
export function encodePreamble(slotLength: number): Buffer {
  const preamble = Buffer.alloc(PREAMBLE_LENGTH);
  BITMAP_MAGIC.copy(preamble, 0);
  preamble.writeUInt32LE(BITMAP_VERSION, 8);
  preamble.writeUInt32LE(slotLength, 12);
  return preamble;
}

// u32 crc | u32 flags | u64 generation | u64 created | u64 lastClean | u64 deviceSize | u64 bufferSize |
// u64 chunkSize | u8 hashId | u8 digestLength | u8 kind | u8 0 | u16 hostLength | u16 pathLength |
// u64 destinationSize | u64 deviceId | u64 fileId | host | path | zero padding to L
export function encodeSlot(header: BitmapHeader, slotLength: number): Buffer {
  const { layout, destination } = header;
  const host = Buffer.from(destination.host, 'utf8');
  const path = Buffer.from(destination.path, 'utf8');
  if (SLOT_FIXED_LENGTH + host.length + path.length > slotLength) throw new RangeError('bitmap header slot too small for host and path');
  const slot = Buffer.alloc(slotLength);
  slot.writeUInt32LE(header.flags, 4);
  slot.writeBigUInt64LE(BigInt(header.generation), 8);
  slot.writeBigUInt64LE(BigInt(header.created), 16);
  slot.writeBigUInt64LE(BigInt(header.lastClean), 24);
  slot.writeBigUInt64LE(BigInt(layout.deviceSize), 32);
  slot.writeBigUInt64LE(BigInt(layout.bufferSize), 40);
  slot.writeBigUInt64LE(BigInt(layout.chunkSize), 48);
  slot.writeUInt8(layout.hash.id, 56);
  slot.writeUInt8(layout.hash.digestLength, 57);
  slot.writeUInt8(destination.kind, 58);
  slot.writeUInt16LE(host.length, 60);
  slot.writeUInt16LE(path.length, 62);
  slot.writeBigUInt64LE(BigInt(destination.size), 64);
  slot.writeBigUInt64LE(destination.deviceId, 72);
  slot.writeBigUInt64LE(destination.fileId, 80);
  host.copy(slot, SLOT_FIXED_LENGTH);
  path.copy(slot, SLOT_FIXED_LENGTH + host.length);
  slot.writeUInt32LE(crc32(Buffer.concat([encodePreamble(slotLength), slot.subarray(4)])), 0);
  return slot;
}

/** A whole new file: the header in its generation's slot, the other slot zero (not valid), then the table. */
export function encodeBitmapFile(header: BitmapHeader, table: Buffer): Buffer {
  const slotLength = slotLengthFor(header.destination);
  const slots = Buffer.alloc(2 * slotLength);
  encodeSlot(header, slotLength).copy(slots, slotOffset(header.generation, slotLength) - PREAMBLE_LENGTH);
  return Buffer.concat([encodePreamble(slotLength), slots, table]);
}

export interface DecodedBitmap {
  readonly header: BitmapHeader;
  readonly slotLength: number;
  /** The digest table (a view into the input). */
  readonly table: Buffer;
}

/** Why a slot is not valid, or its header. */
function decodeSlot(preamble: Buffer, slot: Buffer): BitmapHeader | string {
  if (slot.readUInt32LE(0) !== crc32(Buffer.concat([preamble, slot.subarray(4)]))) return 'header checksum mismatch';
  const flags = slot.readUInt32LE(4);
  if ((flags & ~KNOWN_FLAGS) !== 0) return `unknown header flags 0x${flags.toString(16)} (written by a newer basyn?)`;
  const hashId = slot.readUInt8(56);
  const hash = hashById(hashId);
  if (!hash || hash.salted) return `unknown hash id ${hashId}`;
  const digestLength = slot.readUInt8(57);
  if (digestLength !== hash.digestLength) return `digest length ${digestLength} does not match ${hash.name} (${hash.digestLength})`;
  const kind = slot.readUInt8(58);
  if (kind > DESTINATION_KIND.SSH) return `unknown destination kind ${kind}`;
  const hostLength = slot.readUInt16LE(60);
  const pathLength = slot.readUInt16LE(62);
  if (SLOT_FIXED_LENGTH + hostLength + pathLength > slot.length) return 'host and path do not fit in the header slot';
  const number = (offset: number) => Number(slot.readBigUInt64LE(offset));
  const layout: BitmapLayout = { deviceSize: number(32), bufferSize: number(40), chunkSize: number(48), hash };
  if (layout.bufferSize < 1) return 'buffer size is 0';
  if (layout.chunkSize > layout.bufferSize) return `chunk size ${layout.chunkSize} is larger than the buffer size ${layout.bufferSize}`;
  return {
    flags,
    generation: number(8),
    created: number(16),
    lastClean: number(24),
    layout,
    destination: {
      kind: kind as DestinationKind,
      host: slot.toString('utf8', SLOT_FIXED_LENGTH, SLOT_FIXED_LENGTH + hostLength),
      path: slot.toString('utf8', SLOT_FIXED_LENGTH + hostLength, SLOT_FIXED_LENGTH + hostLength + pathLength),
      size: number(64),
      deviceId: slot.readBigUInt64LE(72),
      fileId: slot.readBigUInt64LE(80),
    },
  };
}

/**
 * Decodes a whole version 2 file (bitmap-format.md §3 steps 1-3 and 5). Throws a BitmapError saying
 * what is wrong; `label` names the file and `fix` says what to do, in messages.
 */
export function decodeBitmapFile(label: string, bytes: Buffer, fix: string): DecodedBitmap {
  const corrupt = (what: string) => basynError('BITMAP_DAMAGED', label, what, fix);
  if (bytes.length === 0) throw basynError('BITMAP_EMPTY', label, fix);
  if (bytes.length < BITMAP_MAGIC.length || !bytes.subarray(0, BITMAP_MAGIC.length).equals(BITMAP_MAGIC)) {
    throw basynError('BITMAP_NOT_A_BITMAP', label, fix);
  }
  const tooShort = (needed: number) => basynError('BITMAP_TOO_SHORT', label, bytes.length, needed, fix);
  if (bytes.length < PREAMBLE_LENGTH) throw tooShort(PREAMBLE_LENGTH);
  const version = bytes.readUInt32LE(8);
  if (version !== BITMAP_VERSION) {
    throw basynError('BITMAP_UNSUPPORTED_VERSION', label, version, fix);
  }
  const slotLength = bytes.readUInt32LE(12);
  if (slotLength % 8 !== 0 || slotLength < SLOT_FIXED_LENGTH || slotLength > MAX_SLOT_LENGTH) throw corrupt(`bad header slot length ${slotLength}`);
  const offset = tableOffset(slotLength);
  if (bytes.length < offset) throw tooShort(offset);
  const preamble = bytes.subarray(0, PREAMBLE_LENGTH);
  const slots = [0, 1].map((index) => decodeSlot(preamble, bytes.subarray(PREAMBLE_LENGTH + index * slotLength, PREAMBLE_LENGTH + (index + 1) * slotLength)));
  const valid = slots.filter((slot): slot is BitmapHeader => typeof slot !== 'string');
  if (valid.length === 0) throw corrupt(slots[0] as string);
  const header = valid.length === 2 && valid[1].generation > valid[0].generation ? valid[1] : valid[0];
  const expectedLength = offset + tableLength(header.layout);
  if (bytes.length !== expectedLength) {
    throw corrupt(`${bytes.length} bytes, expected ${expectedLength} (${bytes.length < expectedLength ? 'truncated' : 'trailing garbage'})`);
  }
  return { header, slotLength, table: bytes.subarray(offset) };
}

export function describeDestination(destination: DestinationIdentity): string {
  switch (destination.kind) {
    case DESTINATION_KIND.NONE: return 'no destination (bitmap-only mode)';
    case DESTINATION_KIND.LOCAL: return `${destination.path} on this machine (${destination.host})`;
    default: return `${destination.path} on ${destination.host}`;
  }
}

/** What did not match: the row of BITMAP_ERRORS (errors-bitmap.ts) and its two values, and its sentence. */
export interface BitmapMismatch {
  readonly code: BitmapMismatchCode;
  /** The run's value, then the bitmap's (for BITMAP_DESTINATION_REPLACED: this inode, then the bitmap's). */
  readonly values: readonly [number | bigint | string, number | bigint | string];
  /** The sentence with the expected and the found value ("device size mismatch: expected ..."). */
  readonly what: string;
  /** What option would make the bitmap fit ("use --buffer 64"), or ''. */
  readonly hint: string;
}

/**
 * Compares a bitmap's header with this run (bitmap-format.md §3 step 4). Returns the first mismatch,
 * or undefined when the bitmap fits.
 */
export function findMismatch(header: BitmapHeader, layout: BitmapLayout, destination: DestinationIdentity): BitmapMismatch | undefined {
  const found = <Code extends BitmapMismatchCode>(code: Code, hint: string, ...values: Parameters<(typeof BITMAP_MISMATCH)[Code]>): BitmapMismatch =>
    ({ code, values, hint, what: (BITMAP_MISMATCH[code] as (...args: unknown[]) => string)(...values) });
  const stored = header.layout;
  if (stored.deviceSize !== layout.deviceSize) return found('BITMAP_DEVICE_SIZE', '', layout.deviceSize, stored.deviceSize);
  if (stored.bufferSize !== layout.bufferSize) return found('BITMAP_BUFFER_SIZE', `use --buffer ${stored.bufferSize / 1024}`, layout.bufferSize, stored.bufferSize);
  if (stored.chunkSize !== layout.chunkSize) {
    const describe = (size: number) => (size === 0 ? 'no chunks' : `chunk size ${size}`);
    return found('BITMAP_CHUNK_SIZE', `use --chunk ${stored.chunkSize / 1024}`, describe(layout.chunkSize), describe(stored.chunkSize));
  }
  if (stored.hash.id !== layout.hash.id) return found('BITMAP_HASH', `use --hash ${stored.hash.name}`, layout.hash.name, stored.hash.name);
  const was = header.destination;
  if (was.kind !== destination.kind || was.host !== destination.host || was.path !== destination.path) {
    return found('BITMAP_OTHER_DESTINATION', '', describeDestination(was), describeDestination(destination));
  }
  if (was.size !== destination.size) return found('BITMAP_DESTINATION_RESIZED', '', was.size, destination.size);
  if (was.fileId !== 0n && destination.fileId !== 0n && was.fileId !== destination.fileId) {
    return found('BITMAP_DESTINATION_REPLACED', '', destination.fileId, was.fileId);
  }
  return undefined;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let index = 0; index < 256; index++) {
    let value = index;
    for (let bit = 0; bit < 8; bit++) value = value & 1 ? 0xedb88320 ^ (value >>> 1) : value >>> 1;
    table[index] = value >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3, reflected, as zlib). Node 20 before 20.15 has no zlib.crc32. */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

// Bitmap file codec (Python basyn's format, "version 1"), bytes only: see bitmap-format.md.
//
// Offset | Size | Type   | Field
// 0      | 8    | u64 LE | magic 239840023593485091
// 8      | 8    | u64 LE | device size in bytes
// 16     | 8    | u64 LE | buffer size in bytes
// 24     | 1    | u8     | hash id (SHA1=0 ... MD5=7, see hash.ts)
// 25     | n*d  | bytes  | one digest per buffer, n = ceil(device size / buffer size), d = digest length
//
// An all-zero digest means "unknown: must be sent" (a new file is all zeros).
import { BitmapError } from './errors';
import { bufferCount } from './geometry';
import { hashById, type HashAlgorithm } from './hash';

export const BITMAP_V1_MAGIC = 239840023593485091n;
export const BITMAP_V1_HEADER_LENGTH = 25;

export interface BitmapGeometry {
  readonly deviceSize: number;
  readonly bufferSize: number;
  readonly hash: HashAlgorithm;
}

export function bitmapV1TableLength(geometry: BitmapGeometry): number {
  return bufferCount(geometry.deviceSize, geometry.bufferSize) * geometry.hash.digestLength;
}

export function encodeBitmapV1Header(geometry: BitmapGeometry): Buffer {
  const header = Buffer.alloc(BITMAP_V1_HEADER_LENGTH);
  header.writeBigUInt64LE(BITMAP_V1_MAGIC, 0);
  header.writeBigUInt64LE(BigInt(geometry.deviceSize), 8);
  header.writeBigUInt64LE(BigInt(geometry.bufferSize), 16);
  header.writeUInt8(geometry.hash.id, 24);
  return header;
}

/**
 * Checks that a bitmap file (its first bytes and its total length) describes `expected`.
 * Throws a BitmapError naming what does not match.
 */
export function checkBitmapV1(path: string, head: Buffer, fileLength: number, expected: BitmapGeometry): void {
  const fix = 'delete it or pass --reset-bitmap to rebuild it';
  if (fileLength === 0) throw new BitmapError(`Bitmap file ${path} is empty; ${fix}`);
  if (fileLength < BITMAP_V1_HEADER_LENGTH) {
    throw new BitmapError(`Bitmap file ${path} is too small to contain header (${fileLength} bytes); ${fix}`);
  }
  if (head.readBigUInt64LE(0) !== BITMAP_V1_MAGIC) throw new BitmapError(`Invalid bitmap file ${path}: bad magic number; ${fix}`);
  const deviceSize = head.readBigUInt64LE(8);
  const bufferSize = head.readBigUInt64LE(16);
  const hashId = head.readUInt8(24);
  if (deviceSize !== BigInt(expected.deviceSize)) {
    throw new BitmapError(`Bitmap ${path}: device size mismatch: expected ${expected.deviceSize}, got in bitmap ${deviceSize}; ${fix}`);
  }
  if (bufferSize !== BigInt(expected.bufferSize)) {
    throw new BitmapError(
      `Bitmap ${path}: buffer size mismatch: expected ${expected.bufferSize}, got in bitmap ${bufferSize} (use --buffer ${Number(bufferSize) / 1024} or ${fix})`,
    );
  }
  if (hashId !== expected.hash.id) {
    const name = hashById(hashId)?.name ?? `unknown id ${hashId}`;
    throw new BitmapError(`Bitmap ${path}: hash function mismatch: expected ${expected.hash.name}, got in bitmap ${name} (use --hash ${name} or ${fix})`);
  }
  const expectedLength = BITMAP_V1_HEADER_LENGTH + bitmapV1TableLength(expected);
  if (fileLength !== expectedLength) {
    throw new BitmapError(`Bitmap ${path} is damaged: ${fileLength} bytes, expected ${expectedLength} (${fileLength < expectedLength ? 'truncated' : 'trailing garbage'}); ${fix}`);
  }
}

export function isUnknownDigest(entry: Uint8Array): boolean {
  return entry.every((byte) => byte === 0);
}

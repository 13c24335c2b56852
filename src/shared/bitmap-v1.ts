// Python basyn's bitmap format ("version 1"), read for compatibility and upgraded to version 2 on the
// first run that writes (bitmap-format.md §1). Bytes only: no files.
//
// Offset | Size | Type   | Field
// 0      | 8    | u64 LE | magic 239840023593485091
// 8      | 8    | u64 LE | device size in bytes
// 16     | 8    | u64 LE | buffer size in bytes
// 24     | 1    | u8     | hash id (SHA1=0 ... MD5=7, see hash.ts)
// 25     | n*d  | bytes  | one digest per buffer, n = ceil(device size / buffer size), d = digest length
import { basynError } from './errors';
import { bufferCount } from './geometry';
import { hashById, type HashAlgorithm } from './hash';

export const BITMAP_V1_MAGIC = 239840023593485091n;
export const BITMAP_V1_HEADER_LENGTH = 25;

export interface BitmapV1Geometry {
  readonly deviceSize: number;
  readonly bufferSize: number;
  readonly hash: HashAlgorithm;
}

export function isBitmapV1(bytes: Buffer): boolean {
  return bytes.length >= 8 && bytes.readBigUInt64LE(0) === BITMAP_V1_MAGIC;
}

export function encodeBitmapV1(geometry: BitmapV1Geometry, table: Buffer): Buffer {
  const header = Buffer.alloc(BITMAP_V1_HEADER_LENGTH);
  header.writeBigUInt64LE(BITMAP_V1_MAGIC, 0);
  header.writeBigUInt64LE(BigInt(geometry.deviceSize), 8);
  header.writeBigUInt64LE(BigInt(geometry.bufferSize), 16);
  header.writeUInt8(geometry.hash.id, 24);
  return Buffer.concat([header, table]);
}

/**
 * Checks a whole version 1 file against this run's geometry and returns its digest table (one digest
 * per buffer). Throws a BitmapError naming the first mismatch; `label` names the file in messages.
 */
export function decodeBitmapV1(label: string, bytes: Buffer, expected: BitmapV1Geometry, fix: string): Buffer {
  if (bytes.length < BITMAP_V1_HEADER_LENGTH) {
    throw basynError('BITMAP_V1_TOO_SMALL', label, bytes.length, fix);
  }
  const deviceSize = bytes.readBigUInt64LE(8);
  const bufferSize = bytes.readBigUInt64LE(16);
  const hashId = bytes.readUInt8(24);
  if (deviceSize !== BigInt(expected.deviceSize)) {
    throw basynError('BITMAP_V1_MISMATCH', label, 'device size', expected.deviceSize, deviceSize, `; ${fix}`);
  }
  if (bufferSize !== BigInt(expected.bufferSize)) {
    throw basynError('BITMAP_V1_MISMATCH', label, 'buffer size', expected.bufferSize, bufferSize, ` (use --buffer ${Number(bufferSize) / 1024}, or ${fix})`);
  }
  if (hashId !== expected.hash.id) {
    const name = hashById(hashId)?.name ?? `unknown id ${hashId}`;
    throw basynError('BITMAP_V1_MISMATCH', label, 'hash function', expected.hash.name, name, ` (use --hash ${name}, or ${fix})`);
  }
  const expectedLength = BITMAP_V1_HEADER_LENGTH + bufferCount(expected.deviceSize, expected.bufferSize) * expected.hash.digestLength;
  if (bytes.length !== expectedLength) {
    const what = bytes.length < expectedLength ? 'truncated' : 'trailing garbage';
    throw basynError('BITMAP_V1_DAMAGED', label, bytes.length, expectedLength, what, fix);
  }
  return bytes.subarray(BITMAP_V1_HEADER_LENGTH);
}

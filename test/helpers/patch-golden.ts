// Patch files built byte by byte from the tables in patch-format.md, never with src/shared/patch-format.ts
// or bdsync-format.ts: if a codec and its spec drift apart, the tests comparing the two fail.
import { createHash } from 'node:crypto';
import { ascii, u16, u32, u64, u8 } from './golden';

export interface GoldenRecord {
  encoding: number; // 0 raw, 1 deflate, 2 zero
  length: number;
  offset: number;
  preImage?: Buffer;
  postImage: Buffer;
  stored: Buffer;
}

const sha256 = (bytes: number[]): number[] => [...createHash('sha256').update(Buffer.from(bytes)).digest()];

/** §1-3: header, records, trailer, whole-file SHA-256. */
export function goldenPatch(options: {
  digestId: number; digestLength: number; flags?: number; sizeMode?: number; blockSize: number;
  sourceSize: number; targetSize: number; records: GoldenRecord[]; wholeDigest?: Buffer; version?: number;
}): Buffer {
  const d = options.digestLength;
  const bytes: number[] = [
    ...ascii('BASYNPAT'), ...u32(options.version ?? 1), ...u8(options.digestId), ...u8(options.flags ?? 0), ...u8(options.sizeMode ?? 0), ...u8(0),
    ...u32(options.blockSize), ...u32(0), ...u64(options.sourceSize), ...u64(options.targetSize),
  ];
  let total = 0;
  for (const record of options.records) {
    bytes.push(...u8(0x52), ...u8(record.encoding), ...u8(record.preImage ? 1 : 0), ...u8(0), ...u32(record.length), ...u64(record.offset), ...u32(record.stored.length));
    bytes.push(...(record.preImage ? [...record.preImage] : new Array<number>(d).fill(0)), ...record.postImage, ...record.stored);
    total += record.length;
  }
  bytes.push(...u8(0x54), ...u8(options.wholeDigest ? 1 : 0), ...u16(0), ...u32(0), ...u64(options.records.length), ...u64(total));
  if (options.wholeDigest) bytes.push(...options.wholeDigest);
  bytes.push(...sha256(bytes));
  return Buffer.from(bytes);
}

/** §6: bdsync's BDSYNC 0.3 file. */
export function goldenBdsync(sourceSize: number, name: string, records: Array<{ offset: number; data: Buffer }>, checksum?: { name: string; value: Buffer }): Buffer {
  const nameBytes = [...Buffer.from(name, 'utf8')];
  const bytes: number[] = [...ascii('BDSYNC 0.3\n'), ...u64(sourceSize), ...u16(nameBytes.length), ...nameBytes];
  for (const record of records) bytes.push(...u64(record.offset), ...u16(record.data.length), ...record.data);
  bytes.push(...u64(0), ...u16(0));
  if (checksum) bytes.push(...u8(checksum.name.length), ...ascii(checksum.name), ...u8(checksum.value.length), ...checksum.value);
  else bytes.push(...u8(0));
  return Buffer.from(bytes);
}

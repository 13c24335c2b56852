// Bitmap files built byte by byte from the tables in bitmap-format.md, never with src/shared/bitmap*.ts:
// if the codec and the spec drift apart, the tests comparing the two fail. The CRC comes from
// node:zlib (the codec carries its own table), so the checksum is checked independently too.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { ascii, u16, u32, u64, u8 } from './golden';

/** §1: version 1 files come from the one builder in golden.ts. */
export { bitmapV1 } from './golden';

export interface GoldenSlot {
  flags: number;
  generation: number;
  created: number;
  lastClean: number;
  deviceSize: number;
  bufferSize: number;
  chunkSize: number;
  hashId: number;
  digestLength: number;
  kind: number;
  host: string;
  path: string;
  destinationSize: number;
  deviceId: bigint;
  fileId: bigint;
}

/** §2.1 preamble: "BASYNBMP" | u32 version | u32 slot length. */
export function preamble(slotLength: number, version = 2): number[] {
  return [...ascii('BASYNBMP'), ...u32(version), ...u32(slotLength)];
}

/** §2.2: the slot length a writer picks: 88 + host + path bytes, rounded up to a multiple of 8. */
export function slotLengthFor(host: string, path: string): number {
  const length = 88 + Buffer.byteLength(host) + Buffer.byteLength(path);
  return Math.ceil(length / 8) * 8;
}

/** §2.2: one header slot of `slotLength` bytes, CRC-32 over the preamble then slot bytes 4.. */
export function slot(fields: GoldenSlot, slotLength: number): number[] {
  const host = [...Buffer.from(fields.host, 'utf8')];
  const path = [...Buffer.from(fields.path, 'utf8')];
  const body = [
    ...u32(fields.flags), ...u64(fields.generation), ...u64(fields.created), ...u64(fields.lastClean),
    ...u64(fields.deviceSize), ...u64(fields.bufferSize), ...u64(fields.chunkSize),
    ...u8(fields.hashId), ...u8(fields.digestLength), ...u8(fields.kind), ...u8(0),
    ...u16(host.length), ...u16(path.length),
    ...u64(fields.destinationSize), ...u64(fields.deviceId), ...u64(fields.fileId),
    ...host, ...path,
  ];
  while (body.length < slotLength - 4) body.push(0);
  const crc = zlib.crc32(Buffer.from([...preamble(slotLength), ...body]));
  return [...u32(crc), ...body];
}

/**
 * A whole version 2 file: preamble, slot A, slot B (`undefined`: all zero, as in a new file), then the
 * records, each already laid out as buffer digest + chunk digests.
 */
export function bitmapV2(slotA: GoldenSlot, slotB: GoldenSlot | undefined, records: Buffer[]): Buffer {
  const length = slotLengthFor(slotA.host, slotA.path);
  return Buffer.concat([
    Buffer.from(preamble(length)),
    Buffer.from(slot(slotA, length)),
    slotB ? Buffer.from(slot(slotB, length)) : Buffer.alloc(length),
    ...records,
  ]);
}

export const md5 = (hex: string): Buffer => Buffer.from(hex, 'hex');
export const UNKNOWN_MD5 = Buffer.alloc(16);

/** The hex dumps of bitmap-format.md §6, by example title: "0000  42 41 ..." lines, offsets dropped. */
export function specExamples(): Map<string, Buffer> {
  const text = readFileSync(join(__dirname, '..', '..', 'bitmap-format.md'), 'utf8');
  const examples = new Map<string, Buffer>();
  const pattern = /^### (Example [^\n]*)\n[\s\S]*?```hex\n([\s\S]*?)```/gm;
  for (const match of text.matchAll(pattern)) {
    const bytes = match[2].split('\n').filter((line) => line.trim()).flatMap((line) => line.trim().split(/\s+/).slice(1).map((pair) => parseInt(pair, 16)));
    examples.set(match[1].trim(), Buffer.from(bytes));
  }
  return examples;
}

/** Formats bytes as the spec's dumps: 4-digit hex offset, then 16 bytes in two groups of 8. */
export function hexDump(bytes: Buffer): string {
  const lines: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const row = [...bytes.subarray(offset, offset + 16)].map((byte) => byte.toString(16).padStart(2, '0'));
    lines.push(`${offset.toString(16).padStart(4, '0')}  ${row.slice(0, 8).join(' ')}${row.length > 8 ? `  ${row.slice(8).join(' ')}` : ''}`);
  }
  return lines.join('\n');
}

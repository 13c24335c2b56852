// Golden bytes written from the spec tables (docs/protocol.md §2-3, bitmap-format.md), never from the
// encoders in src/: if an encoder and its spec drift apart, the tests comparing against these fail.
// Numbers are spelled out here on purpose instead of imported from src/shared/protocol.ts.

/** Message type codes, copied from the table in docs/protocol.md §3. */
export const TYPE = {
  HELLO: 0x01,
  OPEN: 0x10,
  OPENED: 0x11,
  HASH: 0x12,
  DIGESTS: 0x13,
  READ: 0x14,
  DATA: 0x15,
  WRITE: 0x16,
  WRITTEN: 0x17,
  FLUSH: 0x18,
  FLUSHED: 0x19,
  CLOSE: 0x1a,
  CLOSED: 0x1b,
  PATCH_BEGIN: 0x20,
  PATCH_DATA: 0x22,
  PATCH_DONE: 0x25,
  PATCH_ROLLBACK: 0x26,
  LOG: 0x7e,
  ERROR: 0x7f,
} as const;

/** Block encodings (docs/protocol.md, block table). */
export const BLOCK = { RAW: 0, DEFLATE: 1, ZERO: 2, RUNS: 3 } as const;

/** One run of a RUNS block: u8 encoding | u32 rawLength | u32 length | bytes (docs/protocol.md §3). */
export function run(encoding: number, rawLength: number, bytes: number[] | Uint8Array = []): number[] {
  return [...u8(encoding), ...u32(rawLength), ...u32(bytes.length), ...bytes];
}

/** The runs of a RUNS block's bytes, read from the spec's layout (independently of the codec). */
export function parseRunsFromSpec(bytes: Buffer): Array<{ encoding: number; rawLength: number; length: number }> {
  const runs: Array<{ encoding: number; rawLength: number; length: number }> = [];
  for (let at = 0; at < bytes.length;) {
    const encoding = bytes[at];
    const rawLength = bytes[at + 1] + bytes[at + 2] * 2 ** 8 + bytes[at + 3] * 2 ** 16 + bytes[at + 4] * 2 ** 24;
    const length = bytes[at + 5] + bytes[at + 6] * 2 ** 8 + bytes[at + 7] * 2 ** 16 + bytes[at + 8] * 2 ** 24;
    runs.push({ encoding, rawLength, length });
    at += 9 + length;
  }
  return runs;
}

/** An unsigned integer as `width` little-endian bytes, by arithmetic (no Buffer write helpers). */
export function le(value: number | bigint, width: number): number[] {
  let rest = BigInt(value);
  const bytes: number[] = [];
  for (let index = 0; index < width; index++) {
    bytes.push(Number(rest & 0xffn));
    rest >>= 8n;
  }
  if (rest !== 0n) throw new Error(`${value} does not fit in ${width} bytes`);
  return bytes;
}

export const u8 = (value: number): number[] => le(value, 1);
export const u16 = (value: number): number[] => le(value, 2);
export const u32 = (value: number): number[] => le(value, 4);
export const u64 = (value: number | bigint): number[] => le(value, 8);

/** `str`: u16 LE byte length, then UTF-8. */
export function str(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...u16(bytes.length), ...bytes];
}

export function ascii(text: string): number[] {
  return [...text].map((character) => character.charCodeAt(0));
}

/** One frame: u32 length (5 + payload) | u8 type | u32 id | payload. */
export function frame(type: number, id: number, payload: number[] | Uint8Array = []): Buffer {
  const body = [...payload];
  return Buffer.from([...u32(5 + body.length), ...u8(type), ...u32(id), ...body]);
}

/** A block as DATA and WRITE carry it: u8 encoding | u32 rawLength | bytes. */
export function block(encoding: number, rawLength: number, bytes: number[] | Uint8Array = []): number[] {
  return [...u8(encoding), ...u32(rawLength), ...bytes];
}

/** HELLO payload: bytes[8] "BASYNAGT" | u16 version | str buildId. */
export function helloPayload(version: number, buildId: string): number[] {
  return [...ascii('BASYNAGT'), ...u16(version), ...str(buildId)];
}

/**
 * bitmap-format.md §1, Python basyn's bitmap (version 1), the one builder of it: struct `<QQQB` (magic
 * 239840023593485091, device size, buffer size, hash id SHA1=0 ... MD5=7), then one digest per buffer.
 */
export function bitmapV1(deviceSize: number, bufferSize: number, hashId: number, digests: Buffer[] = []): Buffer {
  return Buffer.from([...u64(239840023593485091n), ...u64(deviceSize), ...u64(bufferSize), ...u8(hashId), ...digests.flatMap((digest) => [...digest])]);
}

/** The 25-byte version 1 header alone (a file whose digests a test appends itself). */
export const bitmapV1Header = (deviceSize: number, bufferSize: number, hashId: number): Buffer => bitmapV1(deviceSize, bufferSize, hashId);


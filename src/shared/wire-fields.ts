// The field codec under the protocol's frames (protocol.ts): little-endian integers, u16-prefixed UTF-8
// strings and a trailing data field, written into a frame (Writer) and read back with bounds checks
// (Reader). Apart from protocol.ts only so that the message cases there read top-down.
import { basynError } from './errors';

/** u32 length | u8 type | u32 id (docs/protocol.md §2). */
export const FRAME_HEADER_LENGTH = 9;

/** Payloads at least this large are not copied into their frame (see Writer.frame). */
const LARGE_PART = 64 * 1024;

export class Writer {
  private readonly parts: Buffer[] = [];
  private length = 0;
  /** Parts from this index on are a data payload, written as they are (see frame()). */
  private dataFrom?: number;

  u8(value: number): this { return this.push(Buffer.of(value)); }
  u16(value: number): this { const b = Buffer.allocUnsafe(2); b.writeUInt16LE(value); return this.push(b); }
  u32(value: number): this { const b = Buffer.allocUnsafe(4); b.writeUInt32LE(value); return this.push(b); }
  u64(value: number | bigint): this { const b = Buffer.allocUnsafe(8); b.writeBigUInt64LE(BigInt(value)); return this.push(b); }
  str(value: string): this {
    const bytes = Buffer.from(value, 'utf8');
    if (bytes.length > 0xffff) throw basynError('PROTOCOL_STRING_TOO_LONG');
    return this.u16(bytes.length).push(bytes);
  }
  bytes(value: Buffer): this { return this.data([value]); }

  /** The payload's last field, in pieces: a large one is written as it is, never copied (see frame()). */
  data(pieces: readonly Buffer[]): this {
    const total = pieces.reduce((sum, piece) => sum + piece.length, 0);
    if (total >= LARGE_PART) this.dataFrom = this.parts.length;
    for (const piece of pieces) this.push(piece);
    return this;
  }

  /**
   * The frame for `type` and `id`, as pieces to write one after the other: the header and the small
   * fields in one buffer, and a large data payload by itself (in the pieces it came in), so that a
   * 2 MiB block is not copied just to be framed.
   */
  frame(type: number, id: number): Buffer[] {
    const header = Buffer.allocUnsafe(FRAME_HEADER_LENGTH);
    header.writeUInt32LE(5 + this.length, 0);
    header.writeUInt8(type, 4);
    header.writeUInt32LE(id, 5);
    const small = this.parts.slice(0, this.dataFrom);
    const head = Buffer.concat([header, ...small], FRAME_HEADER_LENGTH + small.reduce((sum, part) => sum + part.length, 0));
    return this.dataFrom === undefined ? [head] : [head, ...this.parts.slice(this.dataFrom).filter((part) => part.length > 0)];
  }

  private push(part: Buffer): this {
    this.parts.push(part);
    this.length += part.length;
    return this;
  }
}

export class Reader {
  private position = 0;
  /**
   * `payload` holds the fields; `tail`, for a large frame kept in pieces (FrameDecoder), the rest of a
   * DATA or WRITE block's bytes after it: only restPieces() reaches into it.
   */
  constructor(private readonly payload: Buffer, private readonly what: string, private readonly tail: readonly Buffer[] = []) {}

  u8(): number { return this.take(1).readUInt8(0); }
  u16(): number { return this.take(2).readUInt16LE(0); }
  u32(): number { return this.take(4).readUInt32LE(0); }
  u64(): number {
    const value = this.take(8).readBigUInt64LE(0);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw basynError('PROTOCOL_OFFSET_RANGE', this.what, value);
    return Number(value);
  }
  str(): string { return this.take(this.u16()).toString('utf8'); }
  take(length: number): Buffer {
    if (this.position + length > this.payload.length) {
      throw basynError('PROTOCOL_PAYLOAD_SHORT', this.what, this.payload.length);
    }
    const slice = this.payload.subarray(this.position, this.position + length);
    this.position += length;
    return slice;
  }
  rest(): Buffer {
    // Invariant, not a user-visible error: only DATA and WRITE bodies come in pieces, and they read restPieces().
    if (this.tail.length > 0) throw new Error(`internal: ${this.what} payload in pieces`);
    return this.take(this.payload.length - this.position);
  }
  restPieces(): Buffer[] {
    const first = this.take(this.payload.length - this.position);
    return first.length > 0 || this.tail.length === 0 ? [first, ...this.tail] : [...this.tail];
  }
  end(): void {
    if (this.position !== this.payload.length) {
      throw basynError('PROTOCOL_TRAILING_BYTES', this.what, this.payload.length - this.position);
    }
  }
}

// bdsync's patch format, "BDSYNC 0.3" (patch-format.md §6), read and written for compatibility.
// Bytes in, events out: no files. bdsync writes its integers in host byte order; every bdsync patch
// in use comes from little-endian machines, and that is what is read and written here.
//
//   "BDSYNC 0.3\n" | u64 source size | u16 name length | name
//   { u64 offset | u16 length | bytes data }*          one record per block piece (at most 32 KiB)
//   u64 0 | u16 0                                       the end of the records
//   u8 0  |  u8 n | name[n] | u8 m | checksum[m]        no checksum, or the source's whole checksum
import { ChunkedDecoder } from './chunked-decoder';
import { PatchError, basynError } from './errors';

export const BDSYNC_HEADER_LINE = 'BDSYNC 0.3\n';
/** bdsync refuses a device name longer than this. */
export const BDSYNC_MAX_NAME = 16384;
/** bdsync writes a block as pieces of at most this many bytes (its u16 length). */
export const BDSYNC_MAX_PIECE = 32768;

export interface BdsyncHeader {
  readonly sourceSize: number;
  /** The target as named on the command line that made the patch. */
  readonly name: string;
}

export interface BdsyncRecord {
  readonly offset: number;
  readonly data: Buffer;
}

export interface BdsyncTrailer {
  readonly checksumName?: string;
  readonly checksum?: Buffer;
}

export type BdsyncEvent =
  | { readonly kind: 'header'; readonly header: BdsyncHeader }
  | { readonly kind: 'record'; readonly record: BdsyncRecord }
  | { readonly kind: 'trailer'; readonly trailer: BdsyncTrailer };

export function encodeBdsyncHeader(header: BdsyncHeader): Buffer {
  const name = Buffer.from(header.name, 'utf8');
  const fixed = Buffer.alloc(10);
  fixed.writeBigUInt64LE(BigInt(header.sourceSize), 0);
  fixed.writeUInt16LE(name.length, 8);
  return Buffer.concat([Buffer.from(BDSYNC_HEADER_LINE, 'latin1'), fixed, name]);
}

export function encodeBdsyncRecord(record: BdsyncRecord): Buffer[] {
  const head = Buffer.alloc(10);
  head.writeBigUInt64LE(BigInt(record.offset), 0);
  head.writeUInt16LE(record.data.length, 8);
  return [head, record.data];
}

export function encodeBdsyncTrailer(trailer: BdsyncTrailer = {}): Buffer {
  const end = Buffer.alloc(10);
  if (!trailer.checksumName || !trailer.checksum) return Buffer.concat([end, Buffer.of(0)]);
  const name = Buffer.from(trailer.checksumName, 'latin1');
  return Buffer.concat([end, Buffer.of(name.length), name, Buffer.of(trailer.checksum.length), trailer.checksum]);
}

type State = 'line' | 'size' | 'name' | 'record-head' | 'record-data' | 'checksum-name-length' | 'checksum-name' | 'checksum-length' | 'checksum' | 'done';

/** Feed it the file in slices with push(); end() at the end. Throws PatchError at the first bad byte. */
export class BdsyncDecoder extends ChunkedDecoder<State, BdsyncEvent> {
  protected state: State = 'line';
  private header?: { sourceSize: number; nameLength: number };
  private record?: { offset: number; length: number };
  private nextFree = 0;
  private checksumName?: string;
  private want = 0;

  end(): void {
    if (this.done) return;
    if (this.received === 0) throw basynError('PATCH_EMPTY');
    throw this.fail(`the bdsync patch is cut short (${this.received} bytes)`);
  }

  protected need(): number | undefined {
    switch (this.state) {
      case 'line': return BDSYNC_HEADER_LINE.length;
      case 'size': return 10;
      case 'name': return this.header?.nameLength;
      case 'record-head': return 10;
      case 'record-data': return this.record?.length;
      case 'checksum-name-length':
      case 'checksum-length': return 1;
      case 'checksum-name':
      case 'checksum': return this.want;
      case 'done': return undefined;
    }
  }

  private fail(reason: string): PatchError {
    return basynError('PATCH_MALFORMED', reason, this.consumed);
  }

  protected step(bytes: Buffer): BdsyncEvent | undefined {
    switch (this.state) {
      case 'line': {
        const line = bytes.toString('latin1');
        if (!line.startsWith('BDSYNC ')) throw this.fail('not a bdsync patch (bad header)');
        if (line !== BDSYNC_HEADER_LINE) throw this.fail(`unknown bdsync patch version (this basyn reads ${JSON.stringify(BDSYNC_HEADER_LINE.trim())})`);
        this.state = 'size';
        return undefined;
      }
      case 'size': {
        const size = bytes.readBigUInt64LE(0);
        const nameLength = bytes.readUInt16LE(8);
        if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw this.fail('the device size is too large');
        if (nameLength > BDSYNC_MAX_NAME) throw this.fail(`device name of ${nameLength} bytes (bdsync allows ${BDSYNC_MAX_NAME})`);
        this.header = { sourceSize: Number(size), nameLength };
        this.state = 'name';
        if (nameLength > 0) return undefined;
        return this.step(Buffer.alloc(0));
      }
      case 'name': {
        this.state = 'record-head';
        return { kind: 'header', header: { sourceSize: (this.header as { sourceSize: number }).sourceSize, name: bytes.toString('utf8') } };
      }
      case 'record-head': {
        const offset = bytes.readBigUInt64LE(0);
        const length = bytes.readUInt16LE(8);
        if (offset === 0n && length === 0) {
          this.state = 'checksum-name-length';
          return undefined;
        }
        const size = (this.header as { sourceSize: number }).sourceSize;
        if (length === 0 || offset + BigInt(length) > BigInt(size)) throw this.fail(`record at ${offset} of ${length} bytes does not fit the ${size}-byte device`);
        if (Number(offset) < this.nextFree) throw this.fail(`record at ${offset} overlaps or precedes the previous one (which ends at ${this.nextFree})`);
        this.record = { offset: Number(offset), length };
        this.nextFree = Number(offset) + length;
        this.state = 'record-data';
        return undefined;
      }
      case 'record-data': {
        this.state = 'record-head';
        return { kind: 'record', record: { offset: (this.record as { offset: number }).offset, data: bytes } };
      }
      case 'checksum-name-length': {
        const length = bytes[0];
        if (length > 127) throw this.fail('bad checksum name length');
        if (length === 0) {
          this.state = 'done';
          return { kind: 'trailer', trailer: {} };
        }
        this.want = length;
        this.state = 'checksum-name';
        return undefined;
      }
      case 'checksum-name': {
        this.checksumName = bytes.toString('latin1');
        this.state = 'checksum-length';
        return undefined;
      }
      case 'checksum-length': {
        const length = bytes[0];
        if (length === 0 || length > 127) throw this.fail('bad checksum length');
        this.want = length;
        this.state = 'checksum';
        return undefined;
      }
      case 'checksum': {
        this.state = 'done';
        return { kind: 'trailer', trailer: { checksumName: this.checksumName, checksum: Buffer.from(bytes) } };
      }
      case 'done':
        throw this.fail('trailing bytes after the trailer');
    }
  }
}

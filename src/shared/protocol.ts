// The wire protocol between controller and agent: message table, version, and one encoder plus one
// decoder case per message. Bytes in, messages out: no sockets, no files (see docs/protocol.md).
//
// Every frame:  u32 length | u8 type | u32 id | payload      (little-endian; length = 5 + payload length)
// `id` matches a reply to its request; messages that are not replies carry id 0.
// Strings are u16 byte length + UTF-8. Offsets are u64 (read as a JS number: devices < 8 PiB).
import { basynError } from './errors';
import { FRAME_HEADER_LENGTH, Reader, Writer } from './wire-fields';

export { FRAME_HEADER_LENGTH };

export const PROTOCOL_VERSION = 3;
/** First 8 bytes of the agent's HELLO: tells a basyn agent from shell noise or another program. */
export const HELLO_MAGIC = Buffer.from('BASYNAGT', 'latin1');
/** Largest buffer a run may use (--buffer); frames are capped just above it. */
export const MAX_BUFFER_SIZE = 64 * 1024 * 1024;
export const MAX_FRAME_LENGTH = MAX_BUFFER_SIZE + 64 * 1024;

export const MSG = {
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
  // `basyn patch -h HOST` (patch-format.md §4): the patch is spooled on the target's host, then applied there.
  PATCH_BEGIN: 0x20,
  PATCH_READY: 0x21,
  PATCH_DATA: 0x22,
  PATCH_ACK: 0x23,
  PATCH_APPLY: 0x24,
  PATCH_DONE: 0x25,
  PATCH_ROLLBACK: 0x26,
  LOG: 0x7e,
  ERROR: 0x7f,
} as const;

/** How a block's bytes travel in DATA and WRITE. */
export const ENCODING = {
  RAW: 0,
  DEFLATE: 1,
  /** `rawLength` zero bytes; no payload bytes follow. */
  ZERO: 2,
  /** Runs: zero runs as markers, the data between them RAW or DEFLATE (docs/protocol.md §3). */
  RUNS: 3,
} as const;
export type Encoding = (typeof ENCODING)[keyof typeof ENCODING];

export const OPEN_FLAG_WRITABLE = 0x01;
/** The agent expands a leading `~` or `~user` of the path itself (SOURCE TARGET remote endpoints). */
export const OPEN_FLAG_HOME = 0x02;
/** With WRITABLE: a missing file is created (0600, sparse) at `createSize` bytes; never under /dev. */
export const OPEN_FLAG_CREATE = 0x04;

export interface EncodedBlock {
  readonly encoding: Encoding;
  readonly rawLength: number;
  /** The payload in one buffer (for a block received in pieces: joined on first use, see `pieces`). */
  readonly bytes: Buffer;
  /**
   * The payload as it arrived, when a large frame came in several reads (a pipe delivers 64 KiB at a
   * time): forwarded and written in these pieces, never joined, so a 2 MiB block costs no fresh 2 MiB
   * buffer (on this machine a fresh one costs ~6 ms of page faults, a copy into warm memory 0.1 ms).
   */
  readonly pieces?: readonly Buffer[];
}

/** Bytes the block takes on the wire after its 5-byte header, without joining its pieces. */
export function payloadLength(block: EncodedBlock): number {
  return block.pieces ? block.pieces.reduce((sum, piece) => sum + piece.length, 0) : block.bytes.length;
}

/** A block whose payload is `pieces`; `bytes` joins them on first use only. */
export function piecedBlock(encoding: Encoding, rawLength: number, pieces: readonly Buffer[]): EncodedBlock {
  if (pieces.length === 1) return { encoding, rawLength, bytes: pieces[0] };
  let joined: Buffer | undefined;
  const block = { encoding, rawLength } as { encoding: Encoding; rawLength: number; bytes: Buffer; pieces: readonly Buffer[] };
  Object.defineProperty(block, 'bytes', { enumerable: true, get: () => (joined ??= Buffer.concat(pieces as Buffer[])) });
  Object.defineProperty(block, 'pieces', { enumerable: false, value: pieces });
  return block;
}

export type Message =
  | { type: typeof MSG.HELLO; id: number; version: number; buildId: string }
  | { type: typeof MSG.OPEN; id: number; writable: boolean; hashId: number; seed: bigint; path: string; home?: boolean; createSize?: number }
  | { type: typeof MSG.OPENED; id: number; size: number }
  | { type: typeof MSG.HASH; id: number; offset: number; length: number; chunkSize: number }
  | { type: typeof MSG.DIGESTS; id: number; digests: Buffer }
  | { type: typeof MSG.READ; id: number; offset: number; length: number; level: number }
  | { type: typeof MSG.DATA; id: number; block: EncodedBlock }
  | { type: typeof MSG.WRITE; id: number; offset: number; block: EncodedBlock }
  | { type: typeof MSG.WRITTEN; id: number }
  | { type: typeof MSG.FLUSH; id: number }
  | { type: typeof MSG.FLUSHED; id: number }
  | { type: typeof MSG.CLOSE; id: number }
  | { type: typeof MSG.CLOSED; id: number }
  | { type: typeof MSG.PATCH_BEGIN; id: number; size: number; sizeMode: number; stateDir: string; spoolDir: string; target: string }
  | { type: typeof MSG.PATCH_READY; id: number }
  | { type: typeof MSG.PATCH_DATA; id: number; bytes: Buffer }
  | { type: typeof MSG.PATCH_ACK; id: number }
  | { type: typeof MSG.PATCH_APPLY; id: number }
  | { type: typeof MSG.PATCH_DONE; id: number; outcome: string }
  | { type: typeof MSG.PATCH_ROLLBACK; id: number; stateDir: string; target: string }
  | { type: typeof MSG.LOG; id: number; level: number; text: string }
  | { type: typeof MSG.ERROR; id: number; code: string; message: string };

export type MessageOf<T extends Message['type']> = Extract<Message, { type: T }>;

export const MESSAGE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(MSG).map(([name, type]) => [type, name]),
);

// ---------------------------------------------------------------------------------------------
// Encoding

function writeBlock(writer: Writer, block: EncodedBlock): Writer {
  // u8 encoding | u32 rawLength | bytes (empty for ZERO)
  return writer.u8(block.encoding).u32(block.rawLength).data(block.pieces ?? [block.bytes]);
}

/** One frame for one message. */
export function encode(message: Message): Buffer {
  return Buffer.concat(encodeParts(message));
}

/** One frame for one message, in pieces to be written in order (no copy of a large payload). */
export function encodeParts(message: Message): Buffer[] {
  const writer = new Writer();
  switch (message.type) {
    case MSG.HELLO: // bytes[8] magic | u16 version | str buildId
      writer.bytes(HELLO_MAGIC).u16(message.version).str(message.buildId);
      break;
    case MSG.OPEN: { // u8 flags | u8 hashId | u64 seed (salted hashes only, else 0) | str path | u64 createSize (only with CREATE)
      const create = message.createSize !== undefined;
      const flags = (message.writable ? OPEN_FLAG_WRITABLE : 0) | (message.home ? OPEN_FLAG_HOME : 0) | (create ? OPEN_FLAG_CREATE : 0);
      writer.u8(flags).u8(message.hashId).u64(message.seed).str(message.path);
      if (create) writer.u64(message.createSize as number);
      break;
    }
    case MSG.OPENED: // u64 size
      writer.u64(message.size);
      break;
    case MSG.HASH: // u64 offset | u32 length | u32 chunkSize (0: one digest for the whole range)
      writer.u64(message.offset).u32(message.length).u32(message.chunkSize);
      break;
    case MSG.DIGESTS: // bytes digests (concatenated)
      writer.bytes(message.digests);
      break;
    case MSG.READ: // u64 offset | u32 length | u8 level (compression level 0-9)
      writer.u64(message.offset).u32(message.length).u8(message.level);
      break;
    case MSG.DATA: // block
      writeBlock(writer, message.block);
      break;
    case MSG.WRITE: // u64 offset | block
      writeBlock(writer.u64(message.offset), message.block);
      break;
    case MSG.WRITTEN:
    case MSG.FLUSH:
    case MSG.FLUSHED:
    case MSG.CLOSE:
    case MSG.CLOSED: // (empty)
      break;
    case MSG.PATCH_BEGIN: // u64 size (0: unknown) | u8 size mode (0xff: the patch's own) | str state dir | str spool dir | str target
      writer.u64(message.size).u8(message.sizeMode).str(message.stateDir).str(message.spoolDir).str(message.target);
      break;
    case MSG.PATCH_DATA: // bytes (the next slice of the patch file)
      writer.bytes(message.bytes);
      break;
    case MSG.PATCH_READY:
    case MSG.PATCH_ACK:
    case MSG.PATCH_APPLY: // (empty)
      break;
    case MSG.PATCH_DONE: // str outcome
      writer.str(message.outcome);
      break;
    case MSG.PATCH_ROLLBACK: // str state dir | str target
      writer.str(message.stateDir).str(message.target);
      break;
    case MSG.LOG: // u8 level | str text
      writer.u8(message.level).str(message.text);
      break;
    case MSG.ERROR: // str code | str message
      writer.str(message.code).str(message.message);
      break;
  }
  return writer.frame(message.type, message.id);
}

// ---------------------------------------------------------------------------------------------
// Decoding

function piecesReader(pieces: readonly Buffer[], what: string, type: number): Reader {
  if (!keepsPieces(type)) return new Reader(Buffer.concat(pieces as Buffer[]), what);
  const total = pieces.reduce((sum, piece) => sum + piece.length, 0);
  const headLength = Math.min(total, BLOCK_FIELDS_LENGTH);
  const head = Buffer.allocUnsafe(headLength);
  let copied = 0;
  const tail: Buffer[] = [];
  for (const piece of pieces) {
    const used = Math.min(piece.length, headLength - copied);
    piece.copy(head, copied, 0, used);
    copied += used;
    if (used < piece.length) tail.push(piece.subarray(used));
  }
  return new Reader(head, what, tail);
}

function readBlock(reader: Reader, what: string): EncodedBlock {
  const encoding = reader.u8();
  const rawLength = reader.u32();
  const pieces = reader.restPieces();
  const length = pieces.reduce((sum, piece) => sum + piece.length, 0);
  if (encoding !== ENCODING.RAW && encoding !== ENCODING.DEFLATE && encoding !== ENCODING.ZERO && encoding !== ENCODING.RUNS) {
    throw basynError('PROTOCOL_BLOCK_ENCODING', what, encoding);
  }
  if (encoding === ENCODING.RAW && length !== rawLength) {
    throw basynError('PROTOCOL_RAW_BLOCK_SIZE', what, length, rawLength);
  }
  if (encoding === ENCODING.ZERO && length !== 0) throw basynError('PROTOCOL_ZERO_BLOCK_PAYLOAD', what);
  if (rawLength > MAX_BUFFER_SIZE) throw basynError('PROTOCOL_BLOCK_TOO_LARGE', what, rawLength);
  return piecedBlock(encoding, rawLength, pieces);
}

/** Message types whose payload may stay in the pieces it arrived in (a block is their last field). */
export function keepsPieces(type: number): boolean {
  return type === MSG.DATA || type === MSG.WRITE;
}

/** The longest run of fixed fields before a DATA or WRITE block's bytes (u64 offset, u8, u32). */
const BLOCK_FIELDS_LENGTH = 13;

/**
 * The message in one frame body (type, id and payload already split by the FrameDecoder). A body in
 * several pieces is only accepted for keepsPieces() types: the fields are read from a copy of its
 * first bytes, the block's bytes stay in the pieces.
 */
export function decode(type: number, id: number, body: Buffer | readonly Buffer[]): Message {
  const what = MESSAGE_NAMES[type] ?? `message type 0x${type.toString(16)}`;
  const reader = Buffer.isBuffer(body) ? new Reader(body, what) : piecesReader(body, what, type);
  let message: Message;
  switch (type) {
    case MSG.HELLO: {
      if (!reader.take(HELLO_MAGIC.length).equals(HELLO_MAGIC)) throw basynError('PROTOCOL_HELLO_MAGIC');
      message = { type, id, version: reader.u16(), buildId: reader.str() };
      break;
    }
    case MSG.OPEN: {
      const flags = reader.u8();
      const hashId = reader.u8();
      if ((flags & ~(OPEN_FLAG_WRITABLE | OPEN_FLAG_HOME | OPEN_FLAG_CREATE)) !== 0) throw basynError('PROTOCOL_OPEN_FLAGS', flags.toString(16));
      const open: MessageOf<typeof MSG.OPEN> = { type, id, writable: (flags & OPEN_FLAG_WRITABLE) !== 0, hashId, seed: reader.take(8).readBigUInt64LE(0), path: reader.str() };
      if (flags & OPEN_FLAG_HOME) open.home = true;
      if (flags & OPEN_FLAG_CREATE) {
        if (!open.writable) throw basynError('PROTOCOL_OPEN_CREATE');
        open.createSize = reader.u64();
      }
      message = open;
      break;
    }
    case MSG.OPENED:
      message = { type, id, size: reader.u64() };
      break;
    case MSG.HASH:
      message = { type, id, offset: reader.u64(), length: reader.u32(), chunkSize: reader.u32() };
      break;
    case MSG.DIGESTS:
      message = { type, id, digests: reader.rest() };
      break;
    case MSG.READ:
      message = { type, id, offset: reader.u64(), length: reader.u32(), level: reader.u8() };
      break;
    case MSG.DATA:
      message = { type, id, block: readBlock(reader, what) };
      break;
    case MSG.WRITE: {
      const offset = reader.u64();
      message = { type, id, offset, block: readBlock(reader, what) };
      break;
    }
    case MSG.WRITTEN:
    case MSG.FLUSH:
    case MSG.FLUSHED:
    case MSG.CLOSE:
    case MSG.CLOSED:
      message = { type, id };
      break;
    case MSG.PATCH_BEGIN:
      message = { type, id, size: reader.u64(), sizeMode: reader.u8(), stateDir: reader.str(), spoolDir: reader.str(), target: reader.str() };
      break;
    case MSG.PATCH_DATA:
      message = { type, id, bytes: reader.rest() };
      break;
    case MSG.PATCH_READY:
    case MSG.PATCH_ACK:
    case MSG.PATCH_APPLY:
      message = { type, id };
      break;
    case MSG.PATCH_DONE:
      message = { type, id, outcome: reader.str() };
      break;
    case MSG.PATCH_ROLLBACK:
      message = { type, id, stateDir: reader.str(), target: reader.str() };
      break;
    case MSG.LOG:
      message = { type, id, level: reader.u8(), text: reader.str() };
      break;
    case MSG.ERROR:
      message = { type, id, code: reader.str(), message: reader.str() };
      break;
    default:
      throw basynError('PROTOCOL_UNKNOWN_MESSAGE', what);
  }
  reader.end();
  return message;
}

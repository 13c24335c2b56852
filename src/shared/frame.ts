// Frame reader and writer. The reader turns a byte stream into messages. Its state is one explicit field: waiting for a
// 9-byte header, for the body whose length the header announced, or failed. The length is checked
// against MAX_FRAME_LENGTH before anything is allocated for the body. A stream that once held
// garbage is never trusted again: after the first error every push() throws that error, so no frame
// that follows garbage is ever decoded (even one that happens to line up after it).
import type { Writable } from 'node:stream';
import { basynError } from './errors';
import { decode, FRAME_HEADER_LENGTH, keepsPieces, MAX_FRAME_LENGTH, type Message } from './protocol';

type State =
  | { kind: 'header' }
  | { kind: 'body'; type: number; id: number; bodyLength: number }
  | { kind: 'failed'; error: Error };

export class FrameDecoder {
  private state: State = { kind: 'header' };
  private pending: Buffer[] = [];
  private pendingLength = 0;

  /**
   * Feeds bytes; returns every message completed by them (possibly none). Throws ProtocolError on
   * garbage, and again on every later call (messages completed before the garbage in the same chunk
   * are dropped with it).
   */
  push(chunk: Buffer): Message[] {
    if (this.state.kind === 'failed') throw this.state.error;
    try {
      return this.decode(chunk);
    } catch (error) {
      this.state = { kind: 'failed', error: error as Error };
      this.pending = [];
      this.pendingLength = 0;
      throw error;
    }
  }

  private decode(chunk: Buffer): Message[] {
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    const messages: Message[] = [];
    for (;;) {
      if (this.state.kind === 'header') {
        if (this.pendingLength < FRAME_HEADER_LENGTH) break;
        const header = this.take(FRAME_HEADER_LENGTH);
        const length = header.readUInt32LE(0);
        if (length < 5 || length > MAX_FRAME_LENGTH) {
          throw basynError('PROTOCOL_FRAME_LENGTH', length);
        }
        this.state = { kind: 'body', type: header.readUInt8(4), id: header.readUInt32LE(5), bodyLength: length - 5 };
      } else if (this.state.kind === 'body') {
        if (this.pendingLength < this.state.bodyLength) break;
        // A block's body stays in the pieces it arrived in (no fresh buffer for a 2 MiB block; see EncodedBlock.pieces).
        const body = keepsPieces(this.state.type) ? this.takePieces(this.state.bodyLength) : this.take(this.state.bodyLength);
        messages.push(decode(this.state.type, this.state.id, body));
        this.state = { kind: 'header' };
      } else {
        break;
      }
    }
    return messages;
  }

  /** Bytes received but not yet part of a complete frame (non-zero at EOF means a cut frame). */
  get buffered(): number {
    return this.pendingLength;
  }

  /** The next `length` bytes as slices of the buffers received, without copying. */
  private takePieces(length: number): Buffer | Buffer[] {
    const pieces: Buffer[] = [];
    let needed = length;
    while (needed > 0) {
      const first = this.pending[0];
      if (first.length <= needed) {
        pieces.push(first);
        this.pending.shift();
        needed -= first.length;
      } else {
        pieces.push(first.subarray(0, needed));
        this.pending[0] = first.subarray(needed);
        needed = 0;
      }
    }
    this.pendingLength -= length;
    return pieces.length === 1 ? pieces[0] : pieces;
  }

  /** The next `length` bytes in one buffer (copied only when they span several reads). */
  private take(length: number): Buffer {
    const taken = this.takePieces(length);
    return Buffer.isBuffer(taken) ? taken : Buffer.concat(taken, length);
  }
}

/**
 * Writes one frame's parts as one write where the stream can (writev on a pipe or socket): a block
 * forwarded in its 64 KiB pieces would otherwise cost one system call per piece.
 */
export function writeFrame(output: Writable, parts: readonly Buffer[], written?: () => void): void {
  if (parts.length === 1) {
    output.write(parts[0], written && (() => written()));
    return;
  }
  output.cork();
  parts.forEach((part, index) => output.write(part, index === parts.length - 1 && written ? () => written() : undefined));
  output.uncork();
}

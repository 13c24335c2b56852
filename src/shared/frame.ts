// Frame reader: turns a byte stream into messages. Its state is one explicit field: waiting for a
// 9-byte header, for the body whose length the header announced, or failed. The length is checked
// against MAX_FRAME_LENGTH before anything is allocated for the body. A stream that once held
// garbage is never trusted again: after the first error every push() throws that error, so no frame
// that follows garbage is ever decoded (even one that happens to line up after it).
import { basynError } from './errors';
import { decode, FRAME_HEADER_LENGTH, MAX_FRAME_LENGTH, type Message } from './protocol';

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
        const body = this.take(this.state.bodyLength);
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

  private take(length: number): Buffer {
    const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingLength);
    const taken = all.subarray(0, length);
    const rest = all.subarray(length);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingLength = rest.length;
    return taken;
  }
}

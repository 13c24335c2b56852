// Frame reader: turns a byte stream into messages. Its state is one explicit field: either waiting
// for a 9-byte header or for the body whose length the header announced. The length is checked
// against MAX_FRAME_LENGTH before anything is allocated for the body.
import { ProtocolError } from './errors';
import { decode, FRAME_HEADER_LENGTH, MAX_FRAME_LENGTH, type Message } from './protocol';

type State = { kind: 'header' } | { kind: 'body'; type: number; id: number; bodyLength: number };

export class FrameDecoder {
  private state: State = { kind: 'header' };
  private pending: Buffer[] = [];
  private pendingLength = 0;

  /** Feeds bytes; returns every message completed by them (possibly none). Throws ProtocolError on garbage. */
  push(chunk: Buffer): Message[] {
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    const messages: Message[] = [];
    for (;;) {
      if (this.state.kind === 'header') {
        if (this.pendingLength < FRAME_HEADER_LENGTH) break;
        const header = this.take(FRAME_HEADER_LENGTH);
        const length = header.readUInt32LE(0);
        if (length < 5 || length > MAX_FRAME_LENGTH) {
          throw new ProtocolError(`bad frame length ${length} (peer is not a basyn agent, or the stream is corrupt)`);
        }
        this.state = { kind: 'body', type: header.readUInt8(4), id: header.readUInt32LE(5), bodyLength: length - 5 };
      } else {
        if (this.pendingLength < this.state.bodyLength) break;
        const body = this.take(this.state.bodyLength);
        messages.push(decode(this.state.type, this.state.id, body));
        this.state = { kind: 'header' };
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

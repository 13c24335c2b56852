// What the two patch decoders (patch-format.ts, bdsync-format.ts) share: bytes arrive in chunks of any
// size; the decoder's state (one field) says how many bytes its next step needs, and the step gets
// exactly those bytes once they are all there. Nothing may follow the last step ('done').
import { PatchError, basynError } from './errors';

export abstract class ChunkedDecoder<State extends string, Event> {
  protected abstract state: State;
  /** Bytes handed to steps so far (the offset of the next step's first byte). */
  protected consumed = 0;
  private pending: Buffer[] = [];
  private pendingLength = 0;

  /** Feeds the next bytes; returns the events of every step they complete. */
  push(chunk: Buffer): Event[] {
    if (this.done && chunk.length > 0) throw this.trailingBytes();
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    const events: Event[] = [];
    for (;;) {
      const need = this.need();
      if (need === undefined || this.pendingLength < need) break;
      const event = this.step(this.take(need));
      if (event) events.push(event);
    }
    if (this.done && this.pendingLength > 0) throw this.trailingBytes();
    return events;
  }

  /** How many bytes the next step needs, or undefined when no step is left. */
  protected abstract need(): number | undefined;
  /** One step over exactly need() bytes: moves the state on, and may return an event. */
  protected abstract step(bytes: Buffer): Event | undefined;

  /** Every byte pushed so far, consumed or not. */
  protected get received(): number {
    return this.consumed + this.pendingLength;
  }

  protected get done(): boolean {
    return (this.state as string) === 'done';
  }

  private trailingBytes(): PatchError {
    return basynError('PATCH_MALFORMED', 'trailing bytes after the trailer', this.consumed);
  }

  private take(length: number): Buffer {
    const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingLength);
    this.pending = all.length > length ? [all.subarray(length)] : [];
    this.pendingLength = all.length - length;
    this.consumed += length;
    return all.subarray(0, length);
  }
}

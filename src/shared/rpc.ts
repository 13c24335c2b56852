// One place owns request ids: a map of pending calls, a bounded window of calls in flight, and every
// pending call rejected when the stream closes. Used by the controller to talk to each agent.
import type { Readable, Writable } from 'node:stream';
import { RemoteError, basynError } from './errors';
import { FrameDecoder, writeFrame } from './frame';
import { encodeParts, MESSAGE_NAMES, MSG, type Message, type MessageOf } from './protocol';
import { printable } from './remote-text';

/** The reply type each request expects. */
const REPLY_TO: Partial<Record<number, number>> = {
  [MSG.OPEN]: MSG.OPENED,
  [MSG.HASH]: MSG.DIGESTS,
  [MSG.READ]: MSG.DATA,
  [MSG.WRITE]: MSG.WRITTEN,
  [MSG.FLUSH]: MSG.FLUSHED,
  [MSG.CLOSE]: MSG.CLOSED,
  [MSG.PATCH_BEGIN]: MSG.PATCH_READY,
  [MSG.PATCH_DATA]: MSG.PATCH_ACK,
  [MSG.PATCH_APPLY]: MSG.PATCH_DONE,
  [MSG.PATCH_ROLLBACK]: MSG.PATCH_DONE,
};
type RequestType = typeof MSG.OPEN | typeof MSG.HASH | typeof MSG.READ | typeof MSG.WRITE | typeof MSG.FLUSH | typeof MSG.CLOSE
  | typeof MSG.PATCH_BEGIN | typeof MSG.PATCH_DATA | typeof MSG.PATCH_APPLY | typeof MSG.PATCH_ROLLBACK;
type ReplyOf<T extends RequestType> = MessageOf<
  {
    [MSG.OPEN]: typeof MSG.OPENED; [MSG.HASH]: typeof MSG.DIGESTS; [MSG.READ]: typeof MSG.DATA; [MSG.WRITE]: typeof MSG.WRITTEN; [MSG.FLUSH]: typeof MSG.FLUSHED; [MSG.CLOSE]: typeof MSG.CLOSED;
    [MSG.PATCH_BEGIN]: typeof MSG.PATCH_READY; [MSG.PATCH_DATA]: typeof MSG.PATCH_ACK; [MSG.PATCH_APPLY]: typeof MSG.PATCH_DONE; [MSG.PATCH_ROLLBACK]: typeof MSG.PATCH_DONE;
  }[T]
>;
type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
export type Request = DistributiveOmit<MessageOf<RequestType>, 'id'>;

interface Pending {
  readonly expects: number;
  resolve(message: Message): void;
  reject(error: Error): void;
}

export interface RpcEvents {
  /** A LOG message from the agent (its text made printable). */
  onLog?(level: number, text: string): void;
}

export class RpcClient {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly waiters: Array<() => void> = [];
  private readonly decoder = new FrameDecoder();
  private hello: Promise<MessageOf<typeof MSG.HELLO>>;
  private helloSettle?: { resolve(message: MessageOf<typeof MSG.HELLO>): void; reject(error: Error): void };
  private closedError?: Error;
  /** Protocol bytes received from and sent to the agent. */
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    /** Most calls in flight at once; memory is bounded by window x largest message. */
    readonly window: number,
    private readonly events: RpcEvents = {},
  ) {
    this.hello = new Promise((resolve, reject) => { this.helloSettle = { resolve, reject }; });
    this.hello.catch(() => undefined); // observed by waitHello(); avoid an unhandled rejection meanwhile
    input.on('data', (chunk: Buffer) => this.receive(chunk));
    input.on('end', () => this.fail(this.endError('closed the connection')));
    input.on('error', (error) => this.fail(basynError('LINK_STREAM_ERROR', error.message)));
    output.on('error', (error) => this.fail(basynError('LINK_STREAM_ERROR', error.message)));
  }

  /** The agent's HELLO, the first thing it sends. */
  waitHello(): Promise<MessageOf<typeof MSG.HELLO>> {
    return this.hello;
  }

  /** Sends a request once the window has room; resolves with its reply, rejects with the agent's error. */
  async call<T extends RequestType>(request: Extract<Request, { type: T }>): Promise<ReplyOf<T>> {
    while (this.pending.size >= this.window && !this.closedError) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.closedError) throw this.closedError;
    this.nextId = (this.nextId + 1) >>> 0 || 1; // id 0 is for messages that are not replies
    const id = this.nextId;
    const frame = encodeParts({ ...request, id } as Message);
    const reply = new Promise<Message>((resolve, reject) => {
      this.pending.set(id, { expects: REPLY_TO[request.type] as number, resolve, reject });
    });
    writeFrame(this.output, frame);
    for (const part of frame) this.bytesOut += part.length;
    return (await reply) as ReplyOf<T>;
  }

  /** Rejects everything pending with `error` (used when the link or the run ends). */
  fail(error: Error): void {
    if (this.closedError) return;
    this.closedError = error;
    this.helloSettle?.reject(error);
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Why the link ended, if it has. */
  get failure(): Error | undefined {
    return this.closedError;
  }

  private endError(what: string): Error {
    return basynError('LINK_STREAM_ENDED', `${what}${this.decoder.buffered > 0 ? ' in the middle of a message' : ''}`);
  }

  private receive(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    // Once the link has failed nothing more from it is believed (a reply after a protocol error
    // could resolve nothing anyway: every pending call has been rejected).
    if (this.closedError) return;
    let messages: Message[];
    try {
      messages = this.decoder.push(chunk);
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    for (const message of messages) {
      if (this.closedError) return;
      this.dispatch(message);
    }
  }

  private dispatch(message: Message): void {
    if (message.type === MSG.HELLO) {
      this.helloSettle?.resolve(message);
      return;
    }
    if (message.type === MSG.LOG) {
      this.events.onLog?.(message.level, printable(message.text));
      return;
    }
    if (message.type === MSG.ERROR && message.id === 0) {
      this.fail(new RemoteError(message.message, message.code));
      return;
    }
    const pending = this.pending.get(message.id);
    if (!pending) {
      this.fail(basynError('PROTOCOL_UNEXPECTED_REPLY', MESSAGE_NAMES[message.type] ?? String(message.type), message.id));
      return;
    }
    this.pending.delete(message.id);
    this.waiters.shift()?.();
    if (message.type === MSG.ERROR) pending.reject(new RemoteError(message.message, message.code));
    else if (message.type !== pending.expects) {
      pending.reject(basynError('PROTOCOL_WRONG_REPLY', MESSAGE_NAMES[pending.expects], MESSAGE_NAMES[message.type]));
    } else pending.resolve(message);
  }
}


// Talks to the real agent bundle (dist/agent.js) over its stdin/stdout, frame by frame, as the
// controller would: for tests of the agent's side of the protocol without the controller in between.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { FrameDecoder } from '../../src/shared/frame';
import { encode, MSG, type Message } from '../../src/shared/protocol';

export const AGENT = join(__dirname, '..', '..', 'dist', 'agent.js');

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
export type Request = DistributiveOmit<Message, 'id'>;

export class AgentProcess {
  readonly received: Message[] = [];
  readonly exited: Promise<number | null>;
  stderr = '';
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly decoder = new FrameDecoder();
  private nextId = 0;
  private waiters: Array<() => void> = [];
  decodeError?: Error;

  /** `env`: the agent's environment (default: this process's), e.g. another HOME. */
  constructor(env?: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [AGENT], { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.child.stdin.on('error', () => undefined);
    this.child.stderr.setEncoding('utf8').on('data', (text: string) => { this.stderr += text; });
    this.child.stdout.on('data', (chunk: Buffer) => {
      try {
        this.received.push(...this.decoder.push(chunk));
      } catch (error) {
        this.decodeError = error as Error;
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.child.stdout.on('end', () => { for (const wake of this.waiters.splice(0)) wake(); });
  }

  /** Sends a request without waiting; returns its id. */
  send(request: Request): number {
    const id = ++this.nextId;
    this.child.stdin.write(encode({ ...request, id } as Message));
    return id;
  }

  /** Raw bytes, for malformed input. */
  sendBytes(bytes: Buffer): void {
    this.child.stdin.write(bytes);
  }

  /** Waits for the first message matching `match` (from the start of the stream), 60 s at most (a loaded machine starts node slowly). */
  async waitFor(match: (message: Message) => boolean, what = 'a message'): Promise<Message> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const found = this.received.find(match);
      if (found) return found;
      if (this.child.stdout.readableEnded || Date.now() > deadline) {
        throw new Error(`agent never sent ${what}; got ${JSON.stringify(this.received.map((message) => message.type))}; stderr ${this.stderr}`);
      }
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  reply(id: number): Promise<Message> {
    return this.waitFor((message) => message.id === id && message.type !== MSG.HELLO && message.type !== MSG.LOG, `a reply to ${id}`);
  }

  /** Sends a request and waits for its reply. */
  async call(request: Request): Promise<Message> {
    return this.reply(this.send(request));
  }

  /** Stops reading the agent's stdout: its replies pile up and its stdout cannot drain (nor its exit finish). */
  pauseOutput(): void {
    this.child.stdout.pause();
  }

  resumeOutput(): void {
    this.child.stdout.resume();
  }

  endInput(): void {
    this.child.stdin.end();
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

// A transport starts one agent and hands the session its byte streams. Contract:
//  - `input` carries the agent's stdout (protocol frames only), `output` is the agent's stdin;
//  - `stderr` carries whatever else the agent's side prints (shell noise, node warnings): shown to the
//    user as remote text, never parsed;
//  - `exited` settles once the agent process or channel is gone, with why;
//  - `kill()` ends the agent at once (used on errors and interrupts); it never throws; `exited`
//    settles once it is gone (the session waits for that before it releases the bitmap lock);
//  - start(abort) rejects with `abort.reason` as soon as the signal fires, leaving nothing running,
//    and with a one-line error naming the phase and host when a phase outlasts its timeout.
// The loader (loader.ts) has already been started with the agent bundle sent on `output` when
// start() resolves; the session then waits for the agent's HELLO.
import type { Readable, Writable } from 'node:stream';

export interface AgentExit {
  readonly code: number | null;
  readonly signal: string | null;
  /** Why the link ended when it was not the agent's own exit (connection lost, keepalive timeout, ...). */
  readonly reason?: string;
}

export interface AgentLink {
  readonly input: Readable;
  readonly output: Writable;
  readonly stderr: Readable;
  readonly exited: Promise<AgentExit>;
  /** For messages: "local pipe", "ssh alice@host:22". */
  readonly description: string;
  /** Facts about the link for --debug (ssh: the cipher and whether ssh2's native crypto loaded). */
  readonly details?: readonly string[];
  /** How long the session waits for the agent's HELLO (ConnectTimeout; default 30 s). */
  readonly helloTimeoutMs?: number;
  kill(): void;
}

export interface Transport {
  start(abort?: AbortSignal): Promise<AgentLink>;
}

// The agent's protocol loop over any pair of streams: frames in → handlers → frames out. The bundle
// entry (agent.ts) serves stdin/stdout; tests serve in-process streams (transport/in-process.ts).
// HELLO first, then one reply per request, in request order. `output` carries frames only; anything
// the agent has to say travels as LOG or ERROR messages.
//
// Scheduling. Replies go out strictly in request order. Reads (HASH, READ) start as soon as every
// earlier request that changes the device (OPEN, WRITE, FLUSH, CLOSE) has completed, so up to a
// window of them run at once: device reads, hashing and compression overlap. A request that changes
// the device waits for every earlier request, so a read never sees a later write and a FLUSH covers
// every WRITE before it. A WRITE's block is inflated as soon as it arrives.
import type { Readable, Writable } from 'node:stream';
import { runtimeLogText } from '../shared/agent-runtime';
import { BUILD_ID } from '../shared/build-info';
import { basynError, BasynError, EXIT_OK, EXIT_SYNC } from '../shared/errors';
import { FrameDecoder, writeFrame } from '../shared/frame';
import { encodeParts, MSG, PROTOCOL_VERSION, type Message } from '../shared/protocol';
import { hashPool, hashThreadCount } from './hash-pool';
import { PatchSession } from './patch-handlers';
import { AgentState, type Reply, handleClose, handleFlush, handleHash, handleOpen, handleRead, handleWrite, inflateWrite } from './handlers';

export interface AgentService {
  /**
   * Settles with the exit code once the agent is done: 0 after CLOSED (output ended) or when the
   * input ended first, 2 after a fatal protocol error (the fatal ERROR sent, output ended).
   */
  readonly done: Promise<number>;
  /** Stops at once, as if the input had ended: queued requests are dropped, nothing more is sent. */
  stop(): void;
}

export interface AgentServiceOptions {
  /** Hashing threads (hash-pool.ts; 1: hash in this thread). Default: BASYN_HASH_THREADS, else the cores. */
  readonly hashThreads?: number;
  /**
   * `output` copies each buffer before calling a write's callback (a pipe or socket: the real agent's
   * stdout), so READ buffers are recycled once written. Not for in-memory streams, which hand the very
   * buffer on to the reader.
   */
  readonly outputCopies?: boolean;
}

/** Serves one controller on `input`/`output` until CLOSE, a fatal error, or the end of `input`. */
export function serveAgent(input: Readable, output: Writable, options: AgentServiceOptions = {}): AgentService {
  const hashThreads = options.hashThreads ?? hashThreadCount();
  const state = new AgentState(hashPool(hashThreads));
  /** `basyn patch -h`: the spool and the apply on this host (patch-handlers.ts). */
  const patchSession = new PatchSession();
  const decoder = new FrameDecoder();
  /** Settles when every request so far has been answered. */
  let answered: Promise<void> = Promise.resolve();
  /** Settles when the last device-changing request so far has completed. */
  let changed: Promise<unknown> = Promise.resolve();
  let stopped = false;
  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => { finish = resolve; });

  const send = (message: Reply): void => {
    if (stopped) {
      message.afterSent?.();
      return;
    }
    writeFrame(output, encodeParts(message), message.afterSent);
  };
  /** Ends the output after the last frame; `done` settles once it is flushed. */
  const end = (code: number): void => {
    if (stopped) return;
    stopped = true;
    input.removeListener('data', onData);
    void state.device?.close().catch(() => undefined);
    output.end(() => finish(code));
  };
  /** Stops without another byte: the controller is gone. The device is closed (it matters in-process). */
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    input.removeListener('data', onData);
    void state.device?.close().catch(() => undefined);
    // A spool still being received is removed; an apply under way stops like a killed one (its journal stays).
    void patchSession.abandon().finally(() => finish(EXIT_OK));
  };

  /** Starts a request's work at the earliest moment its ordering allows. */
  const start = (request: Message): Promise<Reply> => {
    // A stopped agent runs nothing more: queued writes must not land after the controller is gone.
    const guarded = (work: () => Promise<Reply>) => () => (stopped ? Promise.reject(basynError('AGENT_STOPPED')) : work());
    const afterChanges = (work: () => Promise<Reply>) => changed.then(guarded(work), guarded(work));
    const afterAll = (work: () => Promise<Reply>) => {
      const result = answered.then(guarded(work));
      changed = result.catch(() => undefined);
      return result;
    };
    switch (request.type) {
      case MSG.HASH: return afterChanges(() => handleHash(state, request));
      case MSG.READ: return afterChanges(() => handleRead(state, request, options.outputCopies));
      case MSG.WRITE: {
        const data = inflateWrite(request);
        data.catch(() => undefined); // reported by handleWrite, in order
        return afterAll(() => handleWrite(state, request, data));
      }
      case MSG.OPEN: return afterAll(() => handleOpen(state, request));
      case MSG.FLUSH: return afterAll(() => handleFlush(state, request));
      case MSG.CLOSE: return afterAll(() => handleClose(state, request));
      case MSG.PATCH_BEGIN: return afterAll(() => patchSession.begin(request));
      case MSG.PATCH_DATA: return afterAll(() => patchSession.data(request));
      case MSG.PATCH_APPLY: return afterAll(() => patchSession.apply(request, (text) => send({ type: MSG.LOG, id: 0, level: 1, text })));
      case MSG.PATCH_ROLLBACK: return afterAll(() => patchSession.rollback(request, (text) => send({ type: MSG.LOG, id: 0, level: 1, text })));
      default: return Promise.reject(basynError('AGENT_UNEXPECTED', `message type ${request.type}`));
    }
  };

  const accept = (request: Message): void => {
    const result = start(request);
    result.catch(() => undefined); // answered below, in order
    answered = answered.then(async () => {
      let reply: Reply;
      try {
        reply = await result;
      } catch (error) {
        reply = errorReply(request.id, error);
      }
      // The last thing the controller hears before CLOSED: this agent's peak memory and CPU time (shown under --debug).
      if (reply.type === MSG.CLOSED) {
        const usage = process.resourceUsage();
        const cpuSeconds = (usage.userCPUTime + usage.systemCPUTime) / 1e6;
        send({ type: MSG.LOG, id: 0, level: 1, text: `peak RSS ${Math.round(usage.maxRSS)} KiB, cpu ${cpuSeconds.toFixed(3)} s, ${hashThreads} hashing thread(s)` });
      }
      send(reply);
      if (reply.type === MSG.CLOSED) end(EXIT_OK);
    });
  };

  const onData = (chunk: Buffer): void => {
    let messages: Message[];
    try {
      messages = decoder.push(chunk);
    } catch (error) {
      send(errorReply(0, error));
      end(EXIT_SYNC);
      return;
    }
    for (const message of messages) accept(message);
  };

  input.on('data', onData);
  // The controller went away (it ends our input only after CLOSED, so this is a crash or a lost link):
  // stop at once. Queued writes are dropped on purpose: finishing them could land stale data after
  // the next run has started writing, and their bitmap entries are durably "unknown" anyway.
  input.on('end', stop);
  input.resume();
  send({ type: MSG.HELLO, id: 0, version: PROTOCOL_VERSION, buildId: BUILD_ID });
  send({ type: MSG.LOG, id: 0, level: 1, text: runtimeLogText() });
  return { done, stop };
}

function errorReply(id: number, error: unknown): Message {
  if (error instanceof BasynError) return { type: MSG.ERROR, id, code: error.code, message: error.message };
  const err = error as NodeJS.ErrnoException;
  return { type: MSG.ERROR, id, code: err.code ?? 'EAGENT', message: err.message ?? String(error) };
}

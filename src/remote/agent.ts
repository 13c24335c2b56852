// The agent: bundle entry, uploaded at each run and started by the loader. It speaks the protocol on
// stdin/stdout: HELLO first, then one reply per request, in request order. stdout carries frames only;
// anything the agent has to say travels as LOG or ERROR messages.
//
// Scheduling. Replies go out strictly in request order. Reads (HASH, READ) start as soon as every
// earlier request that changes the device (OPEN, WRITE, FLUSH, CLOSE) has completed, so up to a
// window of them run at once: device reads, hashing and compression overlap. A request that changes
// the device waits for every earlier request, so a read never sees a later write and a FLUSH covers
// every WRITE before it. A WRITE's block is inflated as soon as it arrives.
import { EXIT_SYNC } from '../shared/errors';
import { FrameDecoder } from '../shared/frame';
import { encodeParts, MSG, PROTOCOL_VERSION, type Message } from '../shared/protocol';
import { AgentError, AgentState, handleClose, handleFlush, handleHash, handleOpen, handleRead, handleWrite, inflateWrite } from './handlers';

declare const BASYN_BUILD_ID: string;

const state = new AgentState();
const decoder = new FrameDecoder();
/** Settles when every request so far has been answered. */
let answered: Promise<void> = Promise.resolve();
/** Settles when the last device-changing request so far has completed. */
let changed: Promise<unknown> = Promise.resolve();

function send(message: Message): void {
  for (const part of encodeParts(message)) process.stdout.write(part);
}

function errorReply(id: number, error: unknown): Message {
  if (error instanceof AgentError) return { type: MSG.ERROR, id, code: error.code, message: error.message };
  const err = error as NodeJS.ErrnoException;
  return { type: MSG.ERROR, id, code: err.code ?? 'EAGENT', message: err.message ?? String(error) };
}

/** Starts a request's work at the earliest moment its ordering allows. */
function start(request: Message): Promise<Message> {
  const afterChanges = (work: () => Promise<Message>) => changed.then(work, work);
  const afterAll = (work: () => Promise<Message>) => {
    const result = answered.then(work);
    changed = result.catch(() => undefined);
    return result;
  };
  switch (request.type) {
    case MSG.HASH: return afterChanges(() => handleHash(state, request));
    case MSG.READ: return afterChanges(() => handleRead(state, request));
    case MSG.WRITE: {
      const data = inflateWrite(request);
      data.catch(() => undefined); // reported by handleWrite, in order
      return afterAll(() => handleWrite(state, request, data));
    }
    case MSG.OPEN: return afterAll(() => handleOpen(state, request));
    case MSG.FLUSH: return afterAll(() => handleFlush(state, request));
    case MSG.CLOSE: return afterAll(() => handleClose(state, request));
    default: return Promise.reject(new AgentError('EPROTO', `unexpected message type ${request.type}`));
  }
}

function accept(request: Message): void {
  const result = start(request);
  result.catch(() => undefined); // answered below, in order
  answered = answered.then(async () => {
    let reply: Message;
    try {
      reply = await result;
    } catch (error) {
      reply = errorReply(request.id, error);
    }
    // The last thing the controller hears before CLOSED: this agent's peak memory and CPU time (shown under --debug).
    if (reply.type === MSG.CLOSED) {
      const usage = process.resourceUsage();
      const cpuSeconds = (usage.userCPUTime + usage.systemCPUTime) / 1e6;
      send({ type: MSG.LOG, id: 0, level: 1, text: `peak RSS ${Math.round(usage.maxRSS)} KiB, cpu ${cpuSeconds.toFixed(3)} s` });
    }
    send(reply);
    if (reply.type === MSG.CLOSED) process.stdout.end(() => process.exit(0));
  });
}

function fatal(error: unknown): void {
  send(errorReply(0, error));
  process.stdout.end(() => process.exit(EXIT_SYNC));
}

process.stdin.on('data', (chunk: Buffer) => {
  let messages: Message[];
  try {
    messages = decoder.push(chunk);
  } catch (error) {
    fatal(error);
    return;
  }
  for (const message of messages) accept(message);
});
// The controller went away (it ends our stdin only after CLOSED, so this is a crash or a lost link):
// stop at once. Queued writes are dropped on purpose: finishing them could land stale data after
// the next run has started writing, and their bitmap entries are durably "unknown" anyway.
process.stdin.on('end', () => process.exit(0));
process.stdout.on('error', () => process.exit(EXIT_SYNC));
process.stdin.resume();

send({ type: MSG.HELLO, id: 0, version: PROTOCOL_VERSION, buildId: BASYN_BUILD_ID });

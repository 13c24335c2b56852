// The agent: bundle entry, uploaded at each run and started by the loader. It speaks the protocol on
// stdin/stdout: HELLO first, then one reply per request, in request order. stdout carries frames only;
// anything the agent has to say travels as LOG or ERROR messages.
//
// Requests are completed strictly in arrival order (so a FLUSH covers every WRITE before it), but
// the device reads of HASH and READ start as soon as the request arrives, overlapping I/O and hashing.
import { EXIT_SYNC } from '../shared/errors';
import { FrameDecoder } from '../shared/frame';
import { encode, MSG, PROTOCOL_VERSION, type Message } from '../shared/protocol';
import { AgentError, AgentState, handleClose, handleFlush, handleHash, handleOpen, handleRead, handleWrite, prefetch } from './handlers';

declare const BASYN_BUILD_ID: string;

const state = new AgentState();
const decoder = new FrameDecoder();
let queue: Promise<void> = Promise.resolve();

function send(message: Message): void {
  process.stdout.write(encode(message));
}

function errorReply(id: number, error: unknown): Message {
  if (error instanceof AgentError) return { type: MSG.ERROR, id, code: error.code, message: error.message };
  const err = error as NodeJS.ErrnoException;
  return { type: MSG.ERROR, id, code: err.code ?? 'EAGENT', message: err.message ?? String(error) };
}

async function complete(request: Message, data: Promise<Buffer> | undefined): Promise<Message> {
  switch (request.type) {
    case MSG.OPEN: return handleOpen(state, request);
    case MSG.HASH: return handleHash(state, request, await (data as Promise<Buffer>));
    case MSG.READ: return handleRead(state, request, await (data as Promise<Buffer>));
    case MSG.WRITE: return handleWrite(state, request);
    case MSG.FLUSH: return handleFlush(state, request);
    case MSG.CLOSE: return handleClose(state, request);
    default: throw new AgentError('EPROTO', `unexpected message type ${request.type}`);
  }
}

function accept(request: Message): void {
  let data: Promise<Buffer> | undefined;
  let early: unknown;
  try {
    data = prefetch(state, request);
    data?.catch(() => undefined); // reported in order by complete()
  } catch (error) {
    early = error;
  }
  queue = queue.then(async () => {
    let reply: Message;
    try {
      if (early) throw early;
      reply = await complete(request, data);
    } catch (error) {
      reply = errorReply(request.id, error);
    }
    // The last thing the controller hears before CLOSED: this agent's peak memory (shown under --debug).
    if (reply.type === MSG.CLOSED) send({ type: MSG.LOG, id: 0, level: 1, text: `peak RSS ${Math.round(process.resourceUsage().maxRSS)} KiB` });
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
// The controller went away: nothing more will come, and nobody is left to read our replies.
process.stdin.on('end', () => {
  void queue.finally(() => process.exit(0));
});
process.stdout.on('error', () => process.exit(EXIT_SYNC));
process.stdin.resume();

send({ type: MSG.HELLO, id: 0, version: PROTOCOL_VERSION, buildId: BASYN_BUILD_ID });

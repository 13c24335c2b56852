// The controller's request ids and window (src/shared/rpc.ts) against a scripted agent on in-memory
// streams: replies matched by id, at most `window` calls in flight, ids wrap without reusing 0, and
// every pending call rejected when the stream ends or the agent reports a fatal error.
import test from 'ava';
import { PassThrough } from 'node:stream';
import { ProtocolError, RemoteError } from '../src/shared/errors';
import { FrameDecoder } from '../src/shared/frame';
import { encode, MSG, type Message } from '../src/shared/protocol';
import { RpcClient } from '../src/shared/rpc';
import { frame, helloPayload, TYPE } from './helpers/golden';

/** A client wired to streams the test plays the agent on. */
function wire(window = 4, onLog?: (level: number, text: string) => void) {
  const fromAgent = new PassThrough();
  const toAgent = new PassThrough();
  const client = new RpcClient(fromAgent, toAgent, window, { onLog });
  const decoder = new FrameDecoder();
  const requests: Message[] = [];
  toAgent.on('data', (chunk: Buffer) => requests.push(...decoder.push(chunk)));
  const reply = (message: Message) => fromAgent.write(encode(message));
  return { client, fromAgent, requests, reply };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('replies are matched to their calls by id, whatever their order', async (t) => {
  const { client, requests, reply } = wire();
  const first = client.call({ type: MSG.OPEN, writable: false, hashId: 0, seed: 0n, path: '/a' });
  const second = client.call({ type: MSG.FLUSH });
  await tick();
  t.deepEqual(requests.map((request) => request.id), [1, 2]);
  reply({ type: MSG.FLUSHED, id: 2 });
  reply({ type: MSG.OPENED, id: 1, size: 42 });
  t.is((await first).size, 42);
  t.is((await second).type, MSG.FLUSHED);
});

test('no more than `window` calls are in flight; the next is sent when a reply frees a slot', async (t) => {
  const { client, requests, reply } = wire(2);
  const calls = [1, 2, 3].map(() => client.call({ type: MSG.FLUSH }));
  await tick();
  t.is(requests.length, 2);
  reply({ type: MSG.FLUSHED, id: 1 });
  await tick();
  await tick();
  t.is(requests.length, 3);
  reply({ type: MSG.FLUSHED, id: 2 });
  reply({ type: MSG.FLUSHED, id: 3 });
  await Promise.all(calls);
  t.pass();
});

test('ids wrap around 2^32 and never use 0 (reserved for messages that are not replies)', async (t) => {
  const { client, requests, reply } = wire();
  Reflect.set(client, 'nextId', 0xfffffffe);
  const calls = [client.call({ type: MSG.FLUSH }), client.call({ type: MSG.FLUSH })];
  await tick();
  t.deepEqual(requests.map((request) => request.id), [0xffffffff, 1]);
  reply({ type: MSG.FLUSHED, id: 0xffffffff });
  reply({ type: MSG.FLUSHED, id: 1 });
  await Promise.all(calls);
});

test('an ERROR reply rejects its call with the agent code; other calls go on', async (t) => {
  const { client, reply } = wire();
  const failing = client.call({ type: MSG.HASH, offset: 0, length: 1, chunkSize: 0 });
  const fine = client.call({ type: MSG.FLUSH });
  await tick();
  reply({ type: MSG.ERROR, id: 1, code: 'ERANGE', message: 'beyond the end' });
  reply({ type: MSG.FLUSHED, id: 2 });
  const error = await t.throwsAsync(failing, { instanceOf: RemoteError, message: 'beyond the end' });
  t.is(error?.code, 'ERANGE');
  t.is(error?.exitCode, 2);
  t.is((await fine).type, MSG.FLUSHED);
});

test('a reply of the wrong type rejects its call with a ProtocolError', async (t) => {
  const { client, reply } = wire();
  const call = client.call({ type: MSG.READ, offset: 0, length: 1, level: 0 });
  await tick();
  reply({ type: MSG.WRITTEN, id: 1 });
  await t.throwsAsync(call, { instanceOf: ProtocolError, message: 'expected DATA, got WRITTEN' });
});

test('a reply to no pending call fails everything (the stream cannot be trusted)', async (t) => {
  const { client, reply } = wire();
  const pending = client.call({ type: MSG.FLUSH });
  await tick();
  reply({ type: MSG.FLUSHED, id: 99 });
  await t.throwsAsync(pending, { instanceOf: ProtocolError, message: /unexpected FLUSHED for request 99/ });
  await t.throwsAsync(client.call({ type: MSG.FLUSH }), { instanceOf: ProtocolError });
});

test('a fatal ERROR (id 0) rejects every pending call with the agent message', async (t) => {
  const { client, reply } = wire();
  const calls = [client.call({ type: MSG.FLUSH }), client.call({ type: MSG.CLOSE })];
  await tick();
  reply({ type: MSG.ERROR, id: 0, code: 'EPROTO', message: 'bad frame length 1' });
  for (const call of calls) await t.throwsAsync(call, { instanceOf: RemoteError, message: 'bad frame length 1' });
});

test('the stream ending rejects pending calls, and says when it ended inside a frame', async (t) => {
  const clean = wire();
  const call = clean.client.call({ type: MSG.FLUSH });
  await tick();
  clean.fromAgent.end();
  await t.throwsAsync(call, { message: 'agent closed the connection' });

  const cut = wire();
  const cutCall = cut.client.call({ type: MSG.FLUSH });
  await tick();
  cut.fromAgent.end(encode({ type: MSG.FLUSHED, id: 1 }).subarray(0, 6));
  const error = await t.throwsAsync(cutCall, { message: 'agent closed the connection in the middle of a message' });
  t.is((error as { code?: string }).code, 'ELINK');
});

test('HELLO is delivered to waitHello; LOG to onLog; traffic is counted both ways', async (t) => {
  const logs: string[] = [];
  const { client, fromAgent, reply } = wire(4, (_level, text) => logs.push(text));
  const hello = frame(TYPE.HELLO, 0, helloPayload(1, 'build'));
  fromAgent.write(hello);
  const message = await client.waitHello();
  t.is(message.buildId, 'build');
  reply({ type: MSG.LOG, id: 0, level: 1, text: 'peak RSS 1 KiB' });
  await tick();
  t.deepEqual(logs, ['peak RSS 1 KiB']);
  const call = client.call({ type: MSG.FLUSH });
  await tick();
  reply({ type: MSG.FLUSHED, id: 1 });
  await call;
  const logBytes = encode({ type: MSG.LOG, id: 0, level: 1, text: 'peak RSS 1 KiB' }).length;
  t.is(client.bytesIn, hello.length + logBytes + 9);
  t.is(client.bytesOut, 9);
});

test('garbage from the agent (bad HELLO magic) rejects waitHello', async (t) => {
  const { client, fromAgent } = wire();
  fromAgent.write(frame(TYPE.HELLO, 0, [...Buffer.from('NOTBASYN'), 1, 0, 0, 0]));
  await t.throwsAsync(client.waitHello(), { instanceOf: ProtocolError, message: /bad magic/ });
});

// The agent's side of the protocol, spoken frame by frame to the real bundle (dist/agent.js): HELLO
// first, one reply per request in request order, errors as ERROR replies that leave the agent usable,
// garbage on its stdin as a fatal ERROR (id 0) and exit 2.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { ENCODING, MSG, PROTOCOL_VERSION, type Message, type MessageOf } from '../src/shared/protocol';
import { AgentProcess } from './helpers/agent';
import { frame, TYPE, u32, u8 } from './helpers/golden';
import { tempDir, writeSparse } from './helpers/images';

const SHA1 = 0;
const SIZE = 100_000;

function setup(t: import('ava').ExecutionContext, content: Buffer = randomBytes(SIZE)) {
  const dir = tempDir();
  const agent = new AgentProcess();
  t.teardown(() => { agent.kill(); dir.cleanup(); });
  const path = dir.path('device.img');
  writeFileSync(path, content);
  return { agent, path, content, dir };
}

function expectType<T extends Message['type']>(t: import('ava').ExecutionContext, message: Message, type: T): MessageOf<T> {
  t.is(message.type, type, JSON.stringify(message));
  return message as MessageOf<T>;
}

const sha1 = (data: Buffer) => createHash('sha1').update(data).digest();

test('HELLO comes first, with the protocol version and a build id', async (t) => {
  const { agent } = setup(t);
  const hello = await agent.waitFor(() => true, 'HELLO');
  const message = expectType(t, hello, MSG.HELLO);
  t.is(message.id, 0);
  t.is(message.version, PROTOCOL_VERSION);
  t.regex(message.buildId, /^\d+\.\d+\.\d+\+[0-9a-f]{12}$/);
});

test('OPEN, HASH (whole and by chunks), READ, CLOSE: the replies match the file', async (t) => {
  const { agent, path, content } = setup(t);
  const opened = expectType(t, await agent.call({ type: MSG.OPEN, writable: false, hashId: SHA1, seed: 0n, path }), MSG.OPENED);
  t.is(opened.size, SIZE);

  const whole = expectType(t, await agent.call({ type: MSG.HASH, offset: 1000, length: 5000, chunkSize: 0 }), MSG.DIGESTS);
  t.deepEqual(whole.digests, sha1(content.subarray(1000, 6000)));

  const chunked = expectType(t, await agent.call({ type: MSG.HASH, offset: 0, length: 10_000, chunkSize: 4096 }), MSG.DIGESTS);
  t.deepEqual(chunked.digests, Buffer.concat([sha1(content.subarray(0, 4096)), sha1(content.subarray(4096, 8192)), sha1(content.subarray(8192, 10_000))]));

  const data = expectType(t, await agent.call({ type: MSG.READ, offset: SIZE - 300, length: 300, level: 0 }), MSG.DATA);
  t.is(data.block.encoding, ENCODING.RAW);
  t.deepEqual(data.block.bytes, content.subarray(SIZE - 300));

  expectType(t, await agent.call({ type: MSG.CLOSE }), MSG.CLOSED);
  t.is(await agent.exited, 0, 'the agent exits after CLOSED');
});

test('READ of a zero region is a ZERO block; compressible data is DEFLATE', async (t) => {
  const content = Buffer.concat([Buffer.alloc(50_000), Buffer.from('abc'.repeat(10_000)), randomBytes(20_000)]);
  const { agent, path } = setup(t, content);
  await agent.call({ type: MSG.OPEN, writable: false, hashId: SHA1, seed: 0n, path });
  const zero = expectType(t, await agent.call({ type: MSG.READ, offset: 0, length: 50_000, level: 9 }), MSG.DATA);
  t.deepEqual({ encoding: zero.block.encoding, rawLength: zero.block.rawLength, bytes: zero.block.bytes.length }, { encoding: ENCODING.ZERO, rawLength: 50_000, bytes: 0 });
  const text = expectType(t, await agent.call({ type: MSG.READ, offset: 50_000, length: 30_000, level: 9 }), MSG.DATA);
  t.is(text.block.encoding, ENCODING.DEFLATE);
  t.true(text.block.bytes.length < 1000);
});

test('pipelined WRITE then HASH and READ of the same range see the new data (requests keep their order)', async (t) => {
  const { agent, path, content } = setup(t);
  await agent.call({ type: MSG.OPEN, writable: true, hashId: SHA1, seed: 0n, path });
  const fresh = randomBytes(8192);
  const before = agent.send({ type: MSG.HASH, offset: 4096, length: 8192, chunkSize: 0 });
  const write = agent.send({ type: MSG.WRITE, offset: 4096, block: { encoding: ENCODING.RAW, rawLength: fresh.length, bytes: fresh } });
  const after = agent.send({ type: MSG.HASH, offset: 4096, length: 8192, chunkSize: 0 });
  const read = agent.send({ type: MSG.READ, offset: 4096, length: 8192, level: 0 });
  const flush = agent.send({ type: MSG.FLUSH });

  t.deepEqual(expectType(t, await agent.reply(before), MSG.DIGESTS).digests, sha1(content.subarray(4096, 12_288)));
  expectType(t, await agent.reply(write), MSG.WRITTEN);
  t.deepEqual(expectType(t, await agent.reply(after), MSG.DIGESTS).digests, sha1(fresh));
  t.deepEqual(expectType(t, await agent.reply(read), MSG.DATA).block.bytes, fresh);
  expectType(t, await agent.reply(flush), MSG.FLUSHED);
  t.deepEqual(readFileSync(path).subarray(4096, 12_288), fresh);

  const replies = agent.received.filter((message) => message.type !== MSG.HELLO && message.type !== MSG.LOG).map((message) => message.id);
  t.deepEqual(replies, [1, before, write, after, read, flush], 'replies in request order');
});

test('WRITE of ZERO and DEFLATE blocks lands as the right bytes', async (t) => {
  const { agent, path, content } = setup(t);
  await agent.call({ type: MSG.OPEN, writable: true, hashId: SHA1, seed: 0n, path });
  expectType(t, await agent.call({ type: MSG.WRITE, offset: 10, block: { encoding: ENCODING.ZERO, rawLength: 100, bytes: Buffer.alloc(0) } }), MSG.WRITTEN);
  const text = Buffer.from('z'.repeat(5000));
  const { deflateRawSync } = await import('node:zlib');
  expectType(t, await agent.call({ type: MSG.WRITE, offset: 1000, block: { encoding: ENCODING.DEFLATE, rawLength: text.length, bytes: deflateRawSync(text) } }), MSG.WRITTEN);
  expectType(t, await agent.call({ type: MSG.CLOSE }), MSG.CLOSED);
  const expected = Buffer.from(content);
  expected.fill(0, 10, 110);
  text.copy(expected, 1000);
  t.deepEqual(readFileSync(path), expected);
});

test('WRITE of a RUNS block: data runs land, zero runs zero the range, and leave holes where it already reads as zeros', async (t) => {
  const dir = tempDir();
  const agent = new AgentProcess();
  t.teardown(() => { agent.kill(); dir.cleanup(); });
  const path = dir.path('sparse.img');
  const size = 4 * 1024 * 1024;
  writeSparse(path, size, [{ offset: 0, data: Buffer.alloc(65536, 7) }]); // old data in the first 64 KiB, holes after it
  await agent.call({ type: MSG.OPEN, writable: true, hashId: SHA1, seed: 0n, path });
  const run = (encoding: number, rawLength: number, bytes: Buffer = Buffer.alloc(0)) => {
    const header = Buffer.alloc(9);
    header.writeUInt8(encoding, 0);
    header.writeUInt32LE(rawLength, 1);
    header.writeUInt32LE(bytes.length, 5);
    return Buffer.concat([header, bytes]);
  };
  const data = Buffer.from('new data');
  // 64 KiB of zeros over the old data, 8 bytes of data, then 3 MiB of zeros over holes.
  const runs = Buffer.concat([run(ENCODING.ZERO, 65536), run(ENCODING.RAW, data.length, data), run(ENCODING.ZERO, 3 * 1024 * 1024)]);
  const rawLength = 65536 + data.length + 3 * 1024 * 1024;
  expectType(t, await agent.call({ type: MSG.WRITE, offset: 0, block: { encoding: ENCODING.RUNS, rawLength, bytes: runs } }), MSG.WRITTEN);
  expectType(t, await agent.call({ type: MSG.CLOSE }), MSG.CLOSED);
  const expected = Buffer.alloc(size);
  data.copy(expected, 65536);
  t.true(readFileSync(path).equals(expected));
  t.true(statSync(path).blocks * 512 < 1024 * 1024, `the zero runs over holes were not written (${statSync(path).blocks * 512} bytes allocated)`);
});

test('errors are replies to their request; the agent keeps serving', async (t) => {
  const { agent, path, content, dir } = setup(t);
  const notOpen = expectType(t, await agent.call({ type: MSG.HASH, offset: 0, length: 1, chunkSize: 0 }), MSG.ERROR);
  t.is(notOpen.code, 'ENOTOPEN');

  const missing = expectType(t, await agent.call({ type: MSG.OPEN, writable: false, hashId: SHA1, seed: 0n, path: dir.path('nope') }), MSG.ERROR);
  t.is(missing.code, 'ENOENT');
  t.regex(missing.message, /nope is not found/);

  const badHash = expectType(t, await agent.call({ type: MSG.OPEN, writable: false, hashId: 99, seed: 0n, path }), MSG.ERROR);
  t.is(badHash.code, 'EHASH');

  await agent.call({ type: MSG.OPEN, writable: false, hashId: SHA1, seed: 0n, path });
  const beyond = expectType(t, await agent.call({ type: MSG.HASH, offset: SIZE - 10, length: 11, chunkSize: 0 }), MSG.ERROR);
  t.is(beyond.code, 'ERANGE');
  const readBeyond = expectType(t, await agent.call({ type: MSG.READ, offset: SIZE, length: 1, level: 0 }), MSG.ERROR);
  t.is(readBeyond.code, 'ERANGE');

  const readOnly = expectType(t, await agent.call({ type: MSG.WRITE, offset: 0, block: { encoding: ENCODING.RAW, rawLength: 1, bytes: Buffer.from([1]) } }), MSG.ERROR);
  t.is(readOnly.code, 'EROFS');
  t.deepEqual(readFileSync(path), content, 'a read-only device is never written');

  const still = expectType(t, await agent.call({ type: MSG.HASH, offset: 0, length: SIZE, chunkSize: 0 }), MSG.DIGESTS);
  t.deepEqual(still.digests, sha1(content));
});

test('a WRITE beyond the end of the device is refused and writes nothing', async (t) => {
  const { agent, path, content } = setup(t);
  await agent.call({ type: MSG.OPEN, writable: true, hashId: SHA1, seed: 0n, path });
  const error = expectType(t, await agent.call({ type: MSG.WRITE, offset: SIZE - 1, block: { encoding: ENCODING.RAW, rawLength: 2, bytes: Buffer.from([1, 2]) } }), MSG.ERROR);
  t.is(error.code, 'ERANGE');
  await agent.call({ type: MSG.FLUSH });
  t.deepEqual(readFileSync(path), content);
});

test('a corrupt DEFLATE block in a WRITE is an error reply, not a crash, and writes nothing', async (t) => {
  const { agent, path, content } = setup(t);
  await agent.call({ type: MSG.OPEN, writable: true, hashId: SHA1, seed: 0n, path });
  const error = expectType(t, await agent.call({ type: MSG.WRITE, offset: 0, block: { encoding: ENCODING.DEFLATE, rawLength: 100, bytes: Buffer.from([0xff, 0xfe, 0xfd]) } }), MSG.ERROR);
  t.regex(error.message, /corrupt compressed block/);
  expectType(t, await agent.call({ type: MSG.FLUSH }), MSG.FLUSHED);
  t.deepEqual(readFileSync(path), content);
});

test('garbage on stdin: a fatal ERROR with id 0, then exit 2', async (t) => {
  const { agent } = setup(t);
  await agent.waitFor((message) => message.type === MSG.HELLO);
  agent.sendBytes(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
  const fatal = expectType(t, await agent.waitFor((message) => message.type === MSG.ERROR), MSG.ERROR);
  t.is(fatal.id, 0);
  t.is(fatal.code, 'EPROTO');
  t.is(await agent.exited, 2);
});

test('an unknown message type in a well-formed frame is fatal too', async (t) => {
  const { agent } = setup(t);
  agent.sendBytes(frame(0x55, 1));
  const fatal = expectType(t, await agent.waitFor((message) => message.type === MSG.ERROR), MSG.ERROR);
  t.is(fatal.id, 0);
  t.is(await agent.exited, 2);
});

test('a reply-type message sent as a request is an error reply', async (t) => {
  const { agent } = setup(t);
  agent.sendBytes(frame(TYPE.FLUSHED, 7));
  const error = expectType(t, await agent.reply(7), MSG.ERROR);
  t.is(error.code, 'EPROTO');
});

test('a frame announcing more than the cap is refused before its body is sent', async (t) => {
  const { agent } = setup(t);
  agent.sendBytes(Buffer.from([...u32(0x7fffffff), ...u8(TYPE.WRITE), ...u32(1)]));
  const fatal = expectType(t, await agent.waitFor((message) => message.type === MSG.ERROR), MSG.ERROR);
  t.regex(fatal.message, /bad frame length/);
  t.is(await agent.exited, 2);
});

test('the controller going away (stdin closed) ends the agent with exit 0', async (t) => {
  const { agent, path } = setup(t);
  await agent.call({ type: MSG.OPEN, writable: false, hashId: SHA1, seed: 0n, path });
  agent.endInput();
  t.is(await agent.exited, 0);
});

test('stdin closed in the middle of a frame still ends the agent', async (t) => {
  const { agent } = setup(t);
  await agent.waitFor((message) => message.type === MSG.HELLO);
  agent.sendBytes(Buffer.from([...u32(100), ...u8(TYPE.WRITE)]));
  agent.endInput();
  const code = await agent.exited;
  t.not(code, null, 'exited by itself');
});

test('offsets beyond 4 GiB: WRITE, HASH and READ at 4.5 GiB of a sparse image hit the right bytes', async (t) => {
  const { agent, dir } = setup(t);
  const path = dir.path('big.img');
  const size = 5 * 1024 ** 3;
  writeSparse(path, size);
  const offset = 4.5 * 1024 ** 3 + 7;
  const data = randomBytes(4096);
  await agent.call({ type: MSG.OPEN, writable: true, hashId: SHA1, seed: 0n, path });
  expectType(t, await agent.call({ type: MSG.WRITE, offset, block: { encoding: ENCODING.RAW, rawLength: data.length, bytes: data } }), MSG.WRITTEN);
  t.deepEqual(expectType(t, await agent.call({ type: MSG.HASH, offset, length: data.length, chunkSize: 0 }), MSG.DIGESTS).digests, sha1(data));
  t.deepEqual(expectType(t, await agent.call({ type: MSG.READ, offset, length: data.length, level: 0 }), MSG.DATA).block.bytes, data);
  expectType(t, await agent.call({ type: MSG.CLOSE }), MSG.CLOSED);
  const handle = await open(path, 'r');
  const back = Buffer.alloc(data.length);
  await handle.read(back, 0, back.length, offset);
  await handle.close();
  t.deepEqual(back, data, 'written at the 64-bit offset, not at offset mod 2^32');
  t.is(statSync(path).size, size);
});

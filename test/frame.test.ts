// The frame reader: a stream cut anywhere yields the same messages, and a length beyond the cap is
// refused from the header alone, before any body arrives or is allocated.
import test from 'ava';
import { ProtocolError } from '../src/shared/errors';
import { FrameDecoder } from '../src/shared/frame';
import { encode, encodeParts, MAX_FRAME_LENGTH, MSG, type Message, type MessageOf } from '../src/shared/protocol';
import { EVERY_MESSAGE } from './helpers/messages';
import { block, BLOCK, frame, helloPayload, TYPE, u32, u64, u8 } from './helpers/golden';

const STREAM = Buffer.concat(EVERY_MESSAGE.map((message) => encode(message)));

test('a whole stream in one push yields every message in order', (t) => {
  const decoder = new FrameDecoder();
  t.deepEqual(decoder.push(STREAM), EVERY_MESSAGE);
  t.is(decoder.buffered, 0);
});

test('a stream cut in two at every offset yields the same messages', (t) => {
  for (let cut = 0; cut <= STREAM.length; cut++) {
    const decoder = new FrameDecoder();
    const messages = [...decoder.push(STREAM.subarray(0, cut)), ...decoder.push(STREAM.subarray(cut))];
    if (messages.length !== EVERY_MESSAGE.length) t.fail(`cut at ${cut}: ${messages.length} messages`);
    t.deepEqual(messages, EVERY_MESSAGE, `cut at ${cut}`);
    t.is(decoder.buffered, 0);
  }
});

test('a stream fed one byte at a time yields the same messages', (t) => {
  const decoder = new FrameDecoder();
  const messages: Message[] = [];
  for (let offset = 0; offset < STREAM.length; offset++) messages.push(...decoder.push(STREAM.subarray(offset, offset + 1)));
  t.deepEqual(messages, EVERY_MESSAGE);
});

test('a partial frame is counted in `buffered` (a cut frame at EOF is detectable)', (t) => {
  const decoder = new FrameDecoder();
  const hello = frame(TYPE.HELLO, 0, helloPayload(1, 'x'));
  t.deepEqual(decoder.push(hello.subarray(0, 5)), []);
  t.is(decoder.buffered, 5);
  t.deepEqual(decoder.push(hello.subarray(5, 12)), []);
  t.true(decoder.buffered > 0);
  t.is(decoder.push(hello.subarray(12)).length, 1);
  t.is(decoder.buffered, 0);
});

test('a frame longer than MAX_FRAME_LENGTH is refused from its header alone', (t) => {
  const decoder = new FrameDecoder();
  const header = Buffer.from([...u32(MAX_FRAME_LENGTH + 1), ...u8(TYPE.DATA), ...u32(1)]);
  // No body follows: the decoder must not wait for (or allocate) 64 MiB before deciding.
  t.throws(() => decoder.push(header), { instanceOf: ProtocolError, message: /bad frame length 67174401/ });
});

test('the largest length 0xffffffff is refused at once too', (t) => {
  t.throws(() => new FrameDecoder().push(Buffer.from([...u32(0xffffffff), 0x15, 0, 0, 0, 0])), { instanceOf: ProtocolError, message: /bad frame length/ });
});

test('a frame of exactly MAX_FRAME_LENGTH is accepted (it waits for the body)', (t) => {
  const decoder = new FrameDecoder();
  t.deepEqual(decoder.push(Buffer.from([...u32(MAX_FRAME_LENGTH), ...u8(TYPE.DIGESTS), ...u32(1)])), []);
  t.is(decoder.buffered, 0, 'the header is consumed; the body has not started');
});

test('a length below 5 (no room for type and id) is refused', (t) => {
  for (const length of [0, 1, 4]) {
    t.throws(() => new FrameDecoder().push(Buffer.from([...u32(length), 0x18, 0, 0, 0, 0])), { instanceOf: ProtocolError, message: /bad frame length/ });
  }
});

test('shell noise before the first frame is a protocol error, not a hang', (t) => {
  const noise = Buffer.from('Last login: Mon Nov 23 13:00:00 2026 from 10.0.0.1\n', 'latin1');
  t.throws(() => new FrameDecoder().push(noise), { instanceOf: ProtocolError });
});

test('a malformed payload inside a well-framed stream is reported', (t) => {
  const decoder = new FrameDecoder();
  const good = encode({ type: MSG.FLUSHED, id: 1 });
  const bad = frame(TYPE.FLUSHED, 2, [0xff]);
  t.throws(() => decoder.push(Buffer.concat([good, bad])), { instanceOf: ProtocolError, message: /FLUSHED: 1 unexpected trailing bytes/ });
});

test('after garbage nothing more is decoded: a valid frame lined up right after a bad header stays unread', (t) => {
  const decoder = new FrameDecoder();
  const badHeader = Buffer.from([...u32(0xffffffff), ...u8(TYPE.WRITE), ...u32(1)]);
  const flush = encode({ type: MSG.FLUSH, id: 2 });
  t.throws(() => decoder.push(Buffer.concat([badHeader, flush])), { instanceOf: ProtocolError, message: /bad frame length/ });
  // The next bytes would complete the frame behind the garbage; the decoder must not resynchronise on it.
  t.throws(() => decoder.push(encode({ type: MSG.FLUSH, id: 3 })), { instanceOf: ProtocolError, message: /bad frame length/ });
  t.throws(() => decoder.push(Buffer.alloc(0)), { instanceOf: ProtocolError });
});

test('a large block arriving in pieces is decoded without joining them, and framed again from the same pieces', (t) => {
  const data = Buffer.from(Array.from({ length: 200_000 }, (_, index) => (index * 31) & 0xff));
  const wire = Buffer.from([...frame(TYPE.WRITE, 7, [...u64(4096), ...block(BLOCK.RAW, data.length, data)])]);
  // As a pipe delivers it: 64 KiB reads.
  const reads: Buffer[] = [];
  for (let start = 0; start < wire.length; start += 65536) reads.push(Buffer.from(wire.subarray(start, start + 65536)));
  const decoder = new FrameDecoder();
  const messages = reads.flatMap((read) => decoder.push(read));
  t.is(messages.length, 1);
  const message = messages[0] as MessageOf<typeof MSG.WRITE>;
  t.is(message.offset, 4096);
  const pieces = message.block.pieces ?? [];
  t.true(pieces.length > 1, 'kept in pieces');
  t.true(pieces.slice(1).every((piece) => reads.some((read) => read.buffer === piece.buffer)), 'the pieces after the first are slices of the reads, not copies');
  t.true(Buffer.concat(pieces as Buffer[]).equals(data));
  t.true(message.block.bytes.equals(data), 'bytes joins them on demand');
  const parts = encodeParts(message);
  t.true(pieces.slice(1).every((piece) => parts.includes(piece)), 'the frame reuses the pieces');
  t.true(Buffer.concat(parts).equals(wire), 'and is byte for byte the frame received');
});

test('a RAW block in pieces whose length differs from rawLength is refused', (t) => {
  const data = Buffer.alloc(100_000, 1);
  const wire = frame(TYPE.DATA, 1, block(BLOCK.RAW, data.length + 1, data));
  const decoder = new FrameDecoder();
  t.throws(() => { for (let start = 0; start < wire.length; start += 65536) decoder.push(wire.subarray(start, start + 65536)); }, { instanceOf: ProtocolError, message: /raw block of 100000 bytes, expected 100001/ });
});

// The wire codec against its spec: every message round-trips, a few frames equal golden bytes built
// independently from docs/protocol.md (test/helpers/golden.ts), and malformed payloads are rejected.
import test from 'ava';
import { decodeBlock } from '../src/shared/block-codec';
import { ProtocolError } from '../src/shared/errors';
import { decode, encode, ENCODING, MAX_BUFFER_SIZE, MSG, type Message } from '../src/shared/protocol';
import { EVERY_MESSAGE } from './helpers/messages';
import { ascii, block, BLOCK, frame, helloPayload, run, str, TYPE, u16, u32, u64, u8 } from './helpers/golden';


/** Splits a whole frame into the parts decode() takes (what the FrameDecoder does). */
function decodeFrame(bytes: Buffer): Message {
  const length = bytes.readUInt32LE(0);
  if (length + 4 !== bytes.length) throw new Error(`frame length ${length} does not match ${bytes.length} bytes`);
  return decode(bytes.readUInt8(4), bytes.readUInt32LE(5), bytes.subarray(9));
}

test('every message type appears in the round-trip set', (t) => {
  const covered = new Set(EVERY_MESSAGE.map((message) => message.type));
  t.deepEqual([...covered].sort(), Object.values(MSG).sort());
});

for (const message of EVERY_MESSAGE) {
  test(`round trip: ${Object.entries(MSG).find(([, type]) => type === message.type)?.[0]} id ${message.id}`, (t) => {
    const bytes = encode(message);
    t.is(bytes.readUInt32LE(0), bytes.length - 4, 'length field counts type + id + payload');
    t.is(bytes[4], message.type);
    t.is(bytes.readUInt32LE(5), message.id);
    t.deepEqual(decodeFrame(bytes), message);
  });
}

// ---------------------------------------------------------------------------------------------
// Golden bytes: the encoder's output must equal frames built from the spec table alone.

const SHA1_ABC = 'a9993e364706816aba3e25717850c26c9cd0d89d';
/**
 * "hello" as a raw deflate stream written from RFC 1951 §3.2.4, not by zlib: one final stored block,
 * header byte 0x01 (BFINAL 1, BTYPE 00), then LEN and its one's complement NLEN (u16 LE), then the bytes.
 */
const STORED_HELLO = Buffer.from([0x01, ...u16(5), ...u16(0xffff ^ 5), ...ascii('hello')]);

const GOLDEN: Array<{ name: string; message: Message; bytes: Buffer }> = [
  {
    name: 'HELLO',
    message: { type: MSG.HELLO, id: 0, version: 1, buildId: 'b1' },
    bytes: frame(TYPE.HELLO, 0, helloPayload(1, 'b1')),
  },
  {
    name: 'OPEN writable, MD5',
    message: { type: MSG.OPEN, id: 1, writable: true, hashId: 7, seed: 0n, path: '/a' },
    bytes: frame(TYPE.OPEN, 1, [...u8(0x01), ...u8(7), ...u64(0), ...str('/a')]),
  },
  {
    name: 'OPEN read-only, XXH128 with a seed',
    message: { type: MSG.OPEN, id: 2, writable: false, hashId: 100, seed: 0x0102030405060708n, path: '/b' },
    bytes: frame(TYPE.OPEN, 2, [...u8(0x00), ...u8(100), 8, 7, 6, 5, 4, 3, 2, 1, ...str('/b')]),
  },
  {
    name: 'OPEN writable, home and create at 3 MiB',
    message: { type: MSG.OPEN, id: 3, writable: true, hashId: 0, seed: 0n, path: '~/x', home: true, createSize: 3 * 2 ** 20 },
    bytes: frame(TYPE.OPEN, 3, [...u8(0x07), ...u8(0), ...u64(0), ...str('~/x'), ...u64(3 * 2 ** 20)]),
  },
  {
    name: 'OPEN read-only with home',
    message: { type: MSG.OPEN, id: 4, writable: false, hashId: 0, seed: 0n, path: 'rel', home: true },
    bytes: frame(TYPE.OPEN, 4, [...u8(0x02), ...u8(0), ...u64(0), ...str('rel')]),
  },
  {
    name: 'OPENED 5 GiB',
    message: { type: MSG.OPENED, id: 0x01020304, size: 5 * 2 ** 30 },
    bytes: frame(TYPE.OPENED, 0x01020304, u64(5 * 2 ** 30)),
  },
  {
    name: 'HASH with chunks',
    message: { type: MSG.HASH, id: 7, offset: 2 ** 32 + 1, length: 65536, chunkSize: 4096 },
    bytes: frame(TYPE.HASH, 7, [...u64(2 ** 32 + 1), ...u32(65536), ...u32(4096)]),
  },
  {
    name: 'READ',
    message: { type: MSG.READ, id: 8, offset: 65536, length: 100, level: 9 },
    bytes: frame(TYPE.READ, 8, [...u64(65536), ...u32(100), ...u8(9)]),
  },
  {
    name: 'WRITE zero block',
    message: { type: MSG.WRITE, id: 9, offset: 512, block: { encoding: ENCODING.ZERO, rawLength: 2048, bytes: Buffer.alloc(0) } },
    bytes: frame(TYPE.WRITE, 9, [...u64(512), ...block(BLOCK.ZERO, 2048)]),
  },
  {
    name: 'DATA raw block',
    message: { type: MSG.DATA, id: 10, block: { encoding: ENCODING.RAW, rawLength: 2, bytes: Buffer.from([0xaa, 0xbb]) } },
    bytes: frame(TYPE.DATA, 10, block(BLOCK.RAW, 2, [0xaa, 0xbb])),
  },
  {
    // SHA-1("abc") from FIPS 180-2, appendix A.1: digests travel as the bare concatenated bytes.
    name: 'DIGESTS of one SHA-1',
    message: { type: MSG.DIGESTS, id: 13, digests: Buffer.from(SHA1_ABC, 'hex') },
    bytes: frame(TYPE.DIGESTS, 13, [...Buffer.from(SHA1_ABC, 'hex')]),
  },
  {
    name: 'LOG with UTF-8 text',
    message: { type: MSG.LOG, id: 0, level: 2, text: 'héllo' },
    bytes: frame(TYPE.LOG, 0, [...u8(2), ...u16(6), 0x68, 0xc3, 0xa9, 0x6c, 0x6c, 0x6f]),
  },
  {
    name: 'DATA deflate block (one stored RFC 1951 block)',
    message: { type: MSG.DATA, id: 14, block: { encoding: ENCODING.DEFLATE, rawLength: 5, bytes: STORED_HELLO } },
    bytes: frame(TYPE.DATA, 14, block(BLOCK.DEFLATE, 5, STORED_HELLO)),
  },
  {
    name: 'FLUSHED (empty payload)',
    message: { type: MSG.FLUSHED, id: 11 },
    bytes: frame(TYPE.FLUSHED, 11),
  },
  {
    name: 'ERROR',
    message: { type: MSG.ERROR, id: 12, code: 'EIO', message: 'x' },
    bytes: frame(TYPE.ERROR, 12, [...str('EIO'), ...str('x')]),
  },
  {
    name: 'PATCH_BEGIN',
    message: { type: MSG.PATCH_BEGIN, id: 13, size: 4096, sizeMode: 1, stateDir: '', spoolDir: '/s', target: '/d' },
    bytes: frame(TYPE.PATCH_BEGIN, 13, [...u64(4096), ...u8(1), ...str(''), ...str('/s'), ...str('/d')]),
  },
  {
    name: 'PATCH_DATA',
    message: { type: MSG.PATCH_DATA, id: 14, bytes: Buffer.from([1, 2, 3]) },
    bytes: frame(TYPE.PATCH_DATA, 14, [1, 2, 3]),
  },
  {
    name: 'PATCH_DONE',
    message: { type: MSG.PATCH_DONE, id: 15, outcome: 'applied' },
    bytes: frame(TYPE.PATCH_DONE, 15, str('applied')),
  },
  {
    name: 'PATCH_ROLLBACK',
    message: { type: MSG.PATCH_ROLLBACK, id: 16, stateDir: '/st', target: '/t' },
    bytes: frame(TYPE.PATCH_ROLLBACK, 16, [...str('/st'), ...str('/t')]),
  },
];

for (const { name, message, bytes } of GOLDEN) {
  test(`golden bytes: ${name}`, (t) => {
    t.is(encode(message).toString('hex'), bytes.toString('hex'));
    t.deepEqual(decodeFrame(bytes), message);
  });
}

test('golden bytes: the hand-made deflate block inflates to its raw bytes (block codec)', async (t) => {
  t.is((await decodeBlock({ encoding: ENCODING.DEFLATE, rawLength: 5, bytes: STORED_HELLO })).toString('latin1'), 'hello');
});

test('golden bytes: a WRITE of a RUNS block (zeros, raw bytes, a stored deflate run, zeros) decodes to its bytes', async (t) => {
  const runs = [...run(BLOCK.ZERO, 8192), ...run(BLOCK.RAW, 3, [1, 2, 3]), ...run(BLOCK.DEFLATE, 5, STORED_HELLO), ...run(BLOCK.ZERO, 4096)];
  const bytes = frame(TYPE.WRITE, 9, [...u64(65536), ...block(BLOCK.RUNS, 8192 + 3 + 5 + 4096, runs)]);
  const message = decodeFrame(bytes);
  t.deepEqual(message, { type: MSG.WRITE, id: 9, offset: 65536, block: { encoding: ENCODING.RUNS, rawLength: 12296, bytes: Buffer.from(runs) } });
  t.is(encode(message).toString('hex'), bytes.toString('hex'));
  const expected = Buffer.concat([Buffer.alloc(8192), Buffer.from([1, 2, 3]), Buffer.from('hello'), Buffer.alloc(4096)]);
  t.true((await decodeBlock((message as Extract<Message, { type: typeof MSG.WRITE }>).block)).equals(expected));
});

test('malformed RUNS blocks are protocol errors', async (t) => {
  const runsBlock = (rawLength: number, runs: number[]) => ({ encoding: ENCODING.RUNS, rawLength, bytes: Buffer.from(runs) });
  const cases: Array<[string, ReturnType<typeof runsBlock>, RegExp]> = [
    ['no runs', runsBlock(10, []), /runs of 0 bytes in all, expected 10/],
    ['a header cut short', runsBlock(10, run(BLOCK.ZERO, 10).slice(0, 8)), /run header cut/],
    ['bytes past the block', runsBlock(3, [...run(BLOCK.RAW, 3, [1, 2, 3])].slice(0, 11)), /runs past the block/],
    ['runs adding up to less', runsBlock(10, run(BLOCK.ZERO, 9)), /runs of 9 bytes in all, expected 10/],
    ['runs adding up to more', runsBlock(10, [...run(BLOCK.ZERO, 9), ...run(BLOCK.ZERO, 2)]), /does not fit a block of 10/],
    ['an empty run', runsBlock(10, [...run(BLOCK.ZERO, 0), ...run(BLOCK.ZERO, 10)]), /run of 0 bytes/],
    ['a run in a run', runsBlock(4, run(BLOCK.RUNS, 4, run(BLOCK.ZERO, 4).slice(0, 4))), /run with encoding 3/],
    ['a RAW run of the wrong length', runsBlock(4, run(BLOCK.RAW, 4, [1, 2, 3])), /run with encoding 0, 4 bytes, 3 on the wire/],
    ['a ZERO run with bytes', runsBlock(4, run(BLOCK.ZERO, 4, [0])), /run with encoding 2, 4 bytes, 1 on the wire/],
    ['a corrupt DEFLATE run', runsBlock(4, run(BLOCK.DEFLATE, 4, [0xff, 0xff])), /corrupt compressed block/],
  ];
  for (const [name, bad, pattern] of cases) await t.throwsAsync(decodeBlock(bad), { instanceOf: ProtocolError, message: pattern }, name);
});

test('golden bytes: a HELLO spelled out byte by byte', (t) => {
  // length 17 = 5 + 8 (magic) + 2 (version) + 2 (str length) + 0
  const expected = '11000000' + '01' + '00000000' + Buffer.from('BASYNAGT').toString('hex') + '0100' + '0000';
  t.is(encode({ type: MSG.HELLO, id: 0, version: 1, buildId: '' }).toString('hex'), expected);
});

// ---------------------------------------------------------------------------------------------
// Malformed payloads: each is a ProtocolError (exit 2), never a crash or a garbage message.

function rejects(t: import('ava').ExecutionContext, type: number, payload: number[], pattern: RegExp, id = 1): void {
  const error = t.throws(() => decode(type, id, Buffer.from(payload)), { instanceOf: ProtocolError, message: pattern });
  t.is(error?.code, 'EPROTO');
  t.is(error?.exitCode, 2);
}

test('malformed: payload too short for every fixed-size message', (t) => {
  rejects(t, TYPE.OPENED, u64(1).slice(0, 7), /OPENED: payload too short/);
  rejects(t, TYPE.HASH, [...u64(0), ...u32(1)], /HASH: payload too short/);
  rejects(t, TYPE.READ, [...u64(0), ...u32(1)], /READ: payload too short/);
  rejects(t, TYPE.OPEN, [0x01], /OPEN: payload too short/);
  rejects(t, TYPE.WRITE, u64(0), /WRITE: payload too short/);
  rejects(t, TYPE.DATA, [BLOCK.RAW, 1, 0], /DATA: payload too short/);
  rejects(t, TYPE.LOG, [], /LOG: payload too short/);
  rejects(t, TYPE.HELLO, ascii('BASY'), /HELLO: payload too short/);
});

test('malformed: OPEN with unknown flags, CREATE without WRITABLE, CREATE without its size', (t) => {
  rejects(t, TYPE.OPEN, [0x08, 0, ...u64(0), ...str('/a')], /OPEN: unknown flags 0x8/);
  rejects(t, TYPE.OPEN, [0x04, 0, ...u64(0), ...str('/a'), ...u64(1)], /OPEN: CREATE without WRITABLE/);
  rejects(t, TYPE.OPEN, [0x05, 0, ...u64(0), ...str('/a')], /OPEN: payload too short/);
  rejects(t, TYPE.OPEN, [0x01, 0, ...u64(0), ...str('/a'), ...u64(1)], /OPEN: 8 unexpected trailing bytes/);
});

test('malformed: a string whose length runs past the payload', (t) => {
  rejects(t, TYPE.OPEN, [0, 0, ...u64(0), ...u16(10), ...ascii('/dev')], /OPEN: payload too short/);
  rejects(t, TYPE.ERROR, [...str('EIO'), ...u16(3)], /ERROR: payload too short/);
});

test('malformed: trailing bytes after a complete payload', (t) => {
  rejects(t, TYPE.FLUSH, [0], /FLUSH: 1 unexpected trailing bytes/);
  rejects(t, TYPE.OPENED, [...u64(10), 0, 0], /OPENED: 2 unexpected trailing bytes/);
  rejects(t, TYPE.HASH, [...u64(0), ...u32(1), ...u32(0), 7], /HASH: 1 unexpected trailing bytes/);
  rejects(t, TYPE.ERROR, [...str('E'), ...str('m'), 0], /ERROR: 1 unexpected trailing bytes/);
  rejects(t, TYPE.HELLO, [...helloPayload(1, 'b'), 0], /HELLO: 1 unexpected trailing bytes/);
});

test('malformed: unknown message type', (t) => {
  rejects(t, 0x55, [], /unknown message type 0x55/);
  rejects(t, 0x00, [1, 2, 3], /unknown message type 0x0/);
});

test('malformed: bad HELLO magic (shell noise instead of an agent)', (t) => {
  rejects(t, TYPE.HELLO, [...ascii('Welcome!'), ...u16(1), ...str('')], /HELLO: bad magic/, 0);
  rejects(t, TYPE.HELLO, [...ascii('basynagt'), ...u16(1), ...str('')], /HELLO: bad magic/, 0);
});

test('malformed: u64 offset beyond 2^53', (t) => {
  rejects(t, TYPE.OPENED, u64(2n ** 53n), /out of range/);
  rejects(t, TYPE.WRITE, [...u64(2n ** 64n - 1n), ...block(BLOCK.ZERO, 1)], /out of range/);
  t.notThrows(() => decode(TYPE.OPENED, 1, Buffer.from(u64(2n ** 53n - 1n))));
});

test('malformed: blocks that contradict their header', (t) => {
  rejects(t, TYPE.DATA, block(4, 0), /unknown block encoding 4/);
  rejects(t, TYPE.DATA, block(BLOCK.RAW, 4, [1, 2, 3]), /raw block of 3 bytes, expected 4/);
  rejects(t, TYPE.DATA, block(BLOCK.RAW, 1, [1, 2]), /raw block of 2 bytes, expected 1/);
  rejects(t, TYPE.WRITE, [...u64(0), ...block(BLOCK.ZERO, 8, [0])], /zero block with payload/);
  rejects(t, TYPE.DATA, block(BLOCK.ZERO, MAX_BUFFER_SIZE + 1), /too large/);
  t.notThrows(() => decode(TYPE.DATA, 1, Buffer.from(block(BLOCK.ZERO, MAX_BUFFER_SIZE))));
});

test('encode refuses a string longer than a u16 length can describe', (t) => {
  t.throws(() => encode({ type: MSG.LOG, id: 0, level: 0, text: 'x'.repeat(0x10000) }), { instanceOf: ProtocolError });
  t.notThrows(() => encode({ type: MSG.LOG, id: 0, level: 0, text: 'x'.repeat(0xffff) }));
});

// How device data is packed for the wire: zero blocks become a marker, compressible data is
// deflated, incompressible data (or level 0) travels raw, and every form decodes to the same bytes.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { decodeBlock, encodeBlock, isAllZero, looksIncompressible } from '../src/shared/block-codec';
import { ProtocolError } from '../src/shared/errors';
import { ENCODING } from '../src/shared/protocol';
import { BLOCK, parseRunsFromSpec } from './helpers/golden';

const compressible = Buffer.from('basyn keeps block devices identical. '.repeat(2000));

test('an all-zero block travels as a ZERO marker with no payload', async (t) => {
  for (const size of [1, 4096, 65536, 65536 * 3 + 7]) {
    const encoded = await encodeBlock(Buffer.alloc(size), 9);
    t.is(encoded.encoding, ENCODING.ZERO);
    t.is(encoded.rawLength, size);
    t.is(encoded.bytes.length, 0);
    t.true((await decodeBlock(encoded)).equals(Buffer.alloc(size)));
  }
});

test('a zero block is a marker even at level 0', async (t) => {
  t.is((await encodeBlock(Buffer.alloc(4096), 0)).encoding, ENCODING.ZERO);
});

test('one non-zero byte anywhere (also past the first 64 KiB page) is not a zero block', async (t) => {
  for (const position of [0, 65535, 65536, 200_000 - 1]) {
    const data = Buffer.alloc(200_000);
    data[position] = 1;
    t.false(isAllZero(data), `byte at ${position}`);
    const encoded = await encodeBlock(data, 6);
    t.not(encoded.encoding, ENCODING.ZERO);
    t.true((await decodeBlock(encoded)).equals(data));
  }
});

test('compressible data is deflated, smaller, and round-trips', async (t) => {
  const encoded = await encodeBlock(compressible, 9);
  t.is(encoded.encoding, ENCODING.DEFLATE);
  t.is(encoded.rawLength, compressible.length);
  t.true(encoded.bytes.length < compressible.length / 10);
  t.true((await decodeBlock(encoded)).equals(compressible));
});

test('random data travels raw (deflate would not shrink it)', async (t) => {
  const data = randomBytes(65536);
  const encoded = await encodeBlock(data, 9);
  t.is(encoded.encoding, ENCODING.RAW);
  t.true(encoded.bytes.equals(data));
  t.true((await decodeBlock(encoded)).equals(data));
});

test('level 0 sends compressible data raw', async (t) => {
  const encoded = await encodeBlock(compressible, 0);
  t.is(encoded.encoding, ENCODING.RAW);
  t.true((await decodeBlock(encoded)).equals(compressible));
});

test('every level 1-9 round-trips', async (t) => {
  for (let level = 1; level <= 9; level++) t.true((await decodeBlock(await encodeBlock(compressible, level))).equals(compressible), `level ${level}`);
});

test('a DEFLATE block from another deflate implementation (raw RFC 1951) decodes', async (t) => {
  const bytes = deflateRawSync(compressible, { level: 1 });
  t.true((await decodeBlock({ encoding: ENCODING.DEFLATE, rawLength: compressible.length, bytes })).equals(compressible));
});

test('a corrupt DEFLATE block is a ProtocolError', async (t) => {
  await t.throwsAsync(() => decodeBlock({ encoding: ENCODING.DEFLATE, rawLength: 100, bytes: Buffer.from([0xff, 0xff, 0xff, 0xff]) }), { instanceOf: ProtocolError, message: /corrupt compressed block/ });
});

test('a DEFLATE block that inflates to another length is a ProtocolError', async (t) => {
  const bytes = deflateRawSync(compressible);
  await t.throwsAsync(() => decodeBlock({ encoding: ENCODING.DEFLATE, rawLength: compressible.length + 1, bytes }), { instanceOf: ProtocolError, message: /expected/ });
  // Longer than announced: inflation stops at rawLength instead of allocating what the sender claims.
  await t.throwsAsync(() => decodeBlock({ encoding: ENCODING.DEFLATE, rawLength: 10, bytes }), { instanceOf: ProtocolError });
});

test('the incompressibility probe: large random blocks are recognised, compressible ones are not', async (t) => {
  const random = randomBytes(2 * 1024 * 1024);
  t.true(await looksIncompressible(random));
  const text = Buffer.from('Nov 23 13:45:00 host kernel: EXT4-fs (sda1): mounted filesystem\n'.repeat(40_000)).subarray(0, 2 * 1024 * 1024);
  t.false(await looksIncompressible(text));
  t.is((await encodeBlock(random, 9)).encoding, ENCODING.RAW);
  t.is((await encodeBlock(text, 9)).encoding, ENCODING.DEFLATE);
  // A random 64 KiB chunk is recognised from one slice; blocks under 32 KiB are left to deflate.
  t.true(await looksIncompressible(randomBytes(64 * 1024)));
  t.false(await looksIncompressible(Buffer.from('x'.repeat(64 * 1024))));
  t.false(await looksIncompressible(randomBytes(16 * 1024)));
});

test('a nearly empty block is deflated at level 1 whatever the level asked (4 x faster, about as small)', async (t) => {
  // A few bytes in every 4 KiB page (no zero page, so no runs) and one 64 KiB record.
  const block = Buffer.alloc(2 * 1024 * 1024);
  for (let page = 0; page < block.length; page += 4096) block.writeUInt32LE(page, page + 100);
  randomBytes(64 * 1024).copy(block, 700_000);
  const encoded = await encodeBlock(block, 9);
  t.is(encoded.encoding, ENCODING.DEFLATE);
  t.is(encoded.bytes.length, deflateRawSync(block, { level: 1 }).length);
  t.true((await decodeBlock(encoded)).equals(block));
  // Ordinary compressible data (log lines with varying numbers) keeps the level asked for.
  const lines: string[] = [];
  for (let line = 0, length = 0; length < 2 * 1024 * 1024; line++) {
    lines.push(`Nov 23 13:${line % 60}:${randomBytes(1)[0] % 60} host kernel: sda1 block ${randomBytes(4).readUInt32LE(0)} ok\n`);
    length += lines[lines.length - 1].length;
  }
  const text = Buffer.from(lines.join('')).subarray(0, 2 * 1024 * 1024);
  t.is((await encodeBlock(text, 9)).bytes.length, deflateRawSync(text, { level: 9 }).length);
});

test('a 2 MiB block with zero runs inside travels as runs: only the data is encoded, the zeros are markers', async (t) => {
  const data = Buffer.alloc(2 * 1024 * 1024);
  const random = randomBytes(65536);
  random.copy(data, 0); // incompressible: a RAW run
  compressible.copy(data, 1024 * 1024 + 4096); // compressible, not page aligned: a DEFLATE run over its pages
  const encoded = await encodeBlock(data, 6);
  t.is(encoded.encoding, ENCODING.RUNS);
  const runs = parseRunsFromSpec(encoded.bytes);
  t.deepEqual(runs.map((entry) => entry.encoding), [BLOCK.RAW, BLOCK.ZERO, BLOCK.DEFLATE, BLOCK.ZERO]);
  t.deepEqual(runs.map((entry) => entry.rawLength), [65536, 1024 * 1024 - 65536 + 4096, 77824, 1024 * 1024 - 4096 - 77824]);
  t.is(runs[0].length, 65536);
  t.true(runs[2].length < 2000, 'the text deflated on its own');
  t.is(runs[1].length + runs[3].length, 0, 'the zeros are not on the wire');
  t.true((await decodeBlock(encoded)).equals(data));
});

test('zero pages adding up to less than 64 KiB do not make runs; a block of data and zeros at level 0 still does', async (t) => {
  const few = randomBytes(256 * 1024);
  few.fill(0, 4096, 4096 + 60 * 1024);
  t.not((await encodeBlock(few, 6)).encoding, ENCODING.RUNS);
  const half = Buffer.concat([randomBytes(128 * 1024), Buffer.alloc(128 * 1024)]);
  const encoded = await encodeBlock(half, 0);
  t.is(encoded.encoding, ENCODING.RUNS);
  t.deepEqual(parseRunsFromSpec(encoded.bytes).map((entry) => entry.encoding), [BLOCK.RAW, BLOCK.ZERO]);
  t.true((await decodeBlock(encoded)).equals(half));
});

test('encodeBlock(runs = false), for patch records: never a RUNS block', async (t) => {
  const half = Buffer.concat([Buffer.from('text '.repeat(30000)), Buffer.alloc(512 * 1024)]);
  const encoded = await encodeBlock(half, 6, false);
  t.is(encoded.encoding, ENCODING.DEFLATE);
  t.true((await decodeBlock(encoded)).equals(half));
});

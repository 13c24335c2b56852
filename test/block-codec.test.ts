// How device data is packed for the wire: zero blocks become a marker, compressible data is
// deflated, incompressible data (or level 0) travels raw, and every form decodes to the same bytes.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { decodeBlock, encodeBlock, isAllZero } from '../src/shared/block-codec';
import { ProtocolError } from '../src/shared/errors';
import { ENCODING } from '../src/shared/protocol';

const compressible = Buffer.from('basyn keeps block devices identical. '.repeat(2000));

test('an all-zero block travels as a ZERO marker with no payload', (t) => {
  for (const size of [1, 4096, 65536, 65536 * 3 + 7]) {
    const encoded = encodeBlock(Buffer.alloc(size), 9);
    t.is(encoded.encoding, ENCODING.ZERO);
    t.is(encoded.rawLength, size);
    t.is(encoded.bytes.length, 0);
    t.true(decodeBlock(encoded).equals(Buffer.alloc(size)));
  }
});

test('a zero block is a marker even at level 0', (t) => {
  t.is(encodeBlock(Buffer.alloc(4096), 0).encoding, ENCODING.ZERO);
});

test('one non-zero byte anywhere (also past the first 64 KiB page) is not a zero block', (t) => {
  for (const position of [0, 65535, 65536, 200_000 - 1]) {
    const data = Buffer.alloc(200_000);
    data[position] = 1;
    t.false(isAllZero(data), `byte at ${position}`);
    const encoded = encodeBlock(data, 6);
    t.not(encoded.encoding, ENCODING.ZERO);
    t.true(decodeBlock(encoded).equals(data));
  }
});

test('compressible data is deflated, smaller, and round-trips', (t) => {
  const encoded = encodeBlock(compressible, 9);
  t.is(encoded.encoding, ENCODING.DEFLATE);
  t.is(encoded.rawLength, compressible.length);
  t.true(encoded.bytes.length < compressible.length / 10);
  t.true(decodeBlock(encoded).equals(compressible));
});

test('random data travels raw (deflate would not shrink it)', (t) => {
  const data = randomBytes(65536);
  const encoded = encodeBlock(data, 9);
  t.is(encoded.encoding, ENCODING.RAW);
  t.true(encoded.bytes.equals(data));
  t.true(decodeBlock(encoded).equals(data));
});

test('level 0 sends compressible data raw', (t) => {
  const encoded = encodeBlock(compressible, 0);
  t.is(encoded.encoding, ENCODING.RAW);
  t.true(decodeBlock(encoded).equals(compressible));
});

test('every level 1-9 round-trips', (t) => {
  for (let level = 1; level <= 9; level++) t.true(decodeBlock(encodeBlock(compressible, level)).equals(compressible), `level ${level}`);
});

test('a DEFLATE block from another deflate implementation (raw RFC 1951) decodes', (t) => {
  const bytes = deflateRawSync(compressible, { level: 1 });
  t.true(decodeBlock({ encoding: ENCODING.DEFLATE, rawLength: compressible.length, bytes }).equals(compressible));
});

test('a corrupt DEFLATE block is a ProtocolError', (t) => {
  t.throws(() => decodeBlock({ encoding: ENCODING.DEFLATE, rawLength: 100, bytes: Buffer.from([0xff, 0xff, 0xff, 0xff]) }), { instanceOf: ProtocolError, message: /corrupt compressed block/ });
});

test('a DEFLATE block that inflates to another length is a ProtocolError', (t) => {
  const bytes = deflateRawSync(compressible);
  t.throws(() => decodeBlock({ encoding: ENCODING.DEFLATE, rawLength: compressible.length + 1, bytes }), { instanceOf: ProtocolError, message: /expected/ });
  // Longer than announced: inflation stops at rawLength instead of allocating what the sender claims.
  t.throws(() => decodeBlock({ encoding: ENCODING.DEFLATE, rawLength: 10, bytes }), { instanceOf: ProtocolError });
});

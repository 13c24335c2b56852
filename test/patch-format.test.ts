// The patch codecs against their spec (patch-format.md): files built byte by byte from the spec tables
// (test/helpers/patch-golden.ts) equal the encoders' output and decode to what they describe; every
// damage (a cut at every offset, a flipped byte at every offset, trailing bytes, an empty file, an
// unknown version) is refused with a one-line PatchError.
import test from 'ava';
import { createHash } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { BdsyncDecoder, encodeBdsyncHeader, encodeBdsyncRecord, encodeBdsyncTrailer, type BdsyncEvent } from '../src/shared/bdsync-format';
import { PatchError } from '../src/shared/errors';
import { hashByName, type HashAlgorithm } from '../src/shared/hash';
import { PatchDecoder, PatchEncoder, type PatchEvent, type PatchRecord } from '../src/shared/patch-format';
import { goldenBdsync, goldenPatch, type GoldenRecord } from './helpers/patch-golden';

const SHA256 = hashByName('SHA256') as HashAlgorithm;
const sha = (data: Buffer) => createHash('sha256').update(data).digest();

const raw = Buffer.from('raw record data!');
const text = Buffer.alloc(3000, 'abcabcabd');
const deflated = deflateRawSync(text);
const lastByte = Buffer.alloc(4096); // zero but for its last byte (bdsync issue 39)
lastByte[4095] = 1;

const goldenRecords: GoldenRecord[] = [
  { encoding: 0, length: raw.length, offset: 0, preImage: sha(Buffer.alloc(raw.length, 7)), postImage: sha(raw), stored: raw },
  { encoding: 1, length: text.length, offset: 4096, preImage: sha(Buffer.alloc(text.length)), postImage: sha(text), stored: deflated },
  { encoding: 2, length: 8192, offset: 16384, postImage: sha(Buffer.alloc(8192)), stored: Buffer.alloc(0) },
  { encoding: 0, length: 4096, offset: 32768, preImage: sha(Buffer.alloc(4096)), postImage: sha(lastByte), stored: lastByte },
];
const golden = goldenPatch({ digestId: 2, digestLength: 32, blockSize: 4096, sourceSize: 65536, targetSize: 65536, records: goldenRecords });
const header = { digest: SHA256, flags: 0, sizeMode: 'strict' as const, blockSize: 4096, sourceSize: 65536, targetSize: 65536 };

function encodeGolden(): Buffer {
  const encoder = new PatchEncoder(header);
  const parts = [...encoder.start()];
  for (const record of goldenRecords) {
    parts.push(...encoder.record({ offset: record.offset, length: record.length, encoding: record.encoding as PatchRecord['encoding'], preImage: record.preImage, postImage: record.postImage, data: record.stored }));
  }
  parts.push(...encoder.finish());
  return Buffer.concat(parts);
}

function decodeAll(bytes: Buffer, slice = bytes.length): PatchEvent[] {
  const decoder = new PatchDecoder();
  const events: PatchEvent[] = [];
  for (let at = 0; at < bytes.length; at += slice) events.push(...decoder.push(bytes.subarray(at, at + slice)));
  decoder.end();
  return events;
}

test('the encoder writes the bytes of the spec tables', (t) => {
  t.deepEqual(encodeGolden(), golden);
  // Independent landmarks of the tables: magic, version, the first record's tag after the 40-byte header.
  t.is(golden.subarray(0, 8).toString('latin1'), 'BASYNPAT');
  t.is(golden.readUInt32LE(8), 1);
  t.is(golden[40], 0x52);
});

test('the decoder reads the golden file back, fed whole or a byte at a time', (t) => {
  for (const slice of [golden.length, 1, 7]) {
    const events = decodeAll(golden, slice);
    t.is(events.length, 1 + goldenRecords.length + 1);
    const first = events[0];
    t.true(first.kind === 'header' && first.header.digest.name === 'SHA256' && first.header.sourceSize === 65536);
    events.slice(1, -1).forEach((event, index) => {
      if (event.kind !== 'record') return t.fail('not a record');
      const expected = goldenRecords[index];
      t.is(event.record.offset, expected.offset);
      t.is(event.record.length, expected.length);
      t.is(event.record.encoding as number, expected.encoding);
      t.deepEqual(event.record.data, expected.stored);
      t.deepEqual(event.record.preImage, expected.preImage);
      t.deepEqual(event.record.postImage, expected.postImage);
    });
    const last = events[events.length - 1];
    t.true(last.kind === 'trailer' && last.trailer.recordCount === 4 && last.trailer.totalLength === raw.length + text.length + 8192 + 4096);
  }
});

test('a whole-device digest in the trailer round-trips', (t) => {
  const whole = sha(Buffer.from('the whole device'));
  const bytes = goldenPatch({ digestId: 2, digestLength: 32, blockSize: 4096, sourceSize: 100, targetSize: 100, records: [], wholeDigest: whole });
  const encoder = new PatchEncoder({ ...header, sourceSize: 100, targetSize: 100 });
  t.deepEqual(Buffer.concat([...encoder.start(), ...encoder.finish(whole)]), bytes);
  const events = decodeAll(bytes);
  const last = events[events.length - 1];
  t.true(last.kind === 'trailer' && last.trailer.wholeDigest?.equals(whole));
});

test('a patch cut at any offset is refused', (t) => {
  for (let length = 0; length < golden.length; length++) {
    const error = t.throws(() => decodeAll(golden.subarray(0, length)), { instanceOf: PatchError });
    t.notRegex(error?.message ?? '', /\n/);
  }
});

test('a patch with any one byte flipped is refused', (t) => {
  for (let at = 0; at < golden.length; at++) {
    const damaged = Buffer.from(golden);
    damaged[at] ^= 0x01;
    t.throws(() => decodeAll(damaged), { instanceOf: PatchError }, `byte ${at} flipped was accepted`);
  }
});

test('trailing bytes, an empty file, an unknown version and a bdsync file are refused with their reason', (t) => {
  t.throws(() => decodeAll(Buffer.concat([golden, Buffer.of(0)])), { instanceOf: PatchError, message: /trailing bytes/ });
  t.throws(() => decodeAll(Buffer.alloc(0)), { instanceOf: PatchError, message: /empty/ });
  const v2 = goldenPatch({ digestId: 2, digestLength: 32, blockSize: 4096, sourceSize: 100, targetSize: 100, records: [], version: 2 });
  t.throws(() => decodeAll(v2), { instanceOf: PatchError, message: /unknown patch version 2/ });
  t.throws(() => decodeAll(bdsyncGolden), { instanceOf: PatchError, message: /bdsync patch/ });
  const salted = goldenPatch({ digestId: 100, digestLength: 16, blockSize: 4096, sourceSize: 100, targetSize: 100, records: [] });
  t.throws(() => decodeAll(salted), { instanceOf: PatchError, message: /salted digest id 100/ });
});

test('records out of order or beyond the device are refused even with a valid checksum', (t) => {
  const post = sha(raw);
  const record = (offset: number): GoldenRecord => ({ encoding: 0, length: raw.length, offset, postImage: post, stored: raw });
  const backwards = goldenPatch({ digestId: 2, digestLength: 32, blockSize: 4096, sourceSize: 65536, targetSize: 65536, records: [record(100), record(50)] });
  t.throws(() => decodeAll(backwards), { instanceOf: PatchError, message: /overlaps or precedes/ });
  const beyond = goldenPatch({ digestId: 2, digestLength: 32, blockSize: 4096, sourceSize: 65536, targetSize: 65536, records: [record(65530)] });
  t.throws(() => decodeAll(beyond), { instanceOf: PatchError, message: /beyond the device/ });
});

// bdsync

const bdsyncRecords = [{ offset: 0, data: raw }, { offset: 4096, data: lastByte }];
const bdsyncGolden = goldenBdsync(65536, 'base.img', bdsyncRecords);

function decodeBdsync(bytes: Buffer, slice = bytes.length): BdsyncEvent[] {
  const decoder = new BdsyncDecoder();
  const events: BdsyncEvent[] = [];
  for (let at = 0; at < bytes.length; at += slice) events.push(...decoder.push(bytes.subarray(at, at + slice)));
  decoder.end();
  return events;
}

test('bdsync: the encoder writes the spec bytes, and the decoder reads them back', (t) => {
  const encoded = Buffer.concat([encodeBdsyncHeader({ sourceSize: 65536, name: 'base.img' }), ...bdsyncRecords.flatMap((record) => encodeBdsyncRecord(record)), encodeBdsyncTrailer()]);
  t.deepEqual(encoded, bdsyncGolden);
  for (const slice of [bdsyncGolden.length, 1]) {
    const events = decodeBdsync(bdsyncGolden, slice);
    t.deepEqual(events.map((event) => event.kind), ['header', 'record', 'record', 'trailer']);
    const second = events[2];
    t.true(second.kind === 'record' && second.record.offset === 4096 && second.record.data.equals(lastByte));
  }
  const withChecksum = goldenBdsync(65536, 'base.img', [], { name: 'sha256', value: sha(raw) });
  const trailer = decodeBdsync(withChecksum).pop();
  t.true(trailer?.kind === 'trailer' && trailer.trailer.checksumName === 'sha256' && trailer.trailer.checksum?.equals(sha(raw)));
});

test('bdsync: a cut at any offset, trailing bytes, a bad version and records beyond the device are refused', (t) => {
  for (let length = 0; length < bdsyncGolden.length; length++) {
    t.throws(() => decodeBdsync(bdsyncGolden.subarray(0, length)), { instanceOf: PatchError });
  }
  t.throws(() => decodeBdsync(Buffer.concat([bdsyncGolden, Buffer.of(1)])), { instanceOf: PatchError, message: /trailing/ });
  t.throws(() => decodeBdsync(Buffer.from('BDSYNC 0.4\n')), { instanceOf: PatchError, message: /unknown bdsync patch version/ });
  t.throws(() => decodeBdsync(goldenBdsync(100, 'x', [{ offset: 90, data: raw }])), { instanceOf: PatchError, message: /does not fit/ });
});

// The bitmap codec against its spec (bitmap-format.md): the worked examples' hex dumps equal files built
// byte by byte from the spec tables (test/helpers/bitmap-golden.ts) and the codec's own output; every
// header field round-trips; each malformed file is refused with its message.
import test from 'ava';
import * as zlib from 'node:zlib';
import {
  BITMAP_VERSION, DESTINATION_KIND, FLAG_RUN_IN_PROGRESS, PREAMBLE_LENGTH, crc32, decodeBitmapFile, encodeBitmapFile, encodePreamble, encodeSlot,
  findMismatch, recordLength, slotLengthFor, tableLength, tableOffset, type BitmapHeader, type DestinationIdentity,
} from '../src/shared/bitmap';
import { decodeBitmapV1, encodeBitmapV1, isBitmapV1 } from '../src/shared/bitmap-v1';
import { BitmapError } from '../src/shared/errors';
import { hashByName, type HashAlgorithm } from '../src/shared/hash';
import { bitmapV1, bitmapV2, md5, slotLengthFor as goldenSlotLength, specExamples, UNKNOWN_MD5, type GoldenSlot } from './helpers/bitmap-golden';

const MD5 = hashByName('MD5') as HashAlgorithm;
const SHA1 = hashByName('SHA1') as HashAlgorithm;
const T = 1700000000000;
const examples = specExamples();
const example = (title: string): Buffer => {
  const bytes = examples.get(title);
  if (!bytes) throw new Error(`bitmap-format.md has no "${title}"`);
  return bytes;
};

const goldenBase = { chunkSize: 0, hashId: 7, digestLength: 16, deviceSize: 8192, bufferSize: 4096, kind: 0, host: '', path: '', destinationSize: 0, deviceId: 0n, fileId: 0n, created: T };
const example3Slot = { ...goldenBase, deviceSize: 6144, chunkSize: 2048, kind: 1, host: 'nas', path: '/srv/copy.img', destinationSize: 8192, deviceId: 0x803n, fileId: 1234567n };

function header(slot: GoldenSlot): BitmapHeader {
  return {
    flags: slot.flags,
    generation: slot.generation,
    created: slot.created,
    lastClean: slot.lastClean,
    layout: { deviceSize: slot.deviceSize, bufferSize: slot.bufferSize, chunkSize: slot.chunkSize, hash: MD5 },
    destination: { kind: slot.kind as DestinationIdentity['kind'], host: slot.host, path: slot.path, size: slot.destinationSize, deviceId: slot.deviceId, fileId: slot.fileId },
  };
}

const fail = (): never => {
  throw new Error('unreachable');
};

test('spec examples are found in bitmap-format.md', (t) => {
  t.deepEqual([...examples.keys()], [
    'Example 1: version 1',
    'Example 2: version 2, bitmap-only, after one clean run',
    'Example 3: version 2, local destination with chunks, interrupted run',
  ]);
});

test('Example 1 (version 1): the dump equals the struct-built file and the codec reads and writes it', (t) => {
  const bytes = example('Example 1: version 1');
  const digests = [md5('620f0b67a91f7f74151bc5be745b7110'), UNKNOWN_MD5];
  t.deepEqual(bytes, bitmapV1(8192, 4096, 7, digests));
  t.true(isBitmapV1(bytes));
  const geometry = { deviceSize: 8192, bufferSize: 4096, hash: MD5 };
  t.deepEqual(decodeBitmapV1('b', bytes, geometry, 'fix'), Buffer.concat(digests));
  t.deepEqual(encodeBitmapV1(geometry, Buffer.concat(digests)), bytes);
});

test('Example 2: the dump equals the golden builder; the codec decodes slot B and encodes both slots', (t) => {
  const bytes = example('Example 2: version 2, bitmap-only, after one clean run');
  const slotA = { ...goldenBase, flags: 1, generation: 0, lastClean: 0 };
  const slotB = { ...goldenBase, flags: 0, generation: 1, lastClean: T + 1500 };
  const records = [md5('21a199c53f422a380e20b162fb6ebe9c'), md5('620f0b67a91f7f74151bc5be745b7110')];
  t.deepEqual(bytes, bitmapV2(slotA, slotB, records));

  const decoded = decodeBitmapFile('b', bytes, 'fix');
  t.deepEqual(decoded.header, header(slotB));
  t.is(decoded.slotLength, 88);
  t.deepEqual(decoded.table, Buffer.concat(records));
  const encoded = Buffer.concat([encodePreamble(88), encodeSlot(header(slotA), 88), encodeSlot(header(slotB), 88), ...records]);
  t.deepEqual(encoded, bytes);
});

test('Example 3: chunks, a local identity, the higher generation in slot A wins and says "run in progress"', (t) => {
  const bytes = example('Example 3: version 2, local destination with chunks, interrupted run');
  const slotA = { ...example3Slot, flags: 1, generation: 2, lastClean: T + 1500 };
  const slotB = { ...example3Slot, flags: 0, generation: 1, lastClean: T + 1500 };
  const records = [
    Buffer.concat([UNKNOWN_MD5, md5('b7ea2d21ad2ef3e28085d30247603e0b'), UNKNOWN_MD5]),
    Buffer.concat([md5('d0899184ae1925f9c5ef5fc84d4befd3'), md5('d0899184ae1925f9c5ef5fc84d4befd3'), UNKNOWN_MD5]),
  ];
  t.deepEqual(bytes, bitmapV2(slotA, slotB, records));
  const decoded = decodeBitmapFile('b', bytes, 'fix');
  t.deepEqual(decoded.header, header(slotA));
  t.is(decoded.header.flags & FLAG_RUN_IN_PROGRESS, FLAG_RUN_IN_PROGRESS);
  t.is(recordLength(decoded.header.layout), 48);
  t.is(tableOffset(decoded.slotLength), 0xe0);
  const encoded = Buffer.concat([encodePreamble(104), encodeSlot(header(slotA), 104), encodeSlot(header(slotB), 104), ...records]);
  t.deepEqual(encoded, bytes);
});

test('a new file from the codec: header in slot A, slot B zero, as the golden builder makes it', (t) => {
  const slot = { ...example3Slot, flags: FLAG_RUN_IN_PROGRESS, generation: 0, lastClean: 0 };
  const table = Buffer.alloc(tableLength(header(slot).layout));
  t.deepEqual(encodeBitmapFile(header(slot), table), bitmapV2(slot, undefined, [table]));
  t.is(slotLengthFor(header(slot).destination), goldenSlotLength(slot.host, slot.path));
});

test('the CRC-32 is zlib\'s', (t) => {
  for (const text of ['', 'a', '123456789', 'BASYNBMP'.repeat(100)]) t.is(crc32(Buffer.from(text)), zlib.crc32(Buffer.from(text)));
  t.is(crc32(Buffer.from('123456789')), 0xcbf43926);
});

// ---------------------------------------------------------------------------------------------
// Round trips of every field.

const DESTINATIONS: DestinationIdentity[] = [
  { kind: DESTINATION_KIND.NONE, host: '', path: '', size: 0, deviceId: 0n, fileId: 0n },
  { kind: DESTINATION_KIND.LOCAL, host: 'höst-ü', path: '/dev/mapper/vg-копия', size: 2 ** 40 + 3, deviceId: 0xfd01n, fileId: 0n },
  { kind: DESTINATION_KIND.LOCAL, host: 'h', path: '/srv/a b.img', size: 1, deviceId: 2n ** 64n - 1n, fileId: 2n ** 63n + 5n },
  { kind: DESTINATION_KIND.SSH, host: 'backup.example:2222', path: 'relative/dev.img', size: 2 ** 53 - 1, deviceId: 0n, fileId: 0n },
  { kind: DESTINATION_KIND.SSH, host: 'x'.repeat(1000), path: 'p'.repeat(4096), size: 7, deviceId: 0n, fileId: 0n },
];

for (const [position, destination] of DESTINATIONS.entries()) {
  test(`every header field round-trips (destination ${position}: kind ${destination.kind})`, (t) => {
    for (const hash of [SHA1, MD5, hashByName('SHA512') as HashAlgorithm, hashByName('BLAKE2S') as HashAlgorithm]) {
      for (const [bufferSize, chunkSize] of [[4096, 0], [2 * 1024 * 1024, 65536], [3000, 1000], [5000, 3000], [1, 1]]) {
        const deviceSize = bufferSize * 3 + 17;
        const value: BitmapHeader = {
          flags: position % 2 ? FLAG_RUN_IN_PROGRESS : 0,
          generation: 2 ** 40 + position,
          created: T + position,
          lastClean: position === 0 ? 0 : T + 99,
          layout: { deviceSize, bufferSize, chunkSize, hash },
          destination,
        };
        const table = Buffer.alloc(tableLength(value.layout), 0xab);
        const decoded = decodeBitmapFile('b', encodeBitmapFile(value, table), 'fix');
        t.deepEqual(decoded.header, value);
        t.deepEqual(decoded.table, table);
      }
    }
  });
}

test('the table is n records of (1 + k) digests: k = ceil(buffer / chunk), the short last buffer included', (t) => {
  t.is(recordLength({ deviceSize: 10, bufferSize: 4096, chunkSize: 0, hash: SHA1 }), 20);
  t.is(recordLength({ deviceSize: 10, bufferSize: 5000, chunkSize: 3000, hash: SHA1 }), 60);
  t.is(tableLength({ deviceSize: 10001, bufferSize: 5000, chunkSize: 3000, hash: SHA1 }), 3 * 60);
});

// ---------------------------------------------------------------------------------------------
// Slot choice and damaged files.

const slotA = { ...example3Slot, flags: 1, generation: 2, lastClean: T + 1500 };
const slotB = { ...example3Slot, flags: 0, generation: 1, lastClean: T + 1500 };
const records = [Buffer.alloc(48, 1), Buffer.alloc(48, 2)];
const good = () => bitmapV2(slotA, slotB, records);
const SLOT = 104;

function refused(t: import('ava').ExecutionContext, bytes: Buffer, pattern: RegExp): void {
  const error = t.throws(() => decodeBitmapFile('/x/bitmap', bytes, 'pass --reset-bitmap'), { instanceOf: BitmapError });
  t.regex(error?.message ?? '', pattern);
  t.regex(error?.message ?? '', /\/x\/bitmap.*--reset-bitmap/);
  t.is((error as BitmapError).exitCode, 1);
}

test('a torn newer slot leaves the older one in use; with both slots damaged the file is refused', (t) => {
  const tornA = good();
  tornA[PREAMBLE_LENGTH + 40] ^= 0xff;
  t.is(decodeBitmapFile('b', tornA, '').header.generation, 1);
  const tornB = good();
  tornB[PREAMBLE_LENGTH + SLOT + 8] ^= 0x01;
  t.is(decodeBitmapFile('b', tornB, '').header.generation, 2);
  const both = Buffer.from(tornA);
  both[PREAMBLE_LENGTH + SLOT + 8] ^= 0x01;
  refused(t, both, /checksum/);
});

test('a slot with equal generations: slot A is used', (t) => {
  const bytes = bitmapV2({ ...slotA, generation: 4, lastClean: 1 }, { ...slotB, generation: 4, lastClean: 2 }, records);
  t.is(decodeBitmapFile('b', bytes, '').header.lastClean, 1);
});

test('every single-byte change of the preamble or an only slot is refused', (t) => {
  const single = bitmapV2({ ...slotA, generation: 0 }, undefined, records);
  for (let offset = 0; offset < PREAMBLE_LENGTH + SLOT; offset++) {
    const bytes = Buffer.from(single);
    bytes[offset] ^= 0x10;
    t.throws(() => decodeBitmapFile('b', bytes, ''), { instanceOf: BitmapError }, `byte ${offset}`);
  }
});

test('a file cut at every offset is refused: too short, or truncated', (t) => {
  const bytes = good();
  for (let length = 0; length < bytes.length; length++) {
    const error = t.throws(() => decodeBitmapFile('b', bytes.subarray(0, length), ''), { instanceOf: BitmapError });
    const expected = length === 0 ? /empty/ : length < 8 ? /magic/ : length < tableOffset(SLOT) ? /too short/ : /truncated/;
    t.regex(error?.message ?? '', expected, `cut at ${length}`);
  }
});

test('damaged files are refused with what is wrong', (t) => {
  refused(t, Buffer.concat([good(), Buffer.from('x')]), /trailing garbage/);
  refused(t, Buffer.from('not a bitmap at all, just text'), /bad magic/);
  refused(t, Buffer.alloc(300), /bad magic/);

  const version = good();
  version.writeUInt32LE(3, 8);
  refused(t, version, /unsupported format version 3/);
  t.is(BITMAP_VERSION, 2);

  // The fields below are inside the checksum: rebuild valid slots with bad values.
  const withSlot = (change: Partial<GoldenSlot>) => bitmapV2({ ...slotA, ...change }, undefined, records);
  refused(t, withSlot({ flags: 0x2 }), /unknown header flags 0x2/);
  refused(t, withSlot({ hashId: 9 }), /unknown hash id 9/);
  refused(t, withSlot({ hashId: 100 }), /unknown hash id 100/);
  refused(t, withSlot({ digestLength: 20 }), /digest length 20 does not match MD5/);
  refused(t, withSlot({ kind: 3 }), /unknown destination kind 3/);
  refused(t, withSlot({ chunkSize: 8192 }), /chunk size 8192 is larger than the buffer size 4096/);
  refused(t, withSlot({ bufferSize: 0, chunkSize: 0 }), /buffer size is 0/);

  const slotLength = good();
  slotLength.writeUInt32LE(12, 12);
  refused(t, slotLength, /bad header slot length 12/);
});

test('a header slot whose strings overflow it is refused', (t) => {
  const bytes = bitmapV2({ ...slotA, generation: 0 }, undefined, records);
  // Claim a longer path than the slot holds, and fix up the CRC so only the length check can catch it.
  bytes.writeUInt16LE(200, PREAMBLE_LENGTH + 62);
  bytes.writeUInt32LE(zlib.crc32(Buffer.concat([bytes.subarray(0, PREAMBLE_LENGTH), bytes.subarray(PREAMBLE_LENGTH + 4, PREAMBLE_LENGTH + SLOT)])), PREAMBLE_LENGTH);
  refused(t, bytes, /host and path do not fit/);
});

test('version 1: damaged and mismatching files are refused with their message', (t) => {
  const geometry = { deviceSize: 8192, bufferSize: 4096, hash: MD5 };
  const v1 = bitmapV1(8192, 4096, 7, [UNKNOWN_MD5, UNKNOWN_MD5]);
  const v1Refused = (bytes: Buffer, pattern: RegExp, expected = geometry) => {
    const error = t.throws(() => decodeBitmapV1('b', bytes, expected, 'fix'), { instanceOf: BitmapError });
    t.regex(error?.message ?? '', pattern);
  };
  v1Refused(v1.subarray(0, 20), /too small/);
  v1Refused(v1.subarray(0, v1.length - 1), /truncated/);
  v1Refused(Buffer.concat([v1, Buffer.alloc(1)]), /trailing garbage/);
  v1Refused(v1, /device size mismatch: expected 8193, got in bitmap 8192/, { ...geometry, deviceSize: 8193 });
  v1Refused(v1, /buffer size mismatch.*--buffer 4/, { ...geometry, bufferSize: 2048 });
  v1Refused(v1, /hash function mismatch: expected SHA1, got in bitmap MD5.*--hash MD5/, { ...geometry, hash: SHA1 });
  t.false(isBitmapV1(good()));
});

// ---------------------------------------------------------------------------------------------
// Does a bitmap fit this run?

test('findMismatch names what differs, in the order of bitmap-format.md §3 step 4', (t) => {
  const stored = header({ ...slotA });
  const { layout, destination } = stored;
  t.is(findMismatch(stored, layout, destination), undefined);
  const what = (change: Partial<typeof layout>, other: Partial<DestinationIdentity> = {}) => findMismatch(stored, { ...layout, ...change }, { ...destination, ...other })?.what ?? fail();
  t.regex(what({ deviceSize: 1 }), /device size mismatch: expected 1, got in bitmap 6144/);
  t.regex(what({ bufferSize: 8192 }), /buffer size mismatch: expected 8192, got in bitmap 4096/);
  t.regex(what({ chunkSize: 0 }), /chunk size mismatch: expected no chunks, got in bitmap chunk size 2048/);
  t.regex(what({ hash: SHA1 }), /hash function mismatch: expected SHA1, got in bitmap MD5/);
  t.regex(what({}, { path: '/srv/other.img' }), /describes \/srv\/copy.img on this machine \(nas\), but this run's destination is \/srv\/other.img on this machine/);
  t.regex(what({}, { kind: DESTINATION_KIND.SSH, host: 'nas' }), /this run's destination is \/srv\/copy.img on nas/);
  t.regex(what({}, { kind: DESTINATION_KIND.NONE, host: '', path: '' }), /bitmap-only mode/);
  t.regex(what({}, { size: 9000 }), /destination size changed: 8192 bytes when the bitmap was made, 9000 now/);
  t.regex(what({}, { fileId: 99n }), /destination file was replaced \(inode 99, the bitmap was made for inode 1234567\)/);
  t.is(findMismatch(stored, layout, { ...destination, fileId: 0n }), undefined, 'an unknown file id is not compared');
  t.is(findMismatch(stored, layout, { ...destination, deviceId: 1n }), undefined, 'the device id is not compared');
  t.is(findMismatch(stored, { ...layout, chunkSize: 4096 }, destination)?.hint, 'use --chunk 2');
});

// Hash id 8, XXH3 (issue 15, target 5): the unsalted XXH3-128 digest that bitmaps may store. The expected
// digests are the reference implementation's (`xxhsum -H2`, xxHash 0.8), not hash-wasm's, so a wrong seed,
// variant or byte order fails here; the file bytes are built from bitmap-format.md's tables by the golden
// builder, independently of the codec. Then one real bitmap SYNC: its table holds those digests.
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { decodeBitmapFile, encodeBitmapFile, type BitmapHeader } from '../src/shared/bitmap';
import { createHasher, hashById, hashByName, type HashAlgorithm } from '../src/shared/hash';
import { bitmapV2 } from './helpers/bitmap-golden';
import { basyn } from './helpers/cli';
import { tempDir } from './helpers/images';

const XXH3 = hashByName('XXH3') as HashAlgorithm;
const T = 1700000000000;
const KIB64 = 64 * 1024;
/** xxhsum -H2 of: nothing, "basyn", 64 KiB of zeros. */
const VECTORS: Array<[string, Buffer, string]> = [
  ['empty', Buffer.alloc(0), '99aa06d3014798d86001c324468d497f'],
  ['"basyn"', Buffer.from('basyn'), 'ed8767df8d263085b7a3103a8956bf82'],
  ['64 KiB of zeros', Buffer.alloc(KIB64), 'fd5ee061c8433a0f33b202d302b65caa'],
];

test('XXH3 is hash id 8, 16-byte digests, unsalted (storable in a bitmap)', (t) => {
  t.is(XXH3.id, 8);
  t.is(XXH3.digestLength, 16);
  t.false(XXH3.salted);
  t.is(hashById(8), XXH3);
});

test('XXH3 digests equal the reference implementation\'s, whatever seed a run would pass', async (t) => {
  for (const seed of [0n, 0x0123456789abcdefn]) {
    const hasher = await createHasher(XXH3, seed);
    for (const [name, data, hex] of VECTORS) t.is(hasher.digest(data).toString('hex'), hex, `${name}, seed ${seed}`);
  }
});

test('a version 2 file with hash id 8: the golden bytes decode, and the codec writes them back', (t) => {
  const slot = { chunkSize: 0, hashId: 8, digestLength: 16, deviceSize: 2 * KIB64, bufferSize: KIB64, kind: 0, host: '', path: '', destinationSize: 0, deviceId: 0n, fileId: 0n, created: T, flags: 0, generation: 0, lastClean: T + 1 };
  const zeros = Buffer.from(VECTORS[2][2], 'hex');
  const file = bitmapV2(slot, undefined, [zeros, Buffer.alloc(16)]);
  const decoded = decodeBitmapFile('golden', file, 'fix');
  t.is(decoded.header.layout.hash, XXH3);
  t.deepEqual(Buffer.from(decoded.table), Buffer.concat([zeros, Buffer.alloc(16)]));
  const header: BitmapHeader = decoded.header;
  t.deepEqual(encodeBitmapFile(header, decoded.table).subarray(0, file.length), file);
});

test('a bitmap SYNC with --hash XXH3 stores the reference digests of the bytes it wrote', async (t) => {
  const dir = tempDir('basyn-xxh3-');
  t.teardown(() => dir.cleanup());
  const [source, destination, bitmap] = ['src.img', 'dst.img', 'bitmap'].map((name) => dir.path(name));
  writeFileSync(source, Buffer.alloc(2 * KIB64));
  writeFileSync(destination, Buffer.alloc(2 * KIB64, 1));
  const result = await basyn(['-l', source, '-r', destination, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64', '--hash', 'XXH3', '-b', bitmap]);
  t.is(result.code, 0, result.stderr);
  t.true(readFileSync(source).equals(readFileSync(destination)), 'both sides byte for byte');
  const { header, table } = decodeBitmapFile(bitmap, readFileSync(bitmap), 'fix');
  t.is(header.layout.hash.id, 8);
  const zeros = VECTORS[2][2];
  // Each 64 KiB buffer is one 64 KiB chunk (the default chunk size): buffer and chunk entry, both written.
  t.is(Buffer.from(table).toString('hex'), zeros.repeat(2 * (1 + (header.layout.chunkSize > 0 ? 1 : 0))));
});

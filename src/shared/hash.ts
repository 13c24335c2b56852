// Digest algorithms by name and by basyn's numeric id. Ids 0-7 are Python basyn's and are stored in
// bitmap files, so they are fixed forever. XXH128 is ours: a fast non-cryptographic 128-bit hash,
// salted with a random seed for each run so that no two runs (and no crafted data) share collisions;
// because of that salt it cannot be stored in a bitmap. ADLER32 and CRC32 are iblocksync's (--algo):
// 32-bit digests, accepted for compatibility with a warning that they can miss changes, and never
// stored in a bitmap either. XXH3 (id 8) is the same XXH3-128 function unsalted (seed 0), so that its
// digests can be stored: the fast digest for bitmaps (bitmap-format.md, "Hash ids", says when it is
// acceptable and when to keep SHA-1 or SHA-256).
import { createHash } from 'node:crypto';
import type { createAdler32 as CreateAdler32, createCRC32 as CreateCRC32, createXXHash128 as CreateXXHash128, IHasher } from 'hash-wasm';
// The single-algorithm build of hash-wasm keeps the agent bundle small (the package's main entry
// carries every algorithm's WebAssembly).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createXXHash128 } = require('hash-wasm/dist/xxhash128.umd.min.js') as { createXXHash128: typeof CreateXXHash128 };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createAdler32 } = require('hash-wasm/dist/adler32.umd.min.js') as { createAdler32: typeof CreateAdler32 };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createCRC32 } = require('hash-wasm/dist/crc32.umd.min.js') as { createCRC32: typeof CreateCRC32 };

export interface HashAlgorithm {
  readonly name: HashName;
  /** basyn's hash id (0-7 Python basyn's, 8 ours; stored in bitmaps) or our wire-only id (>= 100). */
  readonly id: number;
  /** node:crypto algorithm name; undefined for the WebAssembly ones (XXH128, XXH3, ADLER32, CRC32). */
  readonly nodeName?: string;
  readonly digestLength: number;
  /** Salted per run; never stored in a bitmap. */
  readonly salted: boolean;
  /** A 32-bit digest (--algo adler32 / crc32): can miss changes; never stored in a bitmap. */
  readonly weak?: boolean;
}

export const HASH_NAMES = ['SHA1', 'SHA224', 'SHA256', 'SHA384', 'SHA512', 'BLAKE2B', 'BLAKE2S', 'MD5', 'XXH128', 'XXH3'] as const;
/** Only through --algo (iblocksync's names), with a warning. */
export const WEAK_HASH_NAMES = ['ADLER32', 'CRC32'] as const;
export type HashName = (typeof HASH_NAMES)[number] | (typeof WEAK_HASH_NAMES)[number];

const TABLE: readonly HashAlgorithm[] = [
  { name: 'SHA1', id: 0, nodeName: 'sha1', digestLength: 20, salted: false },
  { name: 'SHA224', id: 1, nodeName: 'sha224', digestLength: 28, salted: false },
  { name: 'SHA256', id: 2, nodeName: 'sha256', digestLength: 32, salted: false },
  { name: 'SHA384', id: 3, nodeName: 'sha384', digestLength: 48, salted: false },
  { name: 'SHA512', id: 4, nodeName: 'sha512', digestLength: 64, salted: false },
  { name: 'BLAKE2B', id: 5, nodeName: 'blake2b512', digestLength: 64, salted: false },
  { name: 'BLAKE2S', id: 6, nodeName: 'blake2s256', digestLength: 32, salted: false },
  { name: 'MD5', id: 7, nodeName: 'md5', digestLength: 16, salted: false },
  { name: 'XXH3', id: 8, digestLength: 16, salted: false },
  { name: 'XXH128', id: 100, digestLength: 16, salted: true },
  { name: 'ADLER32', id: 101, digestLength: 4, salted: false, weak: true },
  { name: 'CRC32', id: 102, digestLength: 4, salted: false, weak: true },
];

export function hashByName(name: string): HashAlgorithm | undefined {
  const upper = name.toUpperCase();
  return TABLE.find((algorithm) => algorithm.name === upper);
}

export function hashById(id: number): HashAlgorithm | undefined {
  return TABLE.find((algorithm) => algorithm.id === id);
}

/** Computes digests of one algorithm (with one seed); made once per OPEN. */
export interface Hasher {
  readonly algorithm: HashAlgorithm;
  digest(data: Uint8Array): Buffer;
}

/**
 * The digest of a patch record (patch-format.md): an unsalted node:crypto algorithm only (the decoders
 * refuse any other digest id, and --diff never writes one), so a plain function of the data.
 */
export function patchDigest(algorithm: HashAlgorithm | undefined, data: Uint8Array): Buffer {
  // An invariant, not a user's error: see above.
  if (!algorithm?.nodeName) throw new Error('internal: a patch digest needs an unsalted node:crypto hash');
  return createHash(algorithm.nodeName).update(data).digest();
}

/** A node:crypto hasher, ready at once. */
function nodeHasher(algorithm: HashAlgorithm, nodeName: string): Hasher {
  return { algorithm, digest: (data) => createHash(nodeName).update(data).digest() };
}

/**
 * `seed` only matters for salted algorithms (a 64-bit value; ignored for the others: XXH3 is XXH3-128
 * with seed 0, its digest in the canonical byte order, as `xxhsum -H2` prints it).
 */
export async function createHasher(algorithm: HashAlgorithm, seed = 0n): Promise<Hasher> {
  if (algorithm.nodeName) return nodeHasher(algorithm, algorithm.nodeName);
  let wasm: IHasher;
  const salt = algorithm.salted ? seed : 0n;
  if (algorithm.name === 'ADLER32') wasm = await createAdler32();
  else if (algorithm.name === 'CRC32') wasm = await createCRC32();
  else wasm = await createXXHash128(Number(salt & 0xffffffffn), Number((salt >> 32n) & 0xffffffffn));
  return {
    algorithm,
    digest: (data) => {
      wasm.init();
      wasm.update(data);
      return Buffer.from(wasm.digest('binary'));
    },
  };
}

/** A DIGESTS payload of `count` concatenated digests, as one digest each. */
export function splitDigests(digests: Buffer, count: number): Buffer[] {
  const length = digests.length / count;
  return Array.from({ length: count }, (_, index) => digests.subarray(index * length, (index + 1) * length));
}

/** Digests of consecutive `chunkSize` slices of `data` (the last one may be shorter), concatenated. */
export function chunkDigests(hasher: Hasher, data: Uint8Array, chunkSize: number): Buffer {
  const count = Math.ceil(data.length / chunkSize);
  const length = hasher.algorithm.digestLength;
  const out = Buffer.allocUnsafe(count * length);
  for (let index = 0; index < count; index++) {
    const start = index * chunkSize;
    hasher.digest(data.subarray(start, Math.min(data.length, start + chunkSize))).copy(out, index * length);
  }
  return out;
}

// Digest algorithms by name and by basyn's numeric id (the id is stored in bitmap files,
// so the numbers are fixed forever: they are Python basyn's).
import { createHash } from 'node:crypto';

export interface HashAlgorithm {
  readonly name: HashName;
  /** basyn's bitmap hash id. */
  readonly id: number;
  /** node:crypto algorithm name. */
  readonly nodeName: string;
  readonly digestLength: number;
}

export const HASH_NAMES = ['SHA1', 'SHA224', 'SHA256', 'SHA384', 'SHA512', 'BLAKE2B', 'BLAKE2S', 'MD5'] as const;
export type HashName = (typeof HASH_NAMES)[number];

const TABLE: readonly HashAlgorithm[] = [
  { name: 'SHA1', id: 0, nodeName: 'sha1', digestLength: 20 },
  { name: 'SHA224', id: 1, nodeName: 'sha224', digestLength: 28 },
  { name: 'SHA256', id: 2, nodeName: 'sha256', digestLength: 32 },
  { name: 'SHA384', id: 3, nodeName: 'sha384', digestLength: 48 },
  { name: 'SHA512', id: 4, nodeName: 'sha512', digestLength: 64 },
  { name: 'BLAKE2B', id: 5, nodeName: 'blake2b512', digestLength: 64 },
  { name: 'BLAKE2S', id: 6, nodeName: 'blake2s256', digestLength: 32 },
  { name: 'MD5', id: 7, nodeName: 'md5', digestLength: 16 },
];

export function hashByName(name: string): HashAlgorithm | undefined {
  const upper = name.toUpperCase();
  return TABLE.find((algorithm) => algorithm.name === upper);
}

export function hashById(id: number): HashAlgorithm | undefined {
  return TABLE.find((algorithm) => algorithm.id === id);
}

export function digest(algorithm: HashAlgorithm, data: Uint8Array): Buffer {
  return createHash(algorithm.nodeName).update(data).digest();
}

/** Digests of consecutive `chunkSize` slices of `data` (the last one may be shorter), concatenated. */
export function chunkDigests(algorithm: HashAlgorithm, data: Uint8Array, chunkSize: number): Buffer {
  const count = Math.ceil(data.length / chunkSize);
  const out = Buffer.allocUnsafe(count * algorithm.digestLength);
  for (let index = 0; index < count; index++) {
    const start = index * chunkSize;
    digest(algorithm, data.subarray(start, Math.min(data.length, start + chunkSize))).copy(out, index * algorithm.digestLength);
  }
  return out;
}

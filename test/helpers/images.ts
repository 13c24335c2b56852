// Image files for tests: random, sparse, edited in place; whole-file digests to compare both sides.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync, ftruncateSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh temp directory, removed by the returned cleanup. */
export function tempDir(prefix = 'basyn-test-'): { dir: string; path(name: string): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeRandom(path: string, size: number): void {
  const fd = openSync(path, 'w');
  try {
    for (let done = 0; done < size; ) {
      const piece = randomBytes(Math.min(8 << 20, size - done));
      writeSync(fd, piece, 0, piece.length, done);
      done += piece.length;
    }
  } finally {
    closeSync(fd);
  }
}

/** A sparse file of `size` bytes (reads as zeros) with optional data written at given offsets. */
export function writeSparse(path: string, size: number, writes: Array<{ offset: number; data: Buffer }> = []): void {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size);
    for (const { offset, data } of writes) writeSync(fd, data, 0, data.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** Overwrites bytes in place (like dd conv=notrunc). */
export function patch(path: string, offset: number, data: Buffer): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, data, 0, data.length, offset);
  } finally {
    closeSync(fd);
  }
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path, { highWaterMark: 1 << 20 })
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', reject);
  });
}

/** Digest of the first `length` bytes (for destinations larger than the source). */
export function sha256Prefix(path: string, length: number): string {
  return createHash('sha256').update(readFileSync(path).subarray(0, length)).digest('hex');
}

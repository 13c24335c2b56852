// A sync scenario: a source and a destination image in a temp directory, placed as -l/-r according to
// the action (PUSH: local is the source; PULL: remote is the source), and the checks every sync test
// makes afterwards (whole-file digests of both sides; the source never changes).
import type { ExecutionContext } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { basyn, type RunResult } from './cli';
import { sha256File, tempDir } from './images';

export type Action = 'PUSH' | 'PULL';

export interface Devices {
  readonly local: string;
  readonly remote: string;
  readonly source: string;
  readonly destination: string;
  /** -l and -r for this action. */
  readonly args: string[];
  readonly dir: ReturnType<typeof tempDir>;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Writes both images; removes them when the test ends. */
export function devices(t: ExecutionContext, action: Action, source: Buffer, destination: Buffer): Devices {
  const dir = tempDir();
  t.teardown(() => dir.cleanup());
  const local = dir.path('local.img');
  const remote = dir.path('remote.img');
  const [sourcePath, destinationPath] = action === 'PUSH' ? [local, remote] : [remote, local];
  writeFileSync(sourcePath, source);
  writeFileSync(destinationPath, destination);
  return { local, remote, source: sourcePath, destination: destinationPath, args: ['-l', local, '-r', remote], dir };
}

/** A copy of `data` with a few bytes changed at each offset (XOR, so they surely differ). */
export function edited(data: Buffer, offsets: number[], length = 1): Buffer {
  const copy = Buffer.from(data);
  for (const offset of new Set(offsets)) {
    for (let index = offset; index < Math.min(offset + length, copy.length); index++) copy[index] ^= 0x5a;
  }
  return copy;
}

/** Random bytes; a fixed-size pool would make buffers repeat and hide offset bugs. */
export function random(size: number): Buffer {
  return randomBytes(size);
}

/** Runs basyn and fails the test with its output when the exit code is not `code`. */
export async function run(t: ExecutionContext, args: string[], code = 0): Promise<RunResult> {
  const result = await basyn(args);
  if (result.code !== code) {
    t.fail(`basyn ${args.join(' ')} exited ${result.code}, expected ${code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
  return result;
}

/**
 * After a sync: the source is unchanged and the whole destination file is `expected` (the source, or
 * for a larger destination the source followed by the destination's untouched tail).
 */
export async function assertSynced(t: ExecutionContext, where: Devices, source: Buffer, expected: Buffer = source): Promise<void> {
  t.is(await sha256File(where.source), sha256(source), 'the source is unchanged');
  t.is(await sha256File(where.destination), sha256(expected), 'the destination holds the source');
}

/** The destination with its tail kept: what a sync to a larger destination must leave. */
export function withTail(source: Buffer, destination: Buffer): Buffer {
  return Buffer.concat([source, destination.subarray(source.length)]);
}

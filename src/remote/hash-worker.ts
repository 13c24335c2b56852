// A hashing thread of the agent (hash-pool.ts starts them). scripts/build.mjs bundles this file on its
// own and embeds the result in the agent bundle as a string, so the agent stays one file uploaded at
// each run: the pool starts each thread from that string (`eval: true`), never from a file on disk.
//
// Messages, one reply per job, tagged with the job's id:
//   in:  { id, hashId, seed, data, chunkSize }   data: a view of the agent's read buffer (shared memory,
//                                                  not copied); the thread only reads it
//   out: { id, digests }                         the digests, in chunk order, concatenated
//   out: { id, error }                           the text of what failed (the pool makes it EWORKER)
import { parentPort } from 'node:worker_threads';
import { chunkDigests, createHasher, hashById, type Hasher } from '../shared/hash';

export interface HashJob {
  readonly id: number;
  readonly hashId: number;
  readonly seed: bigint;
  readonly data: Uint8Array;
  readonly chunkSize: number;
}

export type HashJobReply = { readonly id: number; readonly digests: Uint8Array } | { readonly id: number; readonly error: string };

/** One hasher per algorithm and seed (a run uses one of each; a thread may serve several in-process agents). */
const hashers = new Map<string, Promise<Hasher>>();

function hasherFor(hashId: number, seed: bigint): Promise<Hasher> {
  const key = `${hashId}/${seed}`;
  let hasher = hashers.get(key);
  if (!hasher) {
    const algorithm = hashById(hashId);
    if (!algorithm) return Promise.reject(new Error(`unknown hash id ${hashId}`));
    if (hashers.size >= 16) hashers.clear();
    hasher = createHasher(algorithm, seed);
    hashers.set(key, hasher);
  }
  return hasher;
}

async function run(job: HashJob): Promise<HashJobReply> {
  const hasher = await hasherFor(job.hashId, job.seed);
  const digests = job.chunkSize > 0 ? chunkDigests(hasher, job.data, job.chunkSize) : hasher.digest(job.data);
  // A copy with its own memory: node's small Buffers share a pool, which must not be transferred.
  return { id: job.id, digests: new Uint8Array(digests) };
}

const port = parentPort;
if (port) {
  port.on('message', (job: HashJob) => {
    run(job).then(
      (reply) => port.postMessage(reply, 'digests' in reply ? [reply.digests.buffer as ArrayBuffer] : []),
      (error: unknown) => port.postMessage({ id: job.id, error: (error as Error)?.message ?? String(error) } satisfies HashJobReply),
    );
  });
}

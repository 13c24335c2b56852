// The agent's hashing threads (issue 15, target 4): an agent hashes on every core it has while its
// main thread reads the device and answers the controller. With N threads, the main thread hashes one
// request in N itself and N - 1 worker threads hash the others (a worker thread costs tens of ms of CPU
// to start, and the main thread mostly waits for reads). Each request is hashed whole by one thread,
// chunk after chunk, and serve.ts still answers in request order: the digests are exactly those of
// hashing in the main thread. The data is not copied: Device reads into shared memory
// (SharedArrayBuffer) and the worker reads it there; the read buffer goes back to the device's pool
// only once the digests are back.
//
// The number of threads: BASYN_HASH_THREADS in the agent's environment, else the cores node may use
// (os.availableParallelism), at most MAX_DEFAULT_THREADS. 1 hashes in the main thread only, as before.
// The workers start on the first HASH (a COPY never starts them) and are shared by every agent of the
// process (several in-process agents in tests). An idle worker does not keep the process alive.
import * as os from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { basynError, type AgentError } from '../shared/errors';
import { chunkDigests, type Hasher } from '../shared/hash';
import { askedHashThreads } from '../shared/hash-threads';
import type { HashJob, HashJobReply } from './hash-worker';

/** The bundled hash-worker.ts, as source text (scripts/build.mjs); undefined when run from source (tests). */
declare const BASYN_HASH_WORKER_SOURCE: string | undefined;

/**
 * The default's cap: more threads than buffers in flight (engine.ts, up to 32) would idle, and each
 * costs its own heap (about 10 MB of RSS here); 8 threads hash SHA-1 faster than most disks read.
 */
export const MAX_DEFAULT_THREADS = 8;
/** The hashing threads an agent uses: BASYN_HASH_THREADS if it is a whole number >= 1, else the cores (capped). */
export function hashThreadCount(env: NodeJS.ProcessEnv = process.env): number {
  const asked = askedHashThreads(env);
  if (asked !== undefined) return asked;
  // os.availableParallelism is node >= 18.14; a remote node 18.0 has only cpus().
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(cores, MAX_DEFAULT_THREADS));
}

interface Pending {
  resolve(digests: Buffer): void;
  reject(error: AgentError): void;
}

interface Thread {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
}

function startWorker(): Worker {
  const source = typeof BASYN_HASH_WORKER_SOURCE === 'string'
    ? BASYN_HASH_WORKER_SOURCE
    // From source (tests under tsx): the thread compiles hash-worker.ts through tsx's require hook.
    : `require(${JSON.stringify(require.resolve('tsx/cjs'))});require(${JSON.stringify(join(__dirname, 'hash-worker.ts'))});`;
  return new Worker(source, { eval: true });
}

export class HashPool {
  private readonly threads: Thread[] = [];
  private nextId = 0;
  /** Counts requests: every size-th one is hashed in the main thread. */
  private turn = 0;
  constructor(readonly size: number) {}

  /**
   * The digests of `data` (one, or one per `chunkSize` slice, concatenated) with `hasher`'s algorithm and
   * `seed` (the run's, for a salted one): one request in `size` in this thread with `hasher`, the others
   * in the least busy worker. `data` must stay untouched until this settles. A worker that dies fails its
   * jobs with AGENT_HASH_THREAD (code EWORKER), and a new one takes its place for the next job.
   */
  digests(hasher: Hasher, seed: bigint, data: Uint8Array, chunkSize: number): Promise<Buffer> {
    this.turn = (this.turn + 1) % this.size;
    if (this.turn === 0) {
      try {
        return Promise.resolve(chunkSize > 0 ? chunkDigests(hasher, data, chunkSize) : hasher.digest(data));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    while (this.threads.length < this.size - 1) this.threads.push(this.startThread());
    const thread = this.threads.reduce((best, candidate) => (candidate.pending.size < best.pending.size ? candidate : best));
    const id = (this.nextId = (this.nextId + 1) >>> 0);
    const { algorithm } = hasher;
    return new Promise<Buffer>((resolve, reject) => {
      if (thread.pending.size === 0) thread.worker.ref(); // a job in progress keeps the process alive
      thread.pending.set(id, { resolve, reject });
      const job: HashJob = { id, hashId: algorithm.id, seed: algorithm.salted ? seed : 0n, data, chunkSize };
      thread.worker.postMessage(job);
    });
  }

  /** Stops every worker; their jobs fail with AGENT_HASH_THREAD. The next job starts new ones. */
  async terminate(): Promise<void> {
    await Promise.all(this.threads.map((thread) => thread.worker.terminate()));
  }

  private startThread(): Thread {
    const worker = startWorker();
    const thread: Thread = { worker, pending: new Map() };
    const settle = (id: number): Pending | undefined => {
      const pending = thread.pending.get(id);
      thread.pending.delete(id);
      if (thread.pending.size === 0) worker.unref();
      return pending;
    };
    worker.on('message', (reply: HashJobReply) => {
      const pending = settle(reply.id);
      if ('error' in reply) pending?.reject(basynError('AGENT_HASH_THREAD', reply.error));
      else pending?.resolve(Buffer.from(reply.digests.buffer, reply.digests.byteOffset, reply.digests.byteLength));
    });
    let failure = 'it ended';
    worker.on('error', (error: Error) => { failure = error.message; });
    worker.on('exit', (code) => {
      const index = this.threads.indexOf(thread);
      if (index >= 0) this.threads.splice(index, 1);
      const why = `${failure} (exit code ${code})`;
      for (const id of [...thread.pending.keys()]) settle(id)?.reject(basynError('AGENT_HASH_THREAD', why));
    });
    // After the listeners: adding a 'message' listener refs the worker's port again.
    worker.unref();
    return thread;
  }
}

const pools = new Map<number, HashPool>();

/** The process's pool of `threads` hashing threads, or undefined for 1 (hash in the main thread). */
export function hashPool(threads: number): HashPool | undefined {
  if (threads <= 1) return undefined;
  let pool = pools.get(threads);
  if (!pool) {
    pool = new HashPool(threads);
    pools.set(threads, pool);
  }
  return pool;
}

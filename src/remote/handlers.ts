// One function per request. A handler gets the decoded request and returns the reply message;
// throwing reports an ERROR with the error's code to the controller. serve.ts decides when each
// one runs (see its header comment).
import { decodeRuns, encodeBlock, isAllZero, zeroBytes, type Run } from '../shared/block-codec';
import { chunkDigests, createHasher, hashById, type Hasher } from '../shared/hash';
import { MSG, type Message, type MessageOf } from '../shared/protocol';
import { basynError, deviceError } from '../shared/errors';
import { Device } from './device';
import type { HashPool } from './hash-pool';
import { expandHome } from './home-path';

export class AgentState {
  device?: Device;
  hasher?: Hasher;
  /** The OPEN's seed, for the hashing threads' own hashers. */
  seed = 0n;

  /** `pool`: the hashing threads (hash-pool.ts), or undefined to hash in this thread. */
  constructor(readonly pool?: HashPool) {}

  opened(): { device: Device; hasher: Hasher } {
    if (!this.device || !this.hasher) throw basynError('AGENT_NOT_OPEN');
    return { device: this.device, hasher: this.hasher };
  }
}

function checkExtent(device: Device, offset: number, length: number): void {
  if (offset + length > device.size) {
    throw basynError('AGENT_RANGE', offset, length, device.path, device.size);
  }
}

export async function handleOpen(state: AgentState, request: MessageOf<typeof MSG.OPEN>): Promise<Message> {
  const algorithm = hashById(request.hashId);
  if (!algorithm) throw basynError('AGENT_UNKNOWN_HASH', request.hashId);
  if (state.device) await state.device.close();
  state.device = undefined;
  const path = request.home ? expandHome(request.path) : request.path;
  try {
    if (request.createSize !== undefined) await Device.createMissing(path, request.createSize);
    state.device = await Device.open(path, request.writable);
  } catch (error) {
    throw deviceError(path, error, request.writable);
  }
  state.hasher = await createHasher(algorithm, request.seed);
  state.seed = request.seed;
  return { type: MSG.OPENED, id: request.id, size: state.device.size };
}

export async function handleHash(state: AgentState, request: MessageOf<typeof MSG.HASH>): Promise<Message> {
  const { device, hasher } = state.opened();
  checkExtent(device, request.offset, request.length);
  const { pool, seed } = state;
  // The read buffer is reused once `use` has settled, so a hashing thread reads it undisturbed.
  const digests = await device.readInto(request.offset, request.length, (data) => {
    if (pool) return pool.digests(hasher, seed, data, request.chunkSize);
    return request.chunkSize > 0 ? chunkDigests(hasher, data, request.chunkSize) : hasher.digest(data);
  });
  return { type: MSG.DIGESTS, id: request.id, digests };
}

/** A reply, and what to do once its frame has been written out (give back a recycled read buffer). */
export type Reply = Message & { readonly afterSent?: () => void };

/**
 * `recycle`: the output copies what it is given before its write callback (a pipe, a socket), so the
 * read buffer may be reused after that: a fresh 2 MiB buffer per READ costs ~6 ms of page faults.
 */
export async function handleRead(state: AgentState, request: MessageOf<typeof MSG.READ>, recycle = false): Promise<Reply> {
  const { device } = state.opened();
  checkExtent(device, request.offset, request.length);
  if (!recycle) {
    const data = await device.read(request.offset, request.length);
    return { type: MSG.DATA, id: request.id, block: await encodeBlock(data, request.level) };
  }
  const lease = await device.readLeased(request.offset, request.length);
  let block;
  try {
    block = await encodeBlock(lease.data, request.level);
  } catch (error) {
    lease.release();
    throw error;
  }
  // A deflated or zero block no longer needs the read buffer; a raw one is the read buffer.
  if (block.bytes !== lease.data) lease.release();
  return { type: MSG.DATA, id: request.id, block, afterSent: block.bytes === lease.data ? lease.release : undefined };
}

/** `runs` is the request's block, already inflated (that part needs no ordering). */
export async function handleWrite(state: AgentState, request: MessageOf<typeof MSG.WRITE>, runs: Promise<readonly Run[]>): Promise<Message> {
  const { device } = state.opened();
  if (!device.writable) throw basynError('AGENT_READ_ONLY', device.path);
  device.checkWritable();
  checkExtent(device, request.offset, request.block.rawLength);
  for (const run of await runs) {
    const offset = request.offset + run.offset;
    // A zero run over a range that already reads as zeros (a fresh or sparse image, an unused area)
    // is not written: reading is cheaper than writing, and holes stay holes.
    if (run.data) await device.write(offset, run.data);
    else if (!(await device.readInto(offset, run.length, isAllZero))) await device.write(offset, zeroBytes(run.length));
  }
  return { type: MSG.WRITTEN, id: request.id };
}

export function inflateWrite(request: MessageOf<typeof MSG.WRITE>): Promise<readonly Run[]> {
  return decodeRuns(request.block);
}

export async function handleFlush(state: AgentState, request: MessageOf<typeof MSG.FLUSH>): Promise<Message> {
  const { device } = state.opened();
  if (device.writable) await device.flush();
  return { type: MSG.FLUSHED, id: request.id };
}

export async function handleClose(state: AgentState, request: MessageOf<typeof MSG.CLOSE>): Promise<Message> {
  const device = state.device;
  state.device = undefined;
  if (device) {
    try {
      if (device.writable) await device.flush();
    } finally {
      await device.close();
    }
  }
  return { type: MSG.CLOSED, id: request.id };
}

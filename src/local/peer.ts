// One side of a sync, as the engine sees it: an agent reached through an RpcClient. Both the local
// and the remote device are served by the same agent code (a child process for the local one), so
// PUSH and PULL only swap which peer is the source.
import { ENCODING, PROTOCOL_VERSION, MSG, type EncodedBlock } from '../shared/protocol';
import { RpcClient } from '../shared/rpc';
import { BUILD_ID } from '../shared/build-info';
import { SyncError } from '../shared/errors';
import type { HashAlgorithm } from '../shared/hash';
import { DEFAULT_CONNECT_TIMEOUT_MS, seconds, withDeadline } from './transport/deadline';
import type { AgentLink } from './transport/transport';
import type { Extent } from '../shared/geometry';

/**
 * Requests in flight per agent. The data in flight is bounded by the engine (workersFor); this only
 * caps how many requests it may take, e.g. a changed buffer split into several chunk transfers.
 */
export const RPC_WINDOW = 64;

export class Peer {
  private constructor(
    /** "local" or "remote": how messages name this side. */
    readonly role: 'local' | 'remote',
    readonly link: AgentLink,
    readonly rpc: RpcClient,
  ) {}

  /**
   * Waits for the agent's HELLO (at most the link's ConnectTimeout, or until `abort`) and checks it
   * speaks our protocol and is our build.
   */
  static async connect(role: 'local' | 'remote', link: AgentLink, onLog: (text: string) => void, abort?: AbortSignal): Promise<Peer> {
    const rpc = new RpcClient(link.input, link.output, RPC_WINDOW, { onLog: (_level, text) => onLog(text) });
    const limit = link.helloTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const hello = await withDeadline(rpc.waitHello(), {
      ms: limit,
      timeout: () => new SyncError(`the ${role} agent (${link.description}) sent no HELLO within ${seconds(limit)}`, 'ESTART'),
      abort,
      cancel: () => rpc.fail(new SyncError(`the ${role} agent was abandoned before its HELLO`, 'ESTART')),
    });
    if (hello.version !== PROTOCOL_VERSION) {
      throw new SyncError(`${role} agent speaks protocol version ${hello.version}, this basyn speaks ${PROTOCOL_VERSION}`, 'EVERSION');
    }
    if (hello.buildId !== BUILD_ID) {
      throw new SyncError(`${role} agent is build ${hello.buildId}, this basyn is build ${BUILD_ID}`, 'EVERSION');
    }
    return new Peer(role, link, rpc);
  }

  /** Opens the device; `seed` salts salted hashes (the same on both sides of a run). */
  async open(path: string, writable: boolean, algorithm: HashAlgorithm, seed: bigint): Promise<number> {
    const reply = await this.rpc.call({ type: MSG.OPEN, writable, hashId: algorithm.id, seed, path });
    return reply.size;
  }

  /** Device bytes this agent read (hashed or sent) and wrote, and zero blocks it was sent: for --json. */
  readonly counters = { bytesRead: 0, bytesWritten: 0, zeroBlocksWritten: 0 };

  async hash(extent: Extent, chunkSize = 0): Promise<Buffer> {
    const digests = (await this.rpc.call({ type: MSG.HASH, offset: extent.offset, length: extent.length, chunkSize })).digests;
    this.counters.bytesRead += extent.length;
    return digests;
  }

  async read(extent: Extent, level: number): Promise<EncodedBlock> {
    const block = (await this.rpc.call({ type: MSG.READ, offset: extent.offset, length: extent.length, level })).block;
    this.counters.bytesRead += extent.length;
    return block;
  }

  async write(offset: number, block: EncodedBlock): Promise<void> {
    await this.rpc.call({ type: MSG.WRITE, offset, block });
    this.counters.bytesWritten += block.rawLength;
    if (block.encoding === ENCODING.ZERO) this.counters.zeroBlocksWritten++;
  }

  /** Resolves once every write acknowledged before it is durable on the device. */
  async flush(): Promise<void> {
    await this.rpc.call({ type: MSG.FLUSH });
  }

  private closing?: Promise<void>;

  /** Flushes, closes the device and lets the agent exit. Calling it again waits for the first close. */
  close(): Promise<void> {
    this.closing ??= this.rpc.call({ type: MSG.CLOSE }).then(() => { this.link.output.end(); });
    return this.closing;
  }

  kill(): void {
    this.link.kill();
  }
}

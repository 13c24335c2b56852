// One side of a sync, as the engine sees it: an agent reached through an RpcClient. Both the local
// and the remote device are served by the same agent code (a child process for the local one), so
// PUSH and PULL only swap which peer is the source.
//
// Replies are checked against what was asked before anyone uses them: a DATA block of another
// length than the range read, or a DIGESTS payload of another size than the digests asked for, is a
// protocol error that ends the link to that agent (nothing is written from it). After a WRITE or
// FLUSH has failed, no further WRITE or FLUSH is sent to that side: a write issued after a failure
// could land where the bitmap or the user believes nothing changed.
import { ENCODING, PROTOCOL_VERSION, MSG, type EncodedBlock } from '../shared/protocol';
import { RpcClient } from '../shared/rpc';
import { BUILD_ID } from '../shared/build-info';
import { ProtocolError, basynError } from '../shared/errors';
import type { HashAlgorithm } from '../shared/hash';
import { DEFAULT_CONNECT_TIMEOUT_MS, seconds, withDeadline } from './transport/deadline';
import { printable } from '../shared/remote-text';
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
      timeout: () => basynError('PROTOCOL_NO_HELLO', role, link.description, seconds(limit)),
      abort,
      cancel: () => rpc.fail(basynError('PROTOCOL_HELLO_ABANDONED', role)),
    });
    if (hello.version !== PROTOCOL_VERSION) {
      throw basynError('PROTOCOL_VERSION', role, hello.version, PROTOCOL_VERSION);
    }
    if (hello.buildId !== BUILD_ID) {
      throw basynError('PROTOCOL_BUILD', role, printable(hello.buildId, 64), BUILD_ID);
    }
    return new Peer(role, link, rpc);
  }

  /** Length of one digest of the hash the device was opened with (checked in every DIGESTS). */
  private digestLength = 0;
  /** The first failed WRITE or FLUSH; every later write() and flush() fails with it, unsent. */
  private writeFailure?: Error;

  /** The agent expands a leading `~` / `~user` of every path opened (a remote SOURCE TARGET endpoint). */
  expandHome = false;
  /** A writable open creates the file at this size when it is missing (a SOURCE TARGET form target). */
  createSize?: number;

  /** Opens the device; `seed` salts salted hashes (the same on both sides of a run). */
  async open(path: string, writable: boolean, algorithm: HashAlgorithm, seed: bigint): Promise<number> {
    const reply = await this.rpc.call({
      type: MSG.OPEN, writable, hashId: algorithm.id, seed, path,
      ...(this.expandHome ? { home: true } : {}),
      ...(writable && this.createSize !== undefined ? { createSize: this.createSize } : {}),
    });
    this.digestLength = algorithm.digestLength;
    return reply.size;
  }

  /** Device bytes this agent read (hashed or sent) and wrote, and zero blocks it was sent: for --json. */
  readonly counters = { bytesRead: 0, bytesWritten: 0, zeroBlocksWritten: 0 };

  /** One digest of `extent`, or (chunkSize > 0) one per chunkSize slice of it, concatenated. */
  async hash(extent: Extent, chunkSize = 0): Promise<Buffer> {
    const { digests } = await this.rpc.call({ type: MSG.HASH, offset: extent.offset, length: extent.length, chunkSize });
    const expected = (chunkSize > 0 ? Math.ceil(extent.length / chunkSize) : 1) * this.digestLength;
    if (digests.length !== expected) {
      throw this.protocolError(`sent ${digests.length} bytes of digests for ${extent.length} bytes at offset ${extent.offset}, expected ${expected}`);
    }
    this.counters.bytesRead += extent.length;
    return digests;
  }

  async read(extent: Extent, level: number): Promise<EncodedBlock> {
    const { block } = await this.rpc.call({ type: MSG.READ, offset: extent.offset, length: extent.length, level });
    // RAW and DEFLATE blocks are checked against their rawLength by the codec; this checks rawLength.
    if (block.rawLength !== extent.length) {
      throw this.protocolError(`sent a block of ${block.rawLength} bytes for a read of ${extent.length} bytes at offset ${extent.offset}`);
    }
    this.counters.bytesRead += extent.length;
    return block;
  }

  async write(offset: number, block: EncodedBlock): Promise<void> {
    if (this.writeFailure) throw this.writeFailure;
    try {
      await this.rpc.call({ type: MSG.WRITE, offset, block });
    } catch (error) {
      throw (this.writeFailure ??= error as Error);
    }
    this.counters.bytesWritten += block.rawLength;
    if (block.encoding === ENCODING.ZERO) this.counters.zeroBlocksWritten++;
  }

  /** Resolves once every write acknowledged before it is durable on the device. */
  async flush(): Promise<void> {
    if (this.writeFailure) throw this.writeFailure;
    try {
      await this.rpc.call({ type: MSG.FLUSH });
    } catch (error) {
      throw (this.writeFailure ??= error as Error);
    }
  }

  /** A reply that does not fit its request: this agent is not trusted with anything more. */
  private protocolError(what: string): ProtocolError {
    const error = basynError('PROTOCOL_BAD_REPLY', this.role, what);
    this.rpc.fail(error);
    return error;
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

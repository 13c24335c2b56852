// The bitmap file on disk, as the engine uses it: the stored source digest of each buffer, durable
// "unknown" marks made before a destination write is issued, and new digests committed only after
// the destination has flushed the data they describe (the crash-safety argument is in bitmap-format.md).
import { promises as fs, constants as fsConstants } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import {
  BITMAP_V1_HEADER_LENGTH, bitmapV1TableLength, checkBitmapV1, encodeBitmapV1Header, isUnknownDigest, type BitmapGeometry,
} from '../shared/bitmap';
import { describeSystemError, SyncError, BitmapError } from '../shared/errors';

export class BitmapStore {
  /** The digest table as it is on disk (plus staged records, which only ever follow a durable state). */
  private readonly table: Buffer;
  private readonly digestLength: number;
  private handle?: fs.FileHandle;
  /** Serializes every write+fsync to the file, so marks and commits never interleave. */
  private chain: Promise<void> = Promise.resolve();
  private unknownWaiters: Array<{ index: number; resolve(): void; reject(error: Error): void }> = [];
  private markPending = false;
  private staged = new Map<number, Buffer>();

  private constructor(readonly path: string, readonly geometry: BitmapGeometry, table: Buffer, readonly created: boolean) {
    this.table = table;
    this.digestLength = geometry.hash.digestLength;
  }

  /**
   * Reads and validates an existing bitmap (throws BitmapError on any mismatch), or prepares a new one
   * when the file is missing or `reset` is set. Nothing is written until open().
   */
  static async load(path: string, geometry: BitmapGeometry, reset: boolean): Promise<BitmapStore> {
    const blank = () => new BitmapStore(path, geometry, Buffer.alloc(bitmapV1TableLength(geometry)), true);
    if (reset) return blank();
    let content: Buffer;
    try {
      content = await fs.readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return blank();
      throw new BitmapError(describeSystemError(error, `Bitmap file ${path}`));
    }
    checkBitmapV1(path, content.subarray(0, BITMAP_V1_HEADER_LENGTH), content.length, geometry);
    return new BitmapStore(path, geometry, Buffer.from(content.subarray(BITMAP_V1_HEADER_LENGTH)), false);
  }

  /** Opens the file for writing, creating (or, with reset, replacing) it atomically first when needed. */
  async open(): Promise<void> {
    try {
      if (this.created) await this.writeFresh();
      this.handle = await fs.open(this.path, fsConstants.O_RDWR);
    } catch (error) {
      throw new SyncError(describeSystemError(error, `Bitmap file ${this.path}`), 'EBITMAPIO');
    }
  }

  get entries(): number {
    return this.table.length / this.digestLength;
  }

  /** The stored digest of buffer `index`, or undefined when unknown (must be sent). */
  entry(index: number): Buffer | undefined {
    const entry = this.table.subarray(index * this.digestLength, (index + 1) * this.digestLength);
    return isUnknownDigest(entry) ? undefined : entry;
  }

  /**
   * Durably marks `index` unknown. Resolves once that is on disk: only then may the destination write
   * for that buffer be issued. Concurrent calls share one fsync (group commit).
   */
  markUnknown(index: number): Promise<void> {
    if (this.entry(index) === undefined && !this.staged.has(index)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.unknownWaiters.push({ index, resolve, reject });
      if (!this.markPending) {
        this.markPending = true;
        this.chain = this.chain.then(() => this.writeUnknownMarks());
      }
    });
  }

  /** Stages a new digest; it reaches the file at the next commit(). */
  record(index: number, digest: Buffer): void {
    this.staged.set(index, Buffer.from(digest));
  }

  get stagedCount(): number {
    return this.staged.size;
  }

  /**
   * Takes the digests staged so far. Take them before sending the destination its FLUSH: a digest
   * staged after that point may describe a write the FLUSH does not cover.
   */
  takeStaged(): Map<number, Buffer> {
    const batch = this.staged;
    this.staged = new Map();
    return batch;
  }

  /**
   * Writes a batch of digests and fsyncs. The caller guarantees that every destination write they
   * describe has been flushed (acknowledged FLUSHED) before calling.
   */
  commit(batch: Map<number, Buffer>): Promise<void> {
    this.chain = this.chain.then(async () => {
      for (const [index, digest] of batch) {
        digest.copy(this.table, index * this.digestLength);
        await this.writeEntry(index);
      }
      if (batch.size > 0) await this.handle?.sync();
    });
    return this.chain;
  }

  async close(): Promise<void> {
    await this.chain.catch(() => undefined);
    await this.handle?.close();
    this.handle = undefined;
  }

  private async writeUnknownMarks(): Promise<void> {
    const waiters = this.unknownWaiters;
    this.unknownWaiters = [];
    this.markPending = false;
    try {
      for (const { index } of waiters) {
        this.staged.delete(index);
        this.table.fill(0, index * this.digestLength, (index + 1) * this.digestLength);
        await this.writeEntry(index);
      }
      await this.handle?.sync();
      for (const waiter of waiters) waiter.resolve();
    } catch (error) {
      const failure = new SyncError(describeSystemError(error, `Bitmap file ${this.path}`), 'EBITMAPIO');
      for (const waiter of waiters) waiter.reject(failure);
    }
  }

  private async writeEntry(index: number): Promise<void> {
    if (!this.handle) throw new Error('bitmap is not open');
    const start = index * this.digestLength;
    await this.handle.write(this.table, start, this.digestLength, BITMAP_V1_HEADER_LENGTH + start);
  }

  /** A new file: written beside the target, fsynced, renamed over it, directory fsynced. Mode 0600. */
  private async writeFresh(): Promise<void> {
    const temporary = join(dirname(this.path), `.${basename(this.path)}.${process.pid}.tmp`);
    const handle = await fs.open(temporary, 'w', 0o600);
    try {
      await handle.writeFile(Buffer.concat([encodeBitmapV1Header(this.geometry), this.table]));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temporary, this.path);
    const directory = await fs.open(dirname(this.path), 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }
}

// The bitmap file on disk (bitmap-format.md §4): locked for one run, checked against the run before
// anything is written, upgraded from version 1 or (re)created through a new file renamed into place,
// "run in progress" set at the start and cleared at a clean end, durable "unknown" marks, staged
// digests committed in batches. When each of these happens relative to the destination's writes and
// FLUSH is decided in one place: bitmap-sync.ts.
//
// Entries are addressed as (buffer index, slot): slot 0 is the buffer digest, slot 1 + j chunk j.
import type { promises as fs } from 'node:fs';
import {
  BITMAP_MAGIC, DESTINATION_KIND, FLAG_RUN_IN_PROGRESS, type BitmapMismatch, chunksPerRecord, decodeBitmapFile, encodeBitmapFile, encodeSlot, findMismatch,
  isUnknownDigest, recordLength, slotLengthFor, slotOffset, tableLength, tableOffset,
  type BitmapHeader, type BitmapLayout, type DestinationIdentity,
} from '../shared/bitmap';
import { decodeBitmapV1, isBitmapV1 } from '../shared/bitmap-v1';
import { BasynError, BitmapError, basynError, systemErrorText } from '../shared/errors';
import type { BitmapMismatchCode } from '../shared/errors-bitmap';
import { bufferCount } from '../shared/geometry';
import { BitmapLock } from './bitmap-lock';
import { checkReplaceable, openForUpdate, readStateFile, replaceStateFile, resolveStatePath, type StateFileKind } from './state-file';

/** A bitmap basyn wrote (version 2, or Python basyn's version 1): the only file -b may replace. */
export const BITMAP_FILE: StateFileKind = {
  what: 'Bitmap',
  probeBytes: BITMAP_MAGIC.length,
  isOurs: (head) => isBitmapV1(head) || head.subarray(0, BITMAP_MAGIC.length).equals(BITMAP_MAGIC),
  hint: 'delete or move it yourself if it is not needed, or choose another -b file',
};

export interface BitmapRun {
  readonly layout: BitmapLayout;
  /** What the entries will describe: this run's destination, or kind NONE in bitmap-only mode. */
  readonly destination: DestinationIdentity;
  /** --reset-bitmap: start with every entry unknown (everything is sent). */
  readonly reset: boolean;
  /**
   * With `reset`: a bitmap that a run interrupted since the file was (re)created left behind (run in
   * progress, never a clean end) is kept instead: every entry it holds was committed after a FLUSH by
   * that run, so the same --reset-bitmap command continues it (false with --no-resume).
   */
  readonly continueReset?: boolean;
  /**
   * --update-bitmap: the destination is compared, so a valid bitmap made for another destination or
   * geometry is taken over with every entry unknown instead of being refused.
   */
  readonly update: boolean;
  /** No --chunk was given: an existing version 2 bitmap keeps its own chunk size. */
  readonly adoptChunkSize?: boolean;
}

/** How this run came by its bitmap: for --verbose. */
export type BitmapOrigin = 'existing' | 'new' | 'reset' | 'reset, continued' | 'upgraded from version 1' | 'upgraded from version 1, compared with the destination' | 'taken over';

export interface BitmapStatus {
  readonly origin: BitmapOrigin;
  /** The previous run using this bitmap did not end cleanly (RUN_IN_PROGRESS was set). */
  readonly previousRunInterrupted: boolean;
  /** End of the last clean run (ms), 0 = never. */
  readonly lastClean: number;
  /** With origin 'taken over': what did not match. */
  readonly mismatch?: string;
}

type Staged = Map<number, Map<number, Buffer>>;

export class BitmapStore {
  private handle?: fs.FileHandle;
  private header: BitmapHeader;
  private readonly slotLength: number;
  private readonly record: number;
  private readonly digestLength: number;
  /** Serializes every write+fsync to the file, so marks, commits and header writes never interleave. */
  private chain: Promise<void> = Promise.resolve();
  private markWaiters: Array<{ index: number; slots: readonly number[]; resolve(): void; reject(error: Error): void }> = [];
  private markPending = false;
  private staged: Staged = new Map();
  private failure?: Error;

  private constructor(
    readonly path: string,
    private readonly lock: BitmapLock,
    header: BitmapHeader,
    /** The digest table as it is on disk; staged digests join it only at commit. */
    private readonly table: Buffer,
    /** Written whole (new file renamed into place) at open(), instead of updated in place. */
    readonly rewrite: boolean,
    readonly status: BitmapStatus,
  ) {
    this.header = header;
    this.slotLength = slotLengthFor(header.destination);
    this.record = recordLength(header.layout);
    this.digestLength = header.layout.hash.digestLength;
  }

  /**
   * Locks the bitmap, reads it and checks it against this run (BitmapError, exit 1, on any mismatch or
   * damage: nothing written), or prepares a new one. Nothing but the lock file is written until open().
   */
  static async load(givenPath: string, run: BitmapRun): Promise<BitmapStore> {
    // Resolved once: the lock, the read and the rename all act on the real file behind any symlink.
    const path = await resolveStatePath(givenPath, BITMAP_FILE);
    const lock = await BitmapLock.acquire(path);
    try {
      const store = await BitmapStore.read(path, lock, run);
      // A file to be rewritten must be a bitmap (or nothing): checked now, before the destination is
      // opened for writing, so a refusal (exit 1) changes nothing.
      if (store.rewrite) await checkReplaceable(path, BITMAP_FILE);
      return store;
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  private static async read(path: string, lock: BitmapLock, run: BitmapRun): Promise<BitmapStore> {
    const now = Date.now();
    const fresh = (origin: BitmapOrigin, mismatch?: string) => {
      const header: BitmapHeader = { flags: FLAG_RUN_IN_PROGRESS, generation: 0, created: now, lastClean: 0, layout: run.layout, destination: run.destination };
      return new BitmapStore(path, lock, header, Buffer.alloc(tableLength(run.layout)), true, { origin, previousRunInterrupted: false, lastClean: 0, mismatch });
    };
    if (run.reset && !run.continueReset) return fresh('reset');
    const bytes = await readStateFile(path, BITMAP_FILE);
    if (!bytes) return fresh(run.reset ? 'reset' : 'new');
    if (run.reset) return BitmapStore.continueReset(path, lock, run, bytes) ?? fresh('reset');
    const damaged = 'delete it or pass --reset-bitmap to rebuild it';
    const doesNotFit = run.destination.kind === DESTINATION_KIND.NONE
      ? 'pass --reset-bitmap to start it over, or use another bitmap file'
      : 'pass --update-bitmap to rebuild it by comparing with the destination (only differences are sent), or --reset-bitmap to start over (everything is sent)';

    if (isBitmapV1(bytes)) {
      let v1Table: Buffer;
      try {
        v1Table = decodeBitmapV1(path, bytes, run.layout, doesNotFit);
      } catch (error) {
        if (run.update && error instanceof BitmapError && error.code === 'EBITMAPMISMATCH') return fresh('taken over', error.message);
        throw error;
      }
      // A version 1 file names no destination: its digests may describe another one (or a destination
      // an interrupted Python run left behind). With a destination, the upgraded file starts blank and
      // this run compares every buffer with it, as --update-bitmap does (see `verify`); an interrupted
      // verification leaves unknown entries, never unverified ones.
      if (run.destination.kind !== DESTINATION_KIND.NONE) return fresh('upgraded from version 1, compared with the destination');
      // Bitmap-only: nothing to verify against. Buffer digests carry over; chunk entries start unknown.
      const store = fresh('upgraded from version 1');
      const recordBytes = recordLength(run.layout);
      for (let index = 0; index < bufferCount(run.layout.deviceSize, run.layout.bufferSize); index++) {
        v1Table.copy(store.table, index * recordBytes, index * store.digestLength, (index + 1) * store.digestLength);
      }
      return store;
    }

    // Without a bitmap's magic the file is not basyn's: --reset-bitmap will not replace it either.
    const notOurs = 'basyn did not write it and will not replace it (not even with --reset-bitmap): delete or move it yourself, or choose another -b file';
    const decoded = decodeBitmapFile(path, bytes, BITMAP_FILE.isOurs(bytes, bytes.length) ? damaged : notOurs);
    const layout = run.adoptChunkSize ? { ...run.layout, chunkSize: decoded.header.layout.chunkSize } : run.layout;
    const mismatch = findMismatch(decoded.header, layout, run.destination);
    if (mismatch) {
      if (run.update) return fresh('taken over', mismatch.what);
      const refuse = basynError as (code: BitmapMismatchCode, path: string, ...values: [...BitmapMismatch['values'], string]) => BitmapError;
      throw refuse(mismatch.code, path, ...mismatch.values, `${mismatch.hint ? `${mismatch.hint}, or ` : ''}${doesNotFit}`);
    }
    const { header } = decoded;
    return new BitmapStore(path, lock, header, Buffer.from(decoded.table), false, {
      origin: 'existing',
      previousRunInterrupted: (header.flags & FLAG_RUN_IN_PROGRESS) !== 0,
      lastClean: header.lastClean,
    });
  }

  /**
   * --reset-bitmap over a bitmap no run has ended cleanly since it was (re)created: continued as it is
   * (BitmapRun.continueReset). Anything else (damaged, another layout or destination, a clean end since,
   * not a bitmap at all: load() then refuses to replace it) is undefined: the reset starts over.
   */
  private static continueReset(path: string, lock: BitmapLock, run: BitmapRun, bytes: Buffer): BitmapStore | undefined {
    if (!bytes.subarray(0, BITMAP_MAGIC.length).equals(BITMAP_MAGIC)) return undefined;
    let decoded: ReturnType<typeof decodeBitmapFile>;
    try {
      decoded = decodeBitmapFile(path, bytes, '');
    } catch {
      return undefined;
    }
    const { header } = decoded;
    const layout = run.adoptChunkSize ? { ...run.layout, chunkSize: header.layout.chunkSize } : run.layout;
    if ((header.flags & FLAG_RUN_IN_PROGRESS) === 0 || header.lastClean !== 0 || findMismatch(header, layout, run.destination)) return undefined;
    return new BitmapStore(path, lock, header, Buffer.from(decoded.table), false, { origin: 'reset, continued', previousRunInterrupted: true, lastClean: 0 });
  }

  /** True when every entry starts unknown (new, reset, taken over): every buffer will be sent or compared. */
  get blank(): boolean {
    return !['existing', 'reset, continued', 'upgraded from version 1'].includes(this.status.origin);
  }

  /**
   * This run must compare with the destination, as --update-bitmap does, instead of trusting entries:
   * the bitmap was upgraded from version 1, which carries no destination identity.
   */
  get verify(): boolean {
    return this.status.origin === 'upgraded from version 1, compared with the destination';
  }

  get layout(): BitmapLayout {
    return this.header.layout;
  }

  /** Chunk entries per buffer (k), 0 without chunks. */
  get chunks(): number {
    return chunksPerRecord(this.header.layout);
  }

  get generation(): number {
    return this.header.generation;
  }

  /**
   * Makes the file ready for the run: a whole new file (new, reset, upgrade, taken over) with
   * RUN_IN_PROGRESS set, or, for an existing file, a header write setting it. Both durable.
   */
  async open(): Promise<void> {
    try {
      if (this.rewrite) await this.writeWhole();
      this.handle = await openForUpdate(this.path, BITMAP_FILE);
      if (!this.rewrite) await this.writeHeader(this.header.flags | FLAG_RUN_IN_PROGRESS, this.header.lastClean);
    } catch (error) {
      throw this.ioError(error);
    }
  }

  /** The stored digest of buffer `index` (slot 0) or of its chunk `slot - 1`; undefined when unknown. */
  entry(index: number, slot = 0): Buffer | undefined {
    const start = index * this.record + slot * this.digestLength;
    const entry = this.table.subarray(start, start + this.digestLength);
    return isUnknownDigest(entry) ? undefined : entry;
  }

  /**
   * Durably marks entries of buffer `index` unknown: slot 0 always, plus the given chunk slots (1 + j).
   * Resolves once that is on disk: only then may a destination write for that range be issued.
   * Marks requested while an fsync runs share the next one (group commit).
   */
  markUnknown(index: number, chunkSlots: readonly number[] = []): Promise<void> {
    const slots = [0, ...chunkSlots];
    this.staged.delete(index);
    if (slots.every((slot) => this.entry(index, slot) === undefined)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.markWaiters.push({ index, slots, resolve, reject });
      if (!this.markPending) {
        this.markPending = true;
        this.chain = this.chain.then(() => this.writeMarks());
      }
    });
  }

  /** Stages a new digest for an entry; it reaches the file at the next commit(). */
  stage(index: number, slot: number, digest: Buffer): void {
    let entries = this.staged.get(index);
    if (!entries) this.staged.set(index, (entries = new Map()));
    entries.set(slot, Buffer.from(digest));
  }

  /** Buffers with staged digests. */
  get stagedCount(): number {
    return this.staged.size;
  }

  /**
   * Takes the digests staged so far. Take them before sending the destination its FLUSH: a digest
   * staged after that point may describe a write the FLUSH does not cover.
   */
  takeStaged(): Staged {
    const batch = this.staged;
    this.staged = new Map();
    return batch;
  }

  /**
   * Writes a batch of digests and fsyncs. The caller guarantees that every destination write they
   * describe was acknowledged before a FLUSH that has been acknowledged since.
   */
  commit(batch: Staged): Promise<void> {
    return this.enqueue(async () => {
      if (batch.size === 0) return;
      for (const [index, entries] of batch) {
        for (const [slot, digest] of entries) digest.copy(this.table, index * this.record + slot * this.digestLength);
        await this.writeRecord(index);
      }
      await this.sync();
    });
  }

  /** The run ended cleanly (every commit done): clears RUN_IN_PROGRESS and records the time. */
  finish(): Promise<void> {
    return this.enqueue(() => this.writeHeader(this.header.flags & ~FLAG_RUN_IN_PROGRESS, Date.now()));
  }

  /** Closes the file and releases the lock (RUN_IN_PROGRESS stays set unless finish() ran). */
  async close(): Promise<void> {
    await this.chain.catch(() => undefined);
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
    await this.lock.release();
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.chain.then(() => {
      if (this.failure) throw this.failure;
      return work();
    });
    this.chain = next.catch((error: unknown) => { this.failure ??= this.ioError(error); });
    return next.catch((error: unknown) => { throw this.failure ?? this.ioError(error); });
  }

  private async writeMarks(): Promise<void> {
    const waiters = this.markWaiters;
    this.markWaiters = [];
    this.markPending = false;
    try {
      if (this.failure) throw this.failure;
      for (const { index, slots } of waiters) {
        for (const slot of slots) this.table.fill(0, index * this.record + slot * this.digestLength, index * this.record + (slot + 1) * this.digestLength);
        await this.writeRecord(index);
      }
      await this.sync();
      for (const waiter of waiters) waiter.resolve();
    } catch (error) {
      this.failure ??= this.ioError(error);
      for (const waiter of waiters) waiter.reject(this.failure);
    }
  }

  private async writeRecord(index: number): Promise<void> {
    if (!this.handle) throw new Error('bitmap is not open');
    const start = index * this.record;
    await this.handle.write(this.table, start, this.record, tableOffset(this.slotLength) + start);
  }

  private async sync(): Promise<void> {
    await this.handle?.sync();
  }

  /** Header of the next generation into its slot (the other slot keeps the previous one), fsynced. */
  private async writeHeader(flags: number, lastClean: number): Promise<void> {
    if (!this.handle) throw new Error('bitmap is not open');
    const header: BitmapHeader = { ...this.header, flags, lastClean, generation: this.header.generation + 1 };
    await this.handle.write(encodeSlot(header, this.slotLength), 0, this.slotLength, slotOffset(header.generation, this.slotLength));
    await this.sync();
    this.header = header;
  }

  /** A whole file: written beside the target (0600), fsynced, renamed over it, directory fsynced. */
  private async writeWhole(): Promise<void> {
    await replaceStateFile(this.path, encodeBitmapFile(this.header, this.table), BITMAP_FILE);
  }

  private ioError(error: unknown): Error {
    if (error instanceof BasynError) return error;
    return basynError('BITMAP_IO', this.path, systemErrorText(error));
  }
}

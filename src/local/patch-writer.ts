// `--diff FILE|-`: the engine's destination-like sink. The engine compares as a SYNC does and hands
// the differing blocks here instead of to a destination agent; this writes them as a patch file
// (basyn's format, patch-format.md, or bdsync's with --diff-format bdsync), in offset order although
// the engine's workers finish buffers out of order, with at most the engine's window held.
import { constants as fsConstants, promises as fs } from 'node:fs';
import type { Writable } from 'node:stream';
import { BDSYNC_MAX_PIECE, encodeBdsyncHeader, encodeBdsyncRecord, encodeBdsyncTrailer } from '../shared/bdsync-format';
import { decodeBlock, encodeBlock, isAllZero } from '../shared/block-codec';
import { basynError } from '../shared/errors';
import type { HashAlgorithm } from '../shared/hash';
import { HEADER_FLAG_BITMAP_PRE_IMAGES, PatchEncoder, type PatchEncoding, type SizeMode } from '../shared/patch-format';
import { ENCODING, type EncodedBlock } from '../shared/protocol';
import type { Extent } from '../shared/geometry';
import { patchDigest } from '../shared/hash';

export type DiffFormat = 'basyn' | 'bdsync';

/** What the engine writes to instead of a destination Peer. */
export interface BlockSink {
  /** `preImage`: the target's digest there (null: unknown; undefined: the sink finds it itself). */
  write(offset: number, block: EncodedBlock, preImage?: Buffer | null): Promise<void>;
  /** Buffer `index` is complete: its records (and every earlier buffer's) may be written out. */
  bufferDone(index: number): Promise<void>;
  flush(): Promise<void>;
}

/** Deflate level of a patch record made from a RUNS block (mostly zeros: level 1 is as small, 4 x faster). */
const PATCH_RUNS_LEVEL = 1;

export interface PatchWriterSetup {
  readonly format: DiffFormat;
  readonly digest: HashAlgorithm;
  readonly sizeMode: SizeMode;
  /** Comparison granularity: bdsync records are cut at it (its --blocksize). */
  readonly blockSize: number;
  readonly bufferSize: number;
  readonly sourceSize: number;
  readonly targetSize: number;
  /** The target as named on the command line (bdsync's header). */
  readonly targetName: string;
  readonly bitmapPreImages: boolean;
  /** Digest of the target's bytes in a range (reads the destination); absent in bitmap-only mode. */
  readonly preImageOf?: (range: Extent) => Promise<Buffer>;
  /** Writes the records after the engine's last buffer (a larger source's tail) before the trailer. */
  readonly tail?: (writer: PatchWriter) => Promise<void>;
}

interface Pending {
  readonly offset: number;
  readonly data: Buffer;
  readonly block: EncodedBlock;
  readonly preImage?: Buffer;
}

export class PatchWriter implements BlockSink {
  private readonly pending = new Map<number, Pending[]>();
  private readonly done = new Set<number>();
  private nextBuffer = 0;
  private readonly encoder?: PatchEncoder;
  private emitting: Promise<void> = Promise.resolve();

  /** Bytes written to the file so far (its next write position). */
  private position = 0;

  private constructor(private readonly setup: PatchWriterSetup, private readonly out: Writable | undefined, private readonly file?: fs.FileHandle, readonly path?: string) {
    if (setup.format === 'basyn') {
      this.encoder = new PatchEncoder({
        digest: setup.digest, flags: setup.bitmapPreImages ? HEADER_FLAG_BITMAP_PRE_IMAGES : 0, sizeMode: setup.sizeMode,
        blockSize: setup.blockSize, sourceSize: setup.sourceSize, targetSize: setup.targetSize,
      });
    }
  }

  /** `-` is stdout; a file is created (0600, O_EXCL): basyn never replaces a file it did not create. */
  static async create(target: string, setup: PatchWriterSetup): Promise<PatchWriter> {
    let writer: PatchWriter;
    if (target === '-') writer = new PatchWriter(setup, process.stdout);
    else {
      let handle: fs.FileHandle;
      try {
        handle = await fs.open(target, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw basynError('PATCH_FILE_EXISTS', target);
        throw basynError('PATCH_FILE_UNWRITABLE', target, (error as Error).message);
      }
      writer = new PatchWriter(setup, undefined, handle, target);
    }
    await writer.emit(writer.encoder ? writer.encoder.start() : [encodeBdsyncHeader({ sourceSize: setup.sourceSize, name: setup.targetName })]);
    return writer;
  }

  async write(offset: number, wireBlock: EncodedBlock, preImage?: Buffer | null): Promise<void> {
    const data = Buffer.from(await decodeBlock(wireBlock));
    // A patch record is RAW, DEFLATE or ZERO (patch-format.md): a block that travelled as runs is stored whole.
    const block = wireBlock.encoding === ENCODING.RUNS ? await encodeBlock(data, PATCH_RUNS_LEVEL, false) : wireBlock;
    const range = { offset, length: data.length };
    const wanted = this.setup.format === 'basyn' && preImage !== null;
    const pre = wanted ? preImage ?? (await this.setup.preImageOf?.(range)) : undefined;
    const index = Math.floor(offset / this.setup.bufferSize);
    let list = this.pending.get(index);
    if (!list) this.pending.set(index, (list = []));
    list.push({ offset, data, block, preImage: pre });
  }

  async bufferDone(index: number): Promise<void> {
    this.done.add(index);
    // Collected and queued without an await in between: concurrent calls (the engine's workers finish
    // buffers out of order) must not interleave their records in the file.
    const parts: Buffer[] = [];
    while (this.done.has(this.nextBuffer)) {
      const records = (this.pending.get(this.nextBuffer) ?? []).sort((a, b) => a.offset - b.offset);
      this.pending.delete(this.nextBuffer);
      this.done.delete(this.nextBuffer);
      this.nextBuffer++;
      for (const record of records) parts.push(...this.recordParts(record));
    }
    if (parts.length > 0) await this.emit(parts);
  }

  /** Records beyond the engine's buffers (the tail of a larger source, --diffsize resize), in order. */
  async writeTail(offset: number, data: Buffer): Promise<void> {
    if (isAllZero(data)) return; // the grown target reads as zeros there (holes)
    await this.emitRecord({ offset, data, block: { encoding: ENCODING.RAW, rawLength: data.length, bytes: data } });
  }

  /** The records so far are durable (the patch file is fsynced; a pipe cannot be). */
  async flush(): Promise<void> {
    if (this.finished) return; // finish() made everything durable
    await this.emitting;
    await this.drain();
    await this.file?.datasync();
  }

  private finished = false;

  /** Writes the trailer and makes the whole file durable. */
  async finish(): Promise<void> {
    await this.setup.tail?.(this);
    await this.emit(this.encoder ? this.encoder.finish() : [encodeBdsyncTrailer()]);
    await this.flush();
    this.finished = true;
    await this.file?.close();
  }

  /** A failed run: the partial file (ours: created with O_EXCL) is removed. */
  async abandon(): Promise<void> {
    if (!this.file || !this.path) return;
    await this.emitting.catch(() => undefined);
    await this.file.close().catch(() => undefined);
    await fs.unlink(this.path).catch(() => undefined);
  }

  private emitRecord(record: Pending): Promise<void> {
    return this.emit(this.recordParts(record));
  }

  private recordParts(record: Pending): Buffer[] {
    if (this.encoder) {
      const encoding = record.block.encoding as PatchEncoding;
      return this.encoder.record({
        offset: record.offset, length: record.data.length, encoding,
        preImage: record.preImage, postImage: patchDigest(this.setup.digest, record.data),
        data: encoding === ENCODING.ZERO ? Buffer.alloc(0) : record.block.bytes,
      });
    }
    // bdsync: one record per block piece: blocks of --chunk bytes, each cut in pieces of at most 32 KiB.
    const { blockSize } = this.setup;
    const parts: Buffer[] = [];
    for (let start = 0; start < record.data.length; start += blockSize) {
      const block = record.data.subarray(start, Math.min(record.data.length, start + blockSize));
      for (let piece = 0; piece < block.length; piece += BDSYNC_MAX_PIECE) {
        parts.push(...encodeBdsyncRecord({ offset: record.offset + start + piece, data: block.subarray(piece, Math.min(block.length, piece + BDSYNC_MAX_PIECE)) }));
      }
    }
    return parts;
  }

  private emit(parts: Buffer[]): Promise<void> {
    this.emitting = this.emitting.then(async () => {
      if (this.file) {
        for (const part of parts) {
          for (let done = 0; done < part.length; ) done += (await this.file.write(part, done, part.length - done, this.position + done)).bytesWritten;
          this.position += part.length;
        }
        return;
      }
      let full = false;
      for (const part of parts) full = !this.out?.write(part) || full;
      if (full) await this.drain();
    });
    return this.emitting;
  }

  private drain(): Promise<void> {
    const out = this.out;
    if (!out?.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => { out.off('drain', onDrain); reject(error); };
      const onDrain = () => { out.off('error', onError); resolve(); };
      out.once('drain', onDrain).once('error', onError);
    });
  }
}

// The spool of `basyn patch`: a patch that arrives as a stream (stdin, or through the agent from the
// controller) is first copied to a file in the state folder, so that the whole of it is checked
// before the first write to the target. Created 0600 with O_EXCL; removed when the apply ends.
// Free space is checked before the first byte (against the announced size, when known) and again
// every 16 MiB, so a full disk is a clear one-line refusal, never a patch cut short.
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { basynError } from '../shared/errors';

/** Free space kept on the spool's file system beyond the patch itself. */
const SPOOL_MARGIN = 64 * 1024 * 1024;
const CHECK_EVERY = 16 * 1024 * 1024;

export class Spool {
  private written = 0;
  private checkedAt = 0;

  private constructor(readonly path: string, private readonly dir: string, private readonly handle: fs.FileHandle) {}

  /** `expectedSize`: the patch's size when known (0: unknown, checked as it comes). */
  static async create(dir: string, expectedSize = 0): Promise<Spool> {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await checkSpace(dir, expectedSize, 0);
    const path = join(dir, `spool-${process.pid}-${randomBytes(4).toString('hex')}.patch`);
    const handle = await fs.open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
    return new Spool(path, dir, handle);
  }

  async write(bytes: Buffer): Promise<void> {
    if (this.written - this.checkedAt >= CHECK_EVERY) {
      await checkSpace(this.dir, CHECK_EVERY, this.written);
      this.checkedAt = this.written;
    }
    for (let done = 0; done < bytes.length; ) {
      done += (await this.handle.write(bytes, done, bytes.length - done, this.written + done)).bytesWritten;
    }
    this.written += bytes.length;
  }

  /** The spool is complete: closed, ready to be read. */
  async close(): Promise<void> {
    await this.handle.close();
  }

  /** Removes the spool (after the apply, or when it failed). */
  async discard(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await fs.unlink(this.path).catch(() => undefined);
  }

  /** Copies a whole stream into a new spool in `dir`. */
  static async fromStream(input: AsyncIterable<unknown>, dir: string): Promise<Spool> {
    const spool = await Spool.create(dir);
    try {
      for await (const chunk of input) await spool.write(chunk as Buffer);
      await spool.close();
      return spool;
    } catch (error) {
      await spool.discard();
      throw error;
    }
  }
}

async function checkSpace(dir: string, coming: number, written: number): Promise<void> {
  const stat = await fs.statfs(dir);
  const free = stat.bavail * stat.bsize;
  if (free < coming + SPOOL_MARGIN) {
    throw basynError('PATCH_SPOOL_FULL', dir, free, written, coming, SPOOL_MARGIN);
  }
}

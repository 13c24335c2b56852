// A device: a regular file or a block device, opened read-only (source, recheck) or read-write
// (destination). Block devices report size 0 in stat(), so their size comes from sysfs.
//
// A destination block device is opened exclusively (O_EXCL): Linux then refuses, with EBUSY, a device
// that is mounted, held by LVM or MD, or opened exclusively by another program, and keeps anyone else
// from claiming it while we write. After a write or flush has failed the device takes no more writes
// and never reports a flush as done: Linux reports a failed writeback once, and a second fdatasync
// "succeeds" although the data never reached the disk.
import { promises as fs, constants as fsConstants, readFileSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { AgentError, basynError, deviceReadError, deviceWriteError, devicePathError } from '../shared/errors';

/** Most bytes kept in spare read buffers (about a window of 2 MiB buffers). */
const MAX_SPARE_BYTES = 64 * 1024 * 1024;

export class Device {
  private constructor(
    readonly path: string,
    private readonly handle: fs.FileHandle,
    readonly size: number,
    readonly writable: boolean,
  ) {}

  /** The first failed write or flush: every later write or flush fails with it. */
  private failure?: AgentError;

  static async open(path: string, writable: boolean): Promise<Device> {
    // A block device to write to is opened with O_EXCL (see the header); a path that turns into one
    // between the stat and the open is reopened below.
    const exclusive = writable && (await fs.stat(path).then((stat) => stat.isBlockDevice(), () => false));
    let handle = await openDevice(path, writable, exclusive);
    try {
      let stat = await handle.stat();
      if (writable && stat.isBlockDevice() && !exclusive) {
        await handle.close();
        handle = await openDevice(path, writable, true);
        stat = await handle.stat();
      }
      return new Device(path, handle, await deviceSize(path, stat, handle), writable);
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * A missing TARGET image file is created as iblocksync does: 0600, O_EXCL (never over a file that
   * appeared meanwhile), sparse at `size` bytes, and durable (file and directory entry fsynced)
   * before the sync writes into it. A missing path under /dev is an error: a device is never made up.
   * An existing path is left to open() as it is.
   */
  static async createMissing(path: string, size: number): Promise<void> {
    if (await fs.lstat(path).then(() => true, (error: NodeJS.ErrnoException) => error.code !== 'ENOENT')) return;
    const absolute = resolve(path);
    if (absolute === '/dev' || absolute.startsWith('/dev/')) {
      throw devicePathError(path, 'DEVICE_NOT_CREATED');
    }
    const handle = await fs.open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
    try {
      await handle.truncate(size);
      await handle.sync();
    } finally {
      await handle.close();
    }
    const directory = await fs.open(dirname(absolute), fsConstants.O_RDONLY);
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }

  /**
   * Spare buffers for readInto(): a fresh 2 MiB allocation per read costs page faults, every time. They
   * are shared memory, so that a hashing thread (hash-pool.ts) reads them where they are.
   */
  private readonly spare: Buffer[] = [];

  /** Reads exactly `length` bytes at `offset` (the caller keeps within the device). */
  async read(offset: number, length: number): Promise<Buffer> {
    return this.fill(Buffer.allocUnsafe(length), offset);
  }

  /**
   * Reads into a recycled buffer and hands it to `use`, which must not keep it: the buffer goes
   * back to the pool once `use` has returned (or its promise has settled).
   */
  async readInto<T>(offset: number, length: number, use: (data: Buffer) => T | Promise<T>): Promise<T> {
    const lease = await this.readLeased(offset, length);
    try {
      return await use(lease.data);
    } finally {
      lease.release();
    }
  }

  /**
   * Reads into a recycled buffer that the caller gives back with release() once nothing uses it any
   * more (a READ's block: once its frame has been written to the output).
   */
  async readLeased(offset: number, length: number): Promise<{ data: Buffer; release(): void }> {
    const index = this.spare.findIndex((spare) => spare.length >= length);
    const buffer = index >= 0 ? this.spare.splice(index, 1)[0] : Buffer.from(new SharedArrayBuffer(length));
    const release = (): void => {
      const kept = this.spare.reduce((sum, spare) => sum + spare.length, 0);
      if (kept + buffer.length <= MAX_SPARE_BYTES) this.spare.push(buffer);
    };
    try {
      return { data: await this.fill(buffer.subarray(0, length), offset), release };
    } catch (error) {
      release();
      throw error;
    }
  }

  private async fill(buffer: Buffer, offset: number): Promise<Buffer> {
    const length = buffer.length;
    let done = 0;
    while (done < length) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await this.handle.read(buffer, done, length - done, offset + done));
      } catch (error) {
        // The range, so that a failing disk can be located (and the user knows nothing beyond it was read).
        throw deviceReadError(this.path, offset + done, length - done, error);
      }
      if (bytesRead === 0) throw basynError('AGENT_END_OF_DEVICE', offset + done);
      done += bytesRead;
    }
    return buffer;
  }

  /** Throws the failure of an earlier write or flush, if there was one. */
  checkWritable(): void {
    if (this.failure) throw this.failure;
  }

  /** Writes `data` (one buffer, or pieces written one after the other with writev) at `offset`. */
  async write(offset: number, data: Buffer | readonly Buffer[]): Promise<void> {
    this.checkWritable();
    let pieces = Buffer.isBuffer(data) ? [data] : data.filter((piece) => piece.length > 0);
    const length = pieces.reduce((sum, piece) => sum + piece.length, 0);
    try {
      let done = 0;
      while (pieces.length > 0) {
        const { bytesWritten } = pieces.length === 1
          ? await this.handle.write(pieces[0], 0, pieces[0].length, offset + done)
          : await this.handle.writev(pieces.slice(0, MAX_IOVECS), offset + done);
        done += bytesWritten;
        pieces = afterWritten(pieces, bytesWritten);
      }
    } catch (error) {
      throw this.failed(error, `Write of ${length} bytes at offset ${offset} of ${this.path}`);
    }
  }

  /** The flush in progress: flushes run one after another (see flush()). */
  private flushing: Promise<void> = Promise.resolve();

  /**
   * Makes every completed write durable. Flushes are serialized, and a flush reports success only if
   * no write or flush failed before it ended: Linux reports a failed writeback to one fdatasync only,
   * so of two flushes in flight at once (a bitmap commit's and a resume checkpoint's) the second
   * would "succeed" over lost data.
   */
  flush(): Promise<void> {
    const run = this.flushing.catch(() => undefined).then(async () => {
      this.checkWritable();
      try {
        await this.handle.datasync();
      } catch (error) {
        throw this.failed(error, `Flush of ${this.path}`);
      }
      this.checkWritable(); // a write that failed while this flush ran
    });
    this.flushing = run;
    return run;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  /** Records the first failure (later writes and flushes fail with it) and returns it. */
  private failed(error: unknown, what: string): AgentError {
    this.failure ??= deviceWriteError(what, error);
    return this.failure;
  }
}

/** Buffers per writev call (Linux's IOV_MAX is 1024). */
const MAX_IOVECS = 1024;

/** What is left of `pieces` once their first `written` bytes are on the device (a short write). */
function afterWritten(pieces: readonly Buffer[], written: number): Buffer[] {
  const rest: Buffer[] = [];
  let skip = written;
  for (const piece of pieces) {
    if (skip >= piece.length) skip -= piece.length;
    else {
      rest.push(skip > 0 ? piece.subarray(skip) : piece);
      skip = 0;
    }
  }
  return rest;
}

async function openDevice(path: string, writable: boolean, exclusive: boolean): Promise<fs.FileHandle> {
  // O_RDONLY for sources: a source is never opened in a way that could change it.
  // O_NONBLOCK: opening a FIFO would otherwise wait forever for a writer (and keep the agent alive
  // after the controller is gone); it is refused below. It changes nothing for files and block devices.
  const flags = (writable ? fsConstants.O_RDWR : fsConstants.O_RDONLY) | fsConstants.O_NONBLOCK | (exclusive ? fsConstants.O_EXCL : 0);
  return fs.open(path, flags);
}

async function deviceSize(path: string, stat: Stats, handle: fs.FileHandle): Promise<number> {
  if (stat.isDirectory()) throw devicePathError(path, 'DEVICE_IS_DIRECTORY');
  if (stat.isFIFO()) throw devicePathError(path, 'DEVICE_IS_FIFO');
  // /dev/null, /dev/zero, a tty: no size, nothing to keep in sync.
  if (stat.isCharacterDevice()) throw devicePathError(path, 'DEVICE_IS_CHARACTER_DEVICE');
  return stat.isBlockDevice() ? blockDeviceSize(stat.rdev, handle) : stat.size;
}

async function blockDeviceSize(rdev: number, handle: fs.FileHandle): Promise<number> {
  const major = (rdev >> 8) & 0xfff;
  const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
  try {
    const sectors = Number(readFileSync(`/sys/dev/block/${major}:${minor}/size`, 'utf8').trim());
    if (Number.isFinite(sectors)) return sectors * 512;
  } catch {
    // no sysfs (not Linux, or a container without it): probe below
  }
  return probeSize(handle);
}

/** Finds the size by binary search for the last readable byte. */
async function probeSize(handle: fs.FileHandle): Promise<number> {
  const probe = Buffer.alloc(1);
  const readable = async (offset: number) => (await handle.read(probe, 0, 1, offset)).bytesRead === 1;
  let low = 0;
  let high = 1;
  while (await readable(high - 1)) high *= 2;
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    if (await readable(middle)) low = middle + 1;
    else high = middle;
  }
  return low;
}

// The one way basyn creates, reads or replaces a file of its own (the bitmap, --changes output, lock
// side files, resume checkpoints, and later patches and journals). The rules, in one place:
//
//   - The path is resolved ONCE (symlinks followed, like realpath; a missing last component is
//     allowed): the lock, the read, the temp file and the rename all act on that real path, so a
//     symlink swapped in between cannot redirect a write.
//   - An existing file is read or replaced only if it is a regular file, and replaced only if the
//     caller's `isOurs` check says basyn wrote it (e.g. the bitmap's magic). A regular file of another
//     kind, a block or character device, a FIFO, a socket or a directory is refused with a
//     UsageError (exit 1) and left byte for byte as it was. Nothing here ever opens it for writing.
//   - New files (temp files, locks) are created with O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600: never
//     through a symlink, never over an existing file.
//   - A replacement is written to a temp file beside the target, fsynced, renamed over the target,
//     and the directory is fsynced: after a crash the old or the new file is there, whole.
//
// Typical use (see bitmap-store.ts, session-checks.ts):
//
//   const path = await resolveStatePath(options.bitmap, BITMAP_FILE);   // once, before the lock
//   const bytes = await readStateFile(path, BITMAP_FILE);               // undefined: no file yet
//   await replaceStateFile(path, newBytes, BITMAP_FILE);                 // refuses what is not ours
import { randomBytes } from 'node:crypto';
import { constants, promises as fs, type Stats } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { StateFileError, basynError, systemErrorText } from '../shared/errors';

/** What kind of file a caller owns: how to name it in messages and how to recognize one basyn wrote. */
export interface StateFileKind {
  /** Names the file in messages: "Bitmap", "Changes file", "Checkpoint". */
  readonly what: string;
  /**
   * True when `head` (the first `probeBytes` bytes of an existing regular file, or all of it) shows a
   * file basyn wrote, which may therefore be replaced. Anything else is refused.
   */
  isOurs(head: Buffer, size: number): boolean;
  /** How many leading bytes isOurs needs (default 64 KiB; Infinity: the whole file). */
  readonly probeBytes?: number;
  /** Appended to a refusal: what the user can do (default: choose another file name). */
  readonly hint?: string;
}

const OPEN_READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const OPEN_CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const MAX_SYMLINKS = 40;

/** An error of this module (errors.ts): exit 1, nothing written. */
export { StateFileError };

function typeName(stat: Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isSymbolicLink()) return 'a symbolic link';
  return 'a regular file';
}

function refuse(kind: StateFileKind, path: string, why: string): StateFileError {
  return basynError('STATE_FILE_REFUSED', kind.what, path, why, kind.hint ?? 'choose another file name');
}

/**
 * The real path of a state file, resolved once: every symlink followed (a dangling one to the file it
 * would create), the directory made absolute. Throws a StateFileError when the directory is missing.
 */
export async function resolveStatePath(path: string, kind: Pick<StateFileKind, 'what'>): Promise<string> {
  let current = resolve(path);
  for (let hops = 0; hops <= MAX_SYMLINKS; hops++) {
    let stat: Stats;
    try {
      stat = await fs.lstat(current);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw basynError('STATE_FILE_UNREADABLE', kind.what, path, systemErrorText(error));
      // Not there (yet): the real directory, plus the name.
      try {
        return join(await fs.realpath(dirname(current)), basename(current));
      } catch (dirError) {
        throw basynError('STATE_FILE_NO_DIRECTORY', kind.what, path, dirname(current), systemErrorText(dirError));
      }
    }
    if (!stat.isSymbolicLink()) return join(await fs.realpath(dirname(current)), basename(current));
    const target = await fs.readlink(current);
    current = isAbsolute(target) ? target : resolve(dirname(current), target);
  }
  throw basynError('STATE_FILE_SYMLINK_LOOP', kind.what, path);
}

/**
 * Reads a whole state file at a resolved path; undefined when there is none. Refuses (StateFileError)
 * anything but a regular file, without blocking on a FIFO and without reading a device.
 */
export async function readStateFile(path: string, kind: StateFileKind): Promise<Buffer | undefined> {
  const handle = await openForRead(path, kind);
  if (!handle) return undefined;
  try {
    return await handle.readFile();
  } catch (error) {
    throw basynError('STATE_FILE_UNREADABLE', kind.what, path, systemErrorText(error));
  } finally {
    await handle.close();
  }
}

/**
 * Checks that `path` (resolved) may be replaced: it does not exist, or it is a regular file that
 * `kind.isOurs` recognizes. Throws a StateFileError otherwise. Returns whether a file is there.
 */
export async function checkReplaceable(path: string, kind: StateFileKind): Promise<'missing' | 'ours'> {
  const handle = await openForRead(path, kind);
  if (!handle) return 'missing';
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, kind.probeBytes ?? 64 * 1024);
    const head = Buffer.alloc(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await handle.read(head, filled, length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    if (!kind.isOurs(head.subarray(0, filled), size)) throw refuse(kind, path, `exists and is not a file basyn wrote (${size} bytes)`);
    return 'ours';
  } finally {
    await handle.close();
  }
}

/**
 * Creates `path` with `content`, exclusively (O_EXCL|O_NOFOLLOW, 0600) and fsynced. Returns false if
 * anything (a file, a symlink, a dangling symlink) is already there; other errors are thrown as is.
 */
export async function createExclusive(path: string, content: string | Uint8Array): Promise<boolean> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, OPEN_CREATE, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(content);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.unlink(path).catch(() => undefined);
    throw error;
  }
  await handle.close();
  return true;
}

/**
 * Replaces (or creates) the state file at a resolved path with `content`: a temp file beside it
 * (O_EXCL|O_NOFOLLOW, 0600), fsynced, checked again with checkReplaceable just before the rename,
 * renamed over it, the directory fsynced. A refusal throws StateFileError and writes nothing;
 * I/O errors are thrown as they come (the caller knows which exit code they mean).
 */
export async function replaceStateFile(path: string, content: string | Uint8Array, kind: StateFileKind): Promise<void> {
  await checkReplaceable(path, kind);
  await removeStaleTemporaries(path, kind);
  const temporary = await createTemporary(path, content);
  try {
    await checkReplaceable(path, kind); // again: the window left is the rename itself
    await fs.rename(temporary, path);
  } catch (error) {
    await fs.unlink(temporary).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dirname(path));
}

/**
 * Removes the state file at a resolved path once it has served (a checkpoint after a successful run):
 * only if it is a regular file `kind.isOurs` recognizes (anything else is refused, StateFileError, and
 * left as it is); a missing file is fine. The directory is fsynced so the removal is durable.
 */
export async function removeStateFile(path: string, kind: StateFileKind): Promise<void> {
  if ((await checkReplaceable(path, kind)) === 'missing') return;
  try {
    await fs.unlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  await syncDirectory(dirname(path));
}

/**
 * Opens an existing state file (resolved path) for in-place updates: O_RDWR|O_NOFOLLOW, and refused
 * unless it is a regular file.
 */
export async function openForUpdate(path: string, kind: StateFileKind): Promise<fs.FileHandle> {
  await assertRegularOrMissing(path, kind);
  const handle = await fs.open(path, constants.O_RDWR | constants.O_NOFOLLOW);
  const stat = await handle.stat();
  if (!stat.isFile()) {
    await handle.close();
    throw refuse(kind, path, `is ${typeName(stat)}`);
  }
  return handle;
}

/** fsync of a directory: makes a rename or a new name in it durable. */
export async function syncDirectory(directory: string): Promise<void> {
  const handle = await fs.open(directory, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A place a state file must not be: a device of the run, or another state file. */
export interface ForbiddenPlace {
  /** How to name it: "the local device", "the bitmap". */
  readonly label: string;
  readonly path: string;
  /** On another machine: compared by path, as written. Otherwise by device and inode. */
  readonly remote?: boolean;
}

/**
 * Refuses (StateFileError) a state file that names one of `places`: the same file (st_dev and st_ino,
 * symlinks followed) for a place on this machine, the same path for a remote one.
 */
export async function assertNotSameFile(path: string, kind: Pick<StateFileKind, 'what'>, places: readonly ForbiddenPlace[]): Promise<void> {
  const mine = await fs.stat(path, { bigint: true }).catch(() => undefined);
  for (const place of places) {
    let same: boolean;
    if (place.remote) {
      same = resolve(place.path) === resolve(path);
    } else {
      const other = await fs.stat(place.path, { bigint: true }).catch(() => undefined);
      same = resolve(place.path) === resolve(path) || (mine !== undefined && other !== undefined && mine.dev === other.dev && mine.ino === other.ino);
    }
    if (same) throw basynError('STATE_FILE_IS_DEVICE', kind.what, path, place.label, place.path);
  }
}

/** Refuses what is there unless it is a regular file; false when nothing is there. */
async function assertRegularOrMissing(path: string, kind: StateFileKind): Promise<boolean> {
  try {
    const stat = await fs.lstat(path);
    if (!stat.isFile()) throw refuse(kind, path, `is ${typeName(stat)}`);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    if (error instanceof StateFileError) throw error;
    throw basynError('STATE_FILE_UNREADABLE', kind.what, path, systemErrorText(error));
  }
}

/**
 * Opens an existing regular file read-only; undefined if missing. A device or FIFO is refused after
 * lstat, before any open; O_NOFOLLOW|O_NONBLOCK and fstat cover a swap in between.
 */
async function openForRead(path: string, kind: StateFileKind): Promise<fs.FileHandle | undefined> {
  if (!(await assertRegularOrMissing(path, kind))) return undefined;
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, OPEN_READ);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw refuse(kind, path, 'is a symbolic link (it changed after it was resolved)');
    throw basynError('STATE_FILE_UNREADABLE', kind.what, path, systemErrorText(error));
  }
  const stat = await handle.stat();
  if (!stat.isFile()) {
    await handle.close();
    throw refuse(kind, path, `is ${typeName(stat)}`);
  }
  return handle;
}

/** A temp file this old whose writer is gone was left by a kill: a live write lasts seconds. */
const STALE_TEMPORARY_MS = 10 * 60_000;

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Temp files a killed writer left beside `path` (createTemporary's names; a kill between their creation
 * and the rename leaves one): removed when their process is gone, they are over 10 minutes old, and
 * they hold what `kind` writes. Best effort: anything else, or any error, leaves them as they are.
 */
async function removeStaleTemporaries(path: string, kind: StateFileKind): Promise<void> {
  const prefix = `.${basename(path)}.`;
  const names = await fs.readdir(dirname(path)).catch(() => [] as string[]);
  for (const name of names) {
    const pid = /^(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name.startsWith(prefix) ? name.slice(prefix.length) : '')?.[1];
    if (!pid || !processGone(Number(pid))) continue;
    const file = join(dirname(path), name);
    try {
      const stat = await fs.lstat(file);
      if (!stat.isFile() || stat.uid !== process.getuid?.() || Date.now() - stat.mtimeMs < STALE_TEMPORARY_MS) continue;
      await checkReplaceable(file, kind);
      await fs.unlink(file);
    } catch {
      // not ours after all, or gone meanwhile: left alone
    }
  }
}

/** A new temp file beside `path`, written and fsynced; a fresh random name on each try. */
async function createTemporary(path: string, content: string | Uint8Array): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    if (await createExclusive(temporary, content)) return temporary;
    if (attempt >= 5) throw basynError('STATE_FILE_NO_TEMPORARY', path);
  }
}

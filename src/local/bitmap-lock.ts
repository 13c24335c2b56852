// `BITMAP.lock`: one run at a time per bitmap file (bitmap-format.md §4.2 step 1). The lock file holds
// `pid host start-time`; it is created complete and atomically (written aside, then hard-linked into
// place, which fails if it exists). A lock left by a dead process of this host is taken over; a lock of
// another host never is. Every file here is created with O_EXCL|O_NOFOLLOW (state-file.ts) and read
// without following a symlink: a symlink planted at the lock's name is refused, never written through.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, readFileSync, unlinkSync, promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { BitmapError, describeSystemError } from '../shared/errors';
import { createExclusive } from './state-file';

const OPEN_READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
/** A lock basyn wrote is one short line; anything larger is some other file, never read whole. */
const MAX_LOCK_BYTES = 4096;

interface LockOwner {
  readonly pid: number;
  readonly host: string;
  /** Process start time from /proc/PID/stat (clock ticks since boot), '' when unknown. */
  readonly started: string;
}

/** Field 22 of /proc/PID/stat: tells a live owner from an unrelated process that reused its pid. */
function processStartTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

function parseOwner(text: string): LockOwner | undefined {
  const [pid, host, started] = text.trim().split(/\s+/);
  if (!/^\d+$/.test(pid ?? '')) return undefined;
  return { pid: Number(pid), host: host ?? '', started: started ?? '' };
}

function isAlive(owner: LockOwner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const started = processStartTime(owner.pid);
  return !(owner.started && started && started !== owner.started);
}

/** The lock's text, read without following a symlink; a FIFO or device there is refused, unread. */
async function readLockText(path: string): Promise<string> {
  const handle = await fs.open(path, OPEN_READ);
  try {
    const stat = await handle.stat();
    if (!stat.isFile() || stat.size > MAX_LOCK_BYTES) throw Object.assign(new Error('not a lock file'), { code: 'ENOTREG' });
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

function readLockTextSync(path: string): string {
  const fd = openSync(path, OPEN_READ);
  try {
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

async function readOwner(path: string): Promise<{ text: string; owner?: LockOwner } | undefined> {
  try {
    const text = await readLockText(path);
    return { text, owner: parseOwner(text) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP' || code === 'ENOTREG') {
      throw new BitmapError(`Bitmap lock file ${path} is not a lock basyn wrote (${code === 'ELOOP' ? 'a symbolic link' : 'not a regular file'}); remove it if no basyn run uses the bitmap`, 'EBITMAPLOCK');
    }
    throw error;
  }
}

export class BitmapLock {
  private held = true;
  private readonly onExit = () => this.releaseSync();

  private constructor(readonly path: string, private readonly content: string) {
    process.on('exit', this.onExit);
  }

  /** Takes `bitmapPath.lock`, or throws a BitmapError (exit 1) naming the run that holds it. */
  static async acquire(bitmapPath: string): Promise<BitmapLock> {
    const path = `${bitmapPath}.lock`;
    const me: LockOwner = { pid: process.pid, host: hostname(), started: processStartTime(process.pid) };
    const content = `${me.pid} ${me.host} ${me.started}\n`;
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        if (await BitmapLock.create(path, content)) return new BitmapLock(path, content);
        const found = await readOwner(path);
        if (!found) continue; // released meanwhile
        const { owner } = found;
        // Only a lock basyn wrote (or an empty one a crash cut short) may be judged stale and removed:
        // any other file at that name, e.g. a device image called BITMAP.lock, is left alone.
        if (!owner && found.text.trim() !== '') {
          throw new BitmapError(`Bitmap lock file ${path} is not a lock basyn wrote; move it away if no basyn run uses the bitmap`, 'EBITMAPLOCK');
        }
        if (owner && owner.host !== me.host) {
          throw new BitmapError(
            `Bitmap ${bitmapPath} is in use by basyn pid ${owner.pid} on host ${owner.host} (lock ${path}); if no basyn runs there any more, delete the lock file`,
            'EBITMAPLOCK',
          );
        }
        if (owner && isAlive(owner)) {
          throw new BitmapError(
            `Bitmap ${bitmapPath} is in use by another basyn run (pid ${owner.pid}); wait for it to end (lock file ${path})`,
            'EBITMAPLOCK',
          );
        }
        await BitmapLock.removeStale(path, found.text);
      }
    } catch (error) {
      if (error instanceof BitmapError) throw error;
      throw new BitmapError(describeSystemError(error, `Bitmap lock file ${path}`), 'EBITMAPLOCK');
    }
    throw new BitmapError(`Bitmap ${bitmapPath}: could not take the lock file ${path}; delete it if no basyn run uses the bitmap`, 'EBITMAPLOCK');
  }

  /** Creates the lock complete in one step: written aside, hard-linked into place (fails if it exists). */
  private static async create(path: string, content: string): Promise<boolean> {
    const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    if (!(await createExclusive(aside, content))) throw new Error(`${aside} exists`);
    try {
      await fs.link(aside, path);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw error;
      // No hard links on this file system: exclusive create (the content follows an instant later).
      return await createExclusive(path, content);
    } finally {
      await fs.unlink(aside).catch(() => undefined);
    }
  }

  /**
   * Removes a stale lock without removing a fresh one another run made meanwhile: the lock is renamed
   * aside (atomic), and put back if what was taken is not the stale content that was judged.
   */
  private static async removeStale(path: string, staleText: string): Promise<void> {
    const aside = `${path}.stale.${process.pid}`;
    try {
      await fs.rename(path, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const taken = await readLockText(aside).catch(() => '');
    if (taken !== staleText) await fs.link(aside, path).catch(() => undefined);
    await fs.unlink(aside).catch(() => undefined);
  }

  async release(): Promise<void> {
    if (!this.held) return;
    this.held = false;
    process.off('exit', this.onExit);
    const found = await readOwner(this.path).catch(() => undefined);
    if (found?.text === this.content) await fs.unlink(this.path).catch(() => undefined);
  }

  private releaseSync(): void {
    if (!this.held) return;
    this.held = false;
    try {
      if (readLockTextSync(this.path) === this.content) unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

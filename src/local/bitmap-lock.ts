// `BITMAP.lock`: one run at a time per bitmap file (bitmap-format.md §4.2 step 1). The lock file holds
// `pid host start-time`; it is created complete and atomically (written aside, then hard-linked into
// place, which fails if it exists). A lock left by a dead process of this host is taken over; a lock of
// another host never is.
import { readFileSync, unlinkSync, promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { BitmapError, describeSystemError } from '../shared/errors';

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

async function readOwner(path: string): Promise<{ text: string; owner?: LockOwner } | undefined> {
  try {
    const text = await fs.readFile(path, 'utf8');
    return { text, owner: parseOwner(text) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
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
    const aside = `${path}.${process.pid}.tmp`;
    await fs.writeFile(aside, content, { mode: 0o600 });
    try {
      await fs.link(aside, path);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw error;
      // No hard links on this file system: exclusive create (the content follows an instant later).
      try {
        await fs.writeFile(path, content, { flag: 'wx', mode: 0o600 });
        return true;
      } catch (createError) {
        if ((createError as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw createError;
      }
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
    const taken = await fs.readFile(aside, 'utf8').catch(() => '');
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
      if (readFileSync(this.path, 'utf8') === this.content) unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

// A lock file: one holder at a time, never waiting (the caller decides what a refusal means). The file
// holds `pid host start-time`; it is created complete and atomically (written aside, then hard-linked
// into place, which fails if it exists). A lock left by a dead process of this host is taken over, and
// the caller is told whose it was (a killed run may have left things to clean up); a lock of another
// host never is. Every file here is created with O_EXCL|O_NOFOLLOW (state-file.ts) and read without
// following a symlink: a symlink planted at the lock's name is refused, never written through.
// Used by the bitmap lock (bitmap-lock.ts), the task lock and the loop-device records (resources/).
import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, readFileSync, unlinkSync, promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { createExclusive } from './state-file';

const OPEN_READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
/** A lock basyn wrote is one short line; anything larger is some other file, never read whole. */
const MAX_LOCK_BYTES = 4096;

export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  /** Process start time from /proc/PID/stat (clock ticks since boot), '' when unknown. */
  readonly started: string;
}

/** Why a lock was not taken; the caller turns it into its own error (and message). */
export type LockRefusal =
  | { readonly kind: 'alive'; readonly owner: LockOwner }
  | { readonly kind: 'other-host'; readonly owner: LockOwner }
  /** A file at the lock's name that basyn did not write (or a symlink, FIFO, device). */
  | { readonly kind: 'not-a-lock'; readonly detail: string }
  /** The file system refused (EACCES, ENOSPC, ...), or the lock kept changing under us. */
  | { readonly kind: 'failed'; readonly error?: unknown };

/** Field 22 of /proc/PID/stat: tells a live owner from an unrelated process that reused its pid. */
export function processStartTime(pid: number): string {
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

/** Whether the process `owner` names still runs: its pid is alive and was started when it said (not a reused pid). */
export function isProcessAlive(owner: { readonly pid: number; readonly started: string }): boolean {
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
    if (!stat.isFile() || stat.size > MAX_LOCK_BYTES) throw new LockRefused({ kind: 'not-a-lock', detail: 'not a regular file' });
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
    if (code === 'ELOOP') throw new LockRefused({ kind: 'not-a-lock', detail: 'a symbolic link' });
    throw error;
  }
}

/** A lock refused for a reason of this module (not a system error): the caller's `refuse` words it. */
class LockRefused extends Error {
  constructor(readonly refusal: LockRefusal) {
    super(refusal.kind);
  }
}

export class LockFile {
  private held = true;
  private readonly onExit = () => this.releaseSync();

  private constructor(
    readonly path: string,
    private readonly content: string,
    /** The dead run whose lock this one took over, if any: it may have left things behind. */
    readonly tookOverFrom?: LockOwner,
  ) {
    process.on('exit', this.onExit);
  }

  /** Takes the lock at `path` now, or throws what `refuse` makes of the reason. */
  static async acquire(path: string, refuse: (refusal: LockRefusal) => Error): Promise<LockFile> {
    const me: LockOwner = { pid: process.pid, host: hostname(), started: processStartTime(process.pid) };
    const content = `${me.pid} ${me.host} ${me.started}\n`;
    let stale: LockOwner | undefined;
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        if (await LockFile.create(path, content)) return new LockFile(path, content, stale);
        const found = await readOwner(path);
        if (!found) continue; // released meanwhile
        const { owner } = found;
        // Only a lock basyn wrote (or an empty one a crash cut short) may be judged stale and removed:
        // any other file at that name, e.g. a device image called BITMAP.lock, is left alone.
        if (!owner && found.text.trim() !== '') throw new LockRefused({ kind: 'not-a-lock', detail: 'not a lock basyn wrote' });
        if (owner && owner.host !== me.host) throw new LockRefused({ kind: 'other-host', owner });
        if (owner && isProcessAlive(owner)) throw new LockRefused({ kind: 'alive', owner });
        stale = owner ?? stale;
        await LockFile.removeStale(path, found.text);
      }
    } catch (error) {
      throw refuse(error instanceof LockRefused ? error.refusal : { kind: 'failed', error });
    }
    throw refuse({ kind: 'failed' });
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

  /**
   * Stops holding the lock but leaves its file in place: a later run finds it stale (this process
   * gone) and is told, through `tookOverFrom`, that something of this run may be left to clean up.
   */
  keep(): void {
    this.held = false;
    process.off('exit', this.onExit);
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

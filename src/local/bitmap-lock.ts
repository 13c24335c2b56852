// `BITMAP.lock`: one run at a time per bitmap file (bitmap-format.md §4.2 step 1), a lock-file.ts lock
// whose refusals are bitmap errors (exit 1): another run holds it, another host does, or a file at that
// name is not a lock basyn wrote (it is never judged stale and removed).
import { BitmapError, basynError, systemErrorText } from '../shared/errors';
import { LockFile, type LockRefusal } from './lock-file';

export class BitmapLock {
  private constructor(private readonly lock: LockFile) {}

  get path(): string {
    return this.lock.path;
  }

  /** Takes `bitmapPath.lock`, or throws a BitmapError (exit 1) naming the run that holds it. */
  static async acquire(bitmapPath: string): Promise<BitmapLock> {
    const path = `${bitmapPath}.lock`;
    const refuse = (refusal: LockRefusal): BitmapError => {
      switch (refusal.kind) {
        case 'alive':
          return basynError('BITMAP_IN_USE', bitmapPath, refusal.owner.pid, path);
        case 'other-host':
          return basynError('BITMAP_IN_USE_ELSEWHERE', bitmapPath, refusal.owner.pid, refusal.owner.host, path);
        case 'not-a-lock':
          return refusal.detail === 'not a lock basyn wrote' ? basynError('BITMAP_LOCK_NOT_OURS', path) : basynError('BITMAP_LOCK_NOT_A_FILE', path, refusal.detail);
        case 'failed':
          return refusal.error instanceof BitmapError ? refusal.error
            : refusal.error !== undefined ? basynError('BITMAP_LOCK_UNREADABLE', path, systemErrorText(refusal.error))
              : basynError('BITMAP_LOCK_FAILED', bitmapPath, path);
      }
    };
    return new BitmapLock(await LockFile.acquire(path, refuse));
  }

  release(): Promise<void> {
    return this.lock.release();
  }
}

// `BITMAP.lock`: one run at a time per bitmap file (bitmap-format.md §4.2 step 1), a lock-file.ts lock
// whose refusals are bitmap errors (exit 1): another run holds it, another host does, or a file at that
// name is not a lock basyn wrote (it is never judged stale and removed).
import { BitmapError, describeSystemError } from '../shared/errors';
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
          return new BitmapError(`Bitmap ${bitmapPath} is in use by another basyn run (pid ${refusal.owner.pid}); wait for it to end (lock file ${path})`, 'EBITMAPLOCK');
        case 'other-host':
          return new BitmapError(
            `Bitmap ${bitmapPath} is in use by basyn pid ${refusal.owner.pid} on host ${refusal.owner.host} (lock ${path}); if no basyn runs there any more, delete the lock file`,
            'EBITMAPLOCK',
          );
        case 'not-a-lock':
          return refusal.detail === 'not a lock basyn wrote'
            ? new BitmapError(`Bitmap lock file ${path} is not a lock basyn wrote; move it away if no basyn run uses the bitmap`, 'EBITMAPLOCK')
            : new BitmapError(`Bitmap lock file ${path} is not a lock basyn wrote (${refusal.detail}); remove it if no basyn run uses the bitmap`, 'EBITMAPLOCK');
        case 'failed':
          return refusal.error instanceof BitmapError ? refusal.error
            : refusal.error !== undefined ? new BitmapError(describeSystemError(refusal.error, `Bitmap lock file ${path}`), 'EBITMAPLOCK')
              : new BitmapError(`Bitmap ${bitmapPath}: could not take the lock file ${path}; delete it if no basyn run uses the bitmap`, 'EBITMAPLOCK');
      }
    };
    return new BitmapLock(await LockFile.acquire(path, refuse));
  }

  release(): Promise<void> {
    return this.lock.release();
  }
}

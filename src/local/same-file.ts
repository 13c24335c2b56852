// Are two local paths one device? Compared after following symlinks: by device and inode for files,
// by device number for block devices (two nodes in /dev can name one disk).
import { statSync } from 'node:fs';

/** True when both paths exist and name the same file or block device; false when either is missing. */
export function sameFile(a: string, b: string): boolean {
  try {
    const [first, second] = [statSync(a, { bigint: true }), statSync(b, { bigint: true })];
    if (first.isBlockDevice() && second.isBlockDevice()) return first.rdev === second.rdev;
    return first.dev === second.dev && first.ino === second.ino;
  } catch {
    return false; // a missing or unreadable device is reported when it is opened
  }
}

#!/usr/bin/python3
"""A FUSE passthrough file system whose fsync/fdatasync is slow, for tests of what happens during a
destination's final flush: usage  slow-fsync-fs.py BACKING_DIR MOUNTPOINT SECONDS MARKER_FILE
Every fsync first creates MARKER_FILE (so a test knows the flush has started), then sleeps SECONDS,
then syncs the backing file. Runs in the foreground until unmounted (fusermount -u MOUNTPOINT)."""
import os
import sys
import time

from fusepy import FUSE, FuseOSError, Operations


class SlowFsync(Operations):
    def __init__(self, root, seconds, marker):
        self.root = root
        self.seconds = seconds
        self.marker = marker

    def _path(self, path):
        return os.path.join(self.root, path.lstrip('/'))

    def getattr(self, path, fh=None):
        try:
            st = os.lstat(self._path(path))
        except OSError as error:
            raise FuseOSError(error.errno)
        return {key: getattr(st, key) for key in (
            'st_atime', 'st_ctime', 'st_gid', 'st_mode', 'st_mtime', 'st_nlink', 'st_size', 'st_uid', 'st_blocks')}

    def readdir(self, path, fh):
        return ['.', '..'] + os.listdir(self._path(path))

    def open(self, path, flags):
        return os.open(self._path(path), flags)

    def create(self, path, mode, fi=None):
        return os.open(self._path(path), os.O_WRONLY | os.O_CREAT, mode)

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        return os.pwrite(fh, data, offset)

    def truncate(self, path, length, fh=None):
        os.truncate(self._path(path), length)

    def flush(self, path, fh):
        return 0

    def fsync(self, path, datasync, fh):
        with open(self.marker, 'a'):
            pass
        time.sleep(self.seconds)
        os.fsync(fh)
        return 0

    def release(self, path, fh):
        os.close(fh)
        return 0


if __name__ == '__main__':
    backing, mountpoint, seconds, marker = sys.argv[1:5]
    FUSE(SlowFsync(backing, float(seconds), marker), mountpoint, foreground=True, nothreads=False)

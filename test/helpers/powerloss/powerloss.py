#!/usr/bin/python3
"""A FUSE file system that loses power, in the manner of LazyFS (see README.md beside this file).

    /usr/bin/python3 powerloss.py BACKING MOUNTPOINT [--writeback P] [--seed N] [--fsync-delay MS]

Memory is the page cache, BACKING is the disk. Every write goes to memory; nothing reaches BACKING
until it is made durable:

  file data and size   by fsync or fdatasync of that file
  names                (create, mkdir, symlink, link, rename, unlink, rmdir) by fsync of the directory
                       that holds them (both directories for a rename across directories)
  mode and owner       with the name that makes the file reachable, or by a later fsync of the file

A power cut is SIGKILL of this process: memory is gone, BACKING is what the next mount finds. With
--writeback P, each write also copies, with probability P, one random cached page of a random file to
BACKING, as the kernel's background writeback would (so unsynced data may survive a cut, in any order).
With --fsync-delay MS, every fsync, fdatasync and directory fsync takes MS milliseconds more, as a disk's
flush does: the steps of a program that syncs between them get wider, so a kill lands between them more often.

Control file /.powerloss (not listed; write one command per line, read it for counters as JSON):
  sync                          make everything durable (like sync(2))
  fail-read PATH OFFSET LENGTH  reads of PATH overlapping [OFFSET, OFFSET + LENGTH) fail with EIO
  clear-faults                  no more injected failures

BACKING layout: meta.json (the durable names and inode attributes, replaced atomically) and
data/INO (one file per inode holding its durable bytes).
"""
import errno
import json
import os
import random
import stat
import sys
import time

from fusepy import FUSE, FuseOSError, Operations, fuse_get_context

PAGE = 4096
ROOT = 1
CONTROL_INO = 2
CONTROL_NAME = '.powerloss'


class Inode:
    """The in-memory (volatile) state of one inode; file bytes not in `pages` come from BACKING."""

    def __init__(self, ino, mode, uid, gid):
        self.ino = ino
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.nlink = 0
        self.opens = 0
        now = time.time_ns()
        self.atime = self.mtime = self.ctime = now
        self.size = 0
        # page index -> bytearray(PAGE): the page as this mount sees it (written, not yet durable)
        self.pages = {}
        # BACKING bytes at or past `limit` are not visible (a truncate not yet durable): they read as zeros
        self.limit = 0
        self.entries = {} if stat.S_ISDIR(mode) else None
        self.target = None

    def attrs(self):
        return {'mode': self.mode, 'uid': self.uid, 'gid': self.gid, 'mtime': self.mtime, 'target': self.target}


class PowerLossFS(Operations):
    use_ns = True

    def __init__(self, backing, writeback, rng, fsync_delay=0.0):
        self.backing = backing
        self.writeback = writeback
        self.fsync_delay = fsync_delay
        self.rng = rng
        self.fds = {}
        self.faults = []  # (ino, start, end)
        self.counters = {'fsync': 0, 'fdatasync': 0, 'fsyncdir': 0, 'writes': 0, 'writeback_pages': 0, 'read_faults': 0}
        os.makedirs(os.path.join(backing, 'data'), exist_ok=True)
        self.load()

    # ----- the disk (BACKING) -----

    def data_path(self, ino):
        return os.path.join(self.backing, 'data', str(ino))

    def fd(self, ino):
        if ino not in self.fds:
            self.fds[ino] = os.open(self.data_path(ino), os.O_RDWR | os.O_CREAT, 0o600)
        return self.fds[ino]

    def load(self):
        """Mounting: memory starts as a copy of what is durable; unreachable inodes are collected."""
        path = os.path.join(self.backing, 'meta.json')
        if os.path.exists(path):
            with open(path) as handle:
                meta = json.load(handle)
            self.durable_inodes = {int(ino): attrs for ino, attrs in meta['inodes'].items()}
            self.durable_dirs = {int(ino): {name: int(child) for name, child in entries.items()} for ino, entries in meta['dirs'].items()}
            self.next_ino = meta['next_ino']
        else:
            self.durable_inodes = {ROOT: {'mode': stat.S_IFDIR | 0o755, 'uid': os.getuid(), 'gid': os.getgid(), 'mtime': time.time_ns(), 'target': None}}
            self.durable_dirs = {ROOT: {}}
            self.next_ino = CONTROL_INO + 1
            self.save_meta()
        reachable = set()
        stack = [ROOT]
        while stack:
            ino = stack.pop()
            if ino in reachable:
                continue
            reachable.add(ino)
            stack.extend(self.durable_dirs.get(ino, {}).values())
        self.durable_inodes = {ino: attrs for ino, attrs in self.durable_inodes.items() if ino in reachable}
        self.durable_dirs = {ino: entries for ino, entries in self.durable_dirs.items() if ino in reachable}
        for name in os.listdir(os.path.join(self.backing, 'data')):
            if int(name) not in reachable:
                os.unlink(self.data_path(int(name)))
        self.next_ino = max([self.next_ino, *[ino + 1 for ino in reachable]])
        self.inodes = {}
        for ino, attrs in self.durable_inodes.items():
            inode = Inode(ino, attrs['mode'], attrs['uid'], attrs['gid'])
            inode.mtime = inode.ctime = attrs['mtime']
            inode.target = attrs['target']
            if stat.S_ISREG(inode.mode):
                inode.size = inode.limit = os.fstat(self.fd(ino)).st_size
            if stat.S_ISDIR(inode.mode):
                inode.entries = dict(self.durable_dirs.get(ino, {}))
            self.inodes[ino] = inode
        for inode in list(self.inodes.values()):
            if inode.entries is None:
                continue
            inode.nlink += 1  # its "."
            for child in inode.entries.values():
                self.inodes[child].nlink += 1
                if self.inodes[child].entries is not None:
                    inode.nlink += 1  # the child's ".."
        self.inodes[ROOT].nlink += 1

    def save_meta(self):
        meta = {
            'next_ino': self.next_ino,
            'inodes': {str(ino): attrs for ino, attrs in self.durable_inodes.items()},
            'dirs': {str(ino): entries for ino, entries in self.durable_dirs.items()},
        }
        temporary = os.path.join(self.backing, 'meta.json.tmp')
        with open(temporary, 'w') as handle:
            json.dump(meta, handle)
        os.replace(temporary, os.path.join(self.backing, 'meta.json'))

    def write_back_page(self, inode, index):
        length = min(PAGE, inode.size - index * PAGE)
        if length > 0:
            os.pwrite(self.fd(inode.ino), bytes(inode.pages[index][:length]), index * PAGE)

    def sync_file(self, inode):
        """fsync/fdatasync: the file's bytes and size become durable."""
        if not stat.S_ISREG(inode.mode):
            return
        fd = self.fd(inode.ino)
        if inode.limit < os.fstat(fd).st_size:
            os.ftruncate(fd, inode.limit)
        for index in sorted(inode.pages):
            self.write_back_page(inode, index)
        os.ftruncate(fd, inode.size)
        inode.pages.clear()
        inode.limit = inode.size

    def sync_dir(self, inode):
        """fsync of a directory: its names become durable as they are now (and the inodes they name)."""
        self.durable_dirs[inode.ino] = dict(inode.entries)
        for child in inode.entries.values():
            node = self.inodes[child]
            if child not in self.durable_inodes:
                self.durable_inodes[child] = node.attrs()
                if stat.S_ISDIR(node.mode):
                    self.durable_dirs.setdefault(child, {})
                if stat.S_ISREG(node.mode):
                    self.fd(child)  # a name made durable before its data: an empty file after a cut
        self.save_meta()

    def sync_all(self):
        for inode in list(self.inodes.values()):
            self.sync_file(inode)
            if inode.ino in self.durable_inodes:
                self.durable_inodes[inode.ino] = inode.attrs()
        for inode in list(self.inodes.values()):
            if inode.entries is not None:
                self.sync_dir(inode)

    def background_writeback(self):
        if self.writeback <= 0 or self.rng.random() >= self.writeback:
            return
        candidates = [inode for inode in self.inodes.values() if inode.pages]
        if not candidates:
            return
        inode = self.rng.choice(candidates)
        index = self.rng.choice(list(inode.pages))
        if index * PAGE < inode.limit or os.fstat(self.fd(inode.ino)).st_size <= index * PAGE:
            # Only where BACKING would show this page as it is: a page inside a truncated-away range
            # must wait for fsync (the truncate is not durable yet).
            self.write_back_page(inode, index)
            self.counters['writeback_pages'] += 1

    # ----- memory (what the mount shows) -----

    def read_bytes(self, inode, offset, length):
        end = min(offset + length, inode.size)
        if end <= offset:
            return b''
        out = bytearray(end - offset)
        base_end = min(end, inode.limit)
        if base_end > offset:
            durable = os.pread(self.fd(inode.ino), base_end - offset, offset)
            out[:len(durable)] = durable
        for index in range(offset // PAGE, (end - 1) // PAGE + 1):
            page = inode.pages.get(index)
            if page is None:
                continue
            start = max(offset, index * PAGE)
            stop = min(end, (index + 1) * PAGE)
            out[start - offset:stop - offset] = page[start - index * PAGE:stop - index * PAGE]
        return bytes(out)

    def page(self, inode, index):
        page = inode.pages.get(index)
        if page is None:
            page = bytearray(PAGE)
            current = self.read_bytes(inode, index * PAGE, PAGE)
            page[:len(current)] = current
            inode.pages[index] = page
        return page

    def resolve(self, path):
        if path == '/' + CONTROL_NAME:
            return None
        ino = ROOT
        for name in [part for part in path.split('/') if part]:
            entries = self.inodes[ino].entries
            if entries is None:
                raise FuseOSError(errno.ENOTDIR)
            if name not in entries:
                raise FuseOSError(errno.ENOENT)
            ino = entries[name]
        return self.inodes[ino]

    def parent(self, path):
        head, name = path.rstrip('/').rsplit('/', 1)
        directory = self.resolve(head or '/')
        if directory is None or directory.entries is None:
            raise FuseOSError(errno.ENOTDIR)
        if name == CONTROL_NAME and directory.ino == ROOT:
            raise FuseOSError(errno.EEXIST)
        return directory, name

    def inode_of(self, path, fh):
        if fh:
            return None if fh == CONTROL_INO else self.inodes[fh]
        return self.resolve(path)

    def new_inode(self, mode):
        uid, gid, _pid = fuse_get_context()
        inode = Inode(self.next_ino, mode, uid, gid)
        self.next_ino += 1
        self.inodes[inode.ino] = inode
        return inode

    def link_into(self, directory, name, inode):
        directory.entries[name] = inode.ino
        inode.nlink += 1
        directory.mtime = directory.ctime = time.time_ns()

    def unlink_from(self, directory, name):
        inode = self.inodes[directory.entries.pop(name)]
        inode.nlink -= 1
        directory.mtime = directory.ctime = time.time_ns()
        self.forget_if_unused(inode)

    def forget_if_unused(self, inode):
        # The inode leaves memory; its durable bytes stay in BACKING while a durable name may still
        # point to it (collected at the next mount).
        if inode.nlink <= 0 and inode.opens <= 0 and inode.ino != ROOT:
            self.inodes.pop(inode.ino, None)

    def control_text(self):
        dirty = sum(len(inode.pages) for inode in self.inodes.values())
        return (json.dumps({**self.counters, 'dirty_pages': dirty, 'faults': self.faults}) + '\n').encode()

    def control(self, text):
        for line in text.decode().splitlines():
            words = line.split()
            if not words:
                continue
            if words == ['sync']:
                self.sync_all()
            elif words[0] == 'fail-read' and len(words) == 4:
                inode = self.resolve(words[1])
                self.faults.append((inode.ino, int(words[2]), int(words[2]) + int(words[3])))
            elif words == ['clear-faults']:
                self.faults = []
            else:
                raise FuseOSError(errno.EINVAL)

    # ----- FUSE operations -----

    def init(self, path):
        print('ready', flush=True)

    def destroy(self, path):
        self.sync_all()  # a clean unmount is a clean shutdown

    def getattr(self, path, fh=None):
        inode = self.inode_of(path, fh)
        if inode is None:
            now = time.time_ns()
            return {'st_mode': stat.S_IFREG | 0o600, 'st_ino': CONTROL_INO, 'st_nlink': 1, 'st_size': len(self.control_text()),
                    'st_uid': 0, 'st_gid': 0, 'st_atime': now, 'st_mtime': now, 'st_ctime': now}
        size = len(inode.target.encode()) if inode.target is not None else inode.size
        return {'st_mode': inode.mode, 'st_ino': inode.ino, 'st_nlink': inode.nlink, 'st_size': size, 'st_uid': inode.uid,
                'st_gid': inode.gid, 'st_atime': inode.atime, 'st_mtime': inode.mtime, 'st_ctime': inode.ctime,
                'st_blocks': (size + 511) // 512, 'st_blksize': PAGE}

    def readdir(self, path, fh):
        return ['.', '..', *self.resolve(path).entries]

    def readlink(self, path):
        return self.resolve(path).target

    def statfs(self, path):
        return {'f_bsize': PAGE, 'f_frsize': PAGE, 'f_blocks': 1 << 20, 'f_bfree': 1 << 19, 'f_bavail': 1 << 19,
                'f_files': 1 << 16, 'f_ffree': 1 << 15, 'f_favail': 1 << 15, 'f_namemax': 255}

    def create(self, path, mode):
        directory, name = self.parent(path)
        if name in directory.entries:
            inode = self.inodes[directory.entries[name]]
        else:
            inode = self.new_inode(stat.S_IFREG | (mode & 0o7777))
            self.link_into(directory, name, inode)
        inode.opens += 1
        return inode.ino

    def open(self, path, flags):
        inode = self.resolve(path)
        if inode is None:
            return CONTROL_INO
        inode.opens += 1
        return inode.ino

    def release(self, path, fh):
        if fh != CONTROL_INO and fh in self.inodes:
            inode = self.inodes[fh]
            inode.opens -= 1
            self.forget_if_unused(inode)

    def read(self, path, size, offset, fh):
        if fh == CONTROL_INO:
            return self.control_text()[offset:offset + size]
        for ino, start, end in self.faults:
            if ino == fh and offset < end and start < offset + size:
                self.counters['read_faults'] += 1
                raise FuseOSError(errno.EIO)
        return self.read_bytes(self.inodes[fh], offset, size)

    def write(self, path, data, offset, fh):
        if fh == CONTROL_INO:
            self.control(data)
            return len(data)
        inode = self.inodes[fh]
        done = 0
        while done < len(data):
            index = (offset + done) // PAGE
            within = (offset + done) - index * PAGE
            length = min(PAGE - within, len(data) - done)
            self.page(inode, index)[within:within + length] = data[done:done + length]
            done += length
        inode.size = max(inode.size, offset + len(data))
        inode.mtime = inode.ctime = time.time_ns()
        self.counters['writes'] += 1
        self.background_writeback()
        return len(data)

    def truncate(self, path, length, fh=None):
        inode = self.inode_of(path, fh)
        if inode is None:
            return  # the control file ("w" opens truncate it)
        if length < inode.size:
            for index in [index for index in inode.pages if index * PAGE >= length]:
                del inode.pages[index]
            if length % PAGE and length // PAGE in inode.pages:
                page = inode.pages[length // PAGE]
                page[length % PAGE:] = bytes(PAGE - length % PAGE)
            inode.limit = min(inode.limit, length)
        inode.size = length
        inode.mtime = inode.ctime = time.time_ns()

    def fsync(self, path, datasync, fh):
        if fh == CONTROL_INO:
            return
        time.sleep(self.fsync_delay)
        inode = self.inodes[fh]
        self.sync_file(inode)
        self.counters['fdatasync' if datasync else 'fsync'] += 1
        if not datasync and inode.ino in self.durable_inodes:
            self.durable_inodes[inode.ino] = inode.attrs()
            self.save_meta()

    def fsyncdir(self, path, datasync, fh):
        time.sleep(self.fsync_delay)
        self.sync_dir(self.resolve(path))
        self.counters['fsyncdir'] += 1

    def flush(self, path, fh):
        return  # close() promises nothing about durability

    def mkdir(self, path, mode):
        directory, name = self.parent(path)
        if name in directory.entries:
            raise FuseOSError(errno.EEXIST)
        inode = self.new_inode(stat.S_IFDIR | (mode & 0o7777))
        inode.nlink = 1  # its "."
        self.link_into(directory, name, inode)
        directory.nlink += 1

    def rmdir(self, path):
        directory, name = self.parent(path)
        inode = self.resolve(path)
        if inode.entries is None:
            raise FuseOSError(errno.ENOTDIR)
        if inode.entries:
            raise FuseOSError(errno.ENOTEMPTY)
        inode.nlink = 1
        directory.nlink -= 1
        self.unlink_from(directory, name)

    def unlink(self, path):
        directory, name = self.parent(path)
        if name not in directory.entries:
            raise FuseOSError(errno.ENOENT)
        if self.inodes[directory.entries[name]].entries is not None:
            raise FuseOSError(errno.EISDIR)
        self.unlink_from(directory, name)

    def symlink(self, target, source):
        directory, name = self.parent(target)
        if name in directory.entries:
            raise FuseOSError(errno.EEXIST)
        inode = self.new_inode(stat.S_IFLNK | 0o777)
        inode.target = source
        self.link_into(directory, name, inode)

    def link(self, target, source):
        inode = self.resolve(source)
        if inode is None or inode.entries is not None:
            raise FuseOSError(errno.EPERM)
        directory, name = self.parent(target)
        if name in directory.entries:
            raise FuseOSError(errno.EEXIST)
        self.link_into(directory, name, inode)

    def rename(self, old, new):
        old_directory, old_name = self.parent(old)
        new_directory, new_name = self.parent(new)
        if old_name not in old_directory.entries:
            raise FuseOSError(errno.ENOENT)
        moving = self.inodes[old_directory.entries[old_name]]
        replaced_ino = new_directory.entries.get(new_name)
        if replaced_ino == moving.ino:
            return
        if replaced_ino is not None:
            replaced = self.inodes[replaced_ino]
            if replaced.entries is not None:
                if moving.entries is None:
                    raise FuseOSError(errno.EISDIR)
                if replaced.entries:
                    raise FuseOSError(errno.ENOTEMPTY)
                replaced.nlink = 1
                new_directory.nlink -= 1
            elif moving.entries is not None:
                raise FuseOSError(errno.ENOTDIR)
            self.unlink_from(new_directory, new_name)
        del old_directory.entries[old_name]
        new_directory.entries[new_name] = moving.ino
        if moving.entries is not None and old_directory is not new_directory:
            old_directory.nlink -= 1
            new_directory.nlink += 1
        now = time.time_ns()
        old_directory.mtime = new_directory.mtime = moving.ctime = now

    def chmod(self, path, mode):
        inode = self.resolve(path)
        if inode is not None:
            inode.mode = (inode.mode & ~0o7777) | (mode & 0o7777)

    def chown(self, path, uid, gid):
        inode = self.resolve(path)
        if inode is not None:
            inode.uid = inode.uid if uid == 0xFFFFFFFF else uid
            inode.gid = inode.gid if gid == 0xFFFFFFFF else gid

    def utimens(self, path, times=None):
        inode = self.resolve(path)
        if inode is not None:
            now = time.time_ns()
            inode.atime, inode.mtime = times if times else (now, now)


def main(argv):
    args = list(argv)
    writeback = 0.0
    seed = None
    if '--writeback' in args:
        at = args.index('--writeback')
        writeback = float(args[at + 1])
        del args[at:at + 2]
    fsync_delay = 0.0
    if '--fsync-delay' in args:
        at = args.index('--fsync-delay')
        fsync_delay = float(args[at + 1]) / 1000
        del args[at:at + 2]
    if '--seed' in args:
        at = args.index('--seed')
        seed = int(args[at + 1])
        del args[at:at + 2]
    if len(args) != 2:
        sys.exit('usage: powerloss.py BACKING MOUNTPOINT [--writeback P] [--seed N] [--fsync-delay MS]')
    backing, mountpoint = args
    filesystem = PowerLossFS(backing, writeback, random.Random(seed), fsync_delay)
    # direct_io: every read and write reaches this process (the kernel caches no file data); the
    # zero timeouts do the same for names and attributes. hard_remove: an unlinked open file is not
    # renamed to .fuse_hidden* (that would be a rename this file system had to model).
    FUSE(filesystem, mountpoint, foreground=True, nothreads=True, fsname='powerloss', subtype='powerloss',
         direct_io=True, use_ino=True, hard_remove=True, big_writes=True, max_write=131072, max_read=131072,
         attr_timeout=0, entry_timeout=0, negative_timeout=0)


if __name__ == '__main__':
    main(sys.argv[1:])

// Real devices and real faults for tests that need root: tmpfs mounts of a chosen size (too small:
// ENOSPC for files on them, EIO at flush for a loop device over a file on them), loop devices, and
// a process that holds a block device open exclusively. Every helper returns its own undo.
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { basename } from 'node:path';

/**
 * Why root-only tests cannot run here, or undefined when they can. Never in CI: it runs as root, and
 * there a missing tool makes the test fail loudly instead of quietly skipping.
 */
export const ROOT_SKIP = process.env.CI ? undefined : rootSkipReason();
if (ROOT_SKIP) console.warn(`Root device tests skipped: ${ROOT_SKIP}`);

function rootSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'they need root (mount, losetup); CI runs them as root';
  if (!existsSync('/dev/loop-control')) return 'no loop device support here (/dev/loop-control is missing)';
  return undefined;
}

/** `test` for tests that need root, mount and loop devices: skipped (see ROOT_SKIP) where they cannot run. */
export const rootTest = (ROOT_SKIP ? test.skip : test) as typeof test;

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Mounts a tmpfs of `size` (e.g. "2M") on `dir`; returns the unmount. */
export function mountTmpfs(dir: string, size: string): () => void {
  run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
  return () => { try { run('umount', ['-l', dir]); } catch { /* already gone */ } };
}

/** Grows (or shrinks) a mounted tmpfs in place. */
export function resizeTmpfs(dir: string, size: string): void {
  run('mount', ['-o', `remount,size=${size}`, dir]);
}

/** Writes zeros to `path` until the file system is full (ENOSPC), leaving no free block. */
export function fillUp(path: string): void {
  const fd = openSync(path, 'w');
  const page = Buffer.alloc(4096, 0xee);
  try {
    for (;;) writeSync(fd, page);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
}

/** Makes an ext2 file system on `device` and mounts it read-only on `dir`; returns the unmount. */
export function mountExt2(device: string, dir: string): () => void {
  run('mkfs.ext2', ['-q', '-F', device]);
  run('mount', ['-t', 'ext2', '-o', 'ro', device, dir]);
  return () => { try { run('umount', [dir]); } catch { /* already gone */ } };
}

/**
 * Attaches `file` to a free loop device, with requests of one page; returns its path and the detach.
 *
 * Why one page: Linux's loop driver (seen on 6.18; its buffered writes go through lo_rw_aio) completes
 * a write request that the backing file took only in part as a success. A request that straddles the
 * limit of a too small tmpfs then loses its tail, and the fdatasync that wrote it back reports success:
 * a fault device that lies, and a test that fails at random (1 run in 8 here, under load). The limit of
 * a tmpfs is a whole number of pages, so a one-page request is taken whole or fails with ENOSPC, which
 * the driver reports as EIO. destination-faults.test.ts proves it on every run.
 */
export function attachLoop(file: string): { device: string; detach(): void } {
  const device = run('losetup', ['--find', '--show', file]);
  const detach = () => { try { run('losetup', ['-d', device]); } catch { /* already detached */ } };
  try {
    writeFileSync(`/sys/block/${basename(device)}/queue/max_sectors_kb`, '4');
  } catch (error) {
    detach();
    throw error;
  }
  return { device, detach };
}

/**
 * Another process holding `device` open with O_EXCL (as a mounted file system, LVM or MD would);
 * resolves once it holds it, with the way to let it go (which may be called more than once).
 */
export async function holdExclusively(device: string): Promise<() => Promise<void>> {
  const script = `require('fs').openSync(process.argv[1], ${constants.O_RDONLY | constants.O_EXCL}); process.stdout.write('held\\n'); process.stdin.resume();`;
  const child = spawn(process.execPath, ['-e', script, device], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`could not hold ${device} (exit ${code})`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return () => {
    child.stdin.end();
    return exited;
  };
}

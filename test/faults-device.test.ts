// Fault matrix, the devices (issue 9): real I/O faults on the destination, no mocks.
//   - EIO at flush: a loop device over a sparse file on a tmpfs smaller than the device. Writes land in
//     the loop device's page cache; the fdatasync that pushes them to the full tmpfs fails with EIO.
//   - ENOSPC: an image file on a small tmpfs; the write itself fails.
// Each: exit 2, one line naming the cause, no stack trace; the bitmap claims nothing that was not
// flushed, so after the tmpfs is grown (mount -o remount,size=...) the same command converges, proven
// by comparing the source with what reached the backing file, byte for byte.
// Needs root (mount, losetup); CI runs as root.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { basyn } from './helpers/cli';
import { assertSameBytes, failedOnce, ok, loopDevice, rootFaultsUnavailable, tmpfs } from './helpers/faults';
import { tempDir, writeRandom, writeSparse } from './helpers/images';

const SKIP = rootFaultsUnavailable();
const rootTest = (SKIP ? test.skip : test) as typeof test;
if (SKIP) console.warn(`device fault tests skipped: ${SKIP}`);

const MiB = 1024 * 1024;
/** A loaded 2-core machine can take minutes for what takes a second when idle. */
const SLOW_OK = { timeoutMs: 300_000 };

for (const action of ['PUSH', 'PULL'] as const) {
  rootTest(`${action} to a loop device whose backing tmpfs is full: EIO at flush, exit 2; after growing it the rerun converges`, async (t) => {
    const scratch = tempDir('basyn-fault-eio-');
    t.teardown(() => scratch.cleanup());
    const space = tmpfs(t, 2 * MiB);
    const backing = space.path('backing.img');
    writeSparse(backing, 16 * MiB);
    const device = loopDevice(t, backing);
    const source = scratch.path('source.img');
    writeRandom(source, 8 * MiB);
    const bitmap = scratch.path('bitmap');
    const args = [...(action === 'PUSH' ? ['-l', source, '-r', device] : ['-l', device, '-r', source]), '-a', action, '-m', 'SYNC', '-b', bitmap];

    failedOnce(t, await basyn(args, SLOW_OK), /i\/o error|input\/output error/i);

    space.resize(32 * MiB);
    ok(t, await basyn(args, SLOW_OK));
    // The loop device's page cache may hold pages whose writeback failed: compare what reached the file.
    execFileSync('blockdev', ['--flushbufs', device]);
    assertSameBytes(t, source, backing, 8 * MiB, 'the backing file holds the source');
    ok(t, await basyn([...args.filter((arg) => arg !== '-b' && arg !== bitmap), '--recheck'], SLOW_OK));
  });

  rootTest(`${action} to an image on a full tmpfs: ENOSPC, exit 2; after growing it the rerun converges`, async (t) => {
    const scratch = tempDir('basyn-fault-enospc-');
    t.teardown(() => scratch.cleanup());
    const space = tmpfs(t, 2 * MiB);
    const destination = space.path('destination.img');
    writeSparse(destination, 8 * MiB);
    const source = scratch.path('source.img');
    writeRandom(source, 8 * MiB);
    const bitmap = scratch.path('bitmap');
    const args = [...(action === 'PUSH' ? ['-l', source, '-r', destination] : ['-l', destination, '-r', source]), '-a', action, '-m', 'SYNC', '-b', bitmap];

    failedOnce(t, await basyn(args, SLOW_OK), /no space left on device/i);

    space.resize(32 * MiB);
    ok(t, await basyn(args, SLOW_OK));
    assertSameBytes(t, source, destination);
  });
}

// Fault matrix, the source (issue 9): a source whose reads fail part way through, a real EIO from the
// power-loss FUSE file system (test/helpers/powerloss), which fails every read overlapping a chosen
// range. The run ends with exit 2 and one line naming the device and the offset; the bitmap claims
// nothing for the failed range (its entries are unknown); once the disk reads again, the same command
// converges, proven by comparing both sides byte for byte. Needs root and /dev/fuse.
import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { decodeBitmapFile, isUnknownDigest, recordLength } from '../src/shared/bitmap';
import { basyn, hasStackTrace } from './helpers/cli';
import { assertSameBytes, waitFor } from './helpers/faults';
import { tempDir, writeSparse } from './helpers/images';
import { PowerLossFs, powerLossUnavailable } from './helpers/powerloss/mount';

const SKIP = powerLossUnavailable();
const fuseTest = (SKIP ? test.skip : test) as typeof test;
if (SKIP) console.warn(`source fault tests skipped: ${SKIP}`);

const KiB = 1024;
const BUFFER = 256 * KiB;
const CHUNK = 64 * KiB;
const SIZE = 16 * BUFFER;

// The agents hash in worker threads for PUSH (hash-pool.ts: other buffers are being hashed when the
// read fails) and in their main thread for PULL.
for (const [action, hashThreads] of [['PUSH', '3'], ['PULL', '1']] as const) {
  fuseTest(`${action}, ${hashThreads} hashing thread(s): a source read failing part way through: exit 2 naming the offset, nothing claimed, the rerun converges`, async (t) => {
    const fs = await PowerLossFs.mount();
    t.teardown(() => fs.stop());
    // Its control file is only there once the mount is live: nothing is written under the mount point before.
    await waitFor(() => existsSync(fs.path('.powerloss')), 10_000, 'the FUSE mount');
    const scratch = tempDir('basyn-fault-source-');
    t.teardown(() => scratch.cleanup());
    const source = fs.path('source.img');
    writeFileSync(source, randomBytes(SIZE));
    const destination = scratch.path('destination.img');
    writeSparse(destination, SIZE);
    const bitmap = scratch.path('bitmap');
    // A few bytes inside chunk 2 of buffer 10.
    const badOffset = 10 * BUFFER + 2 * CHUNK + 1000;
    fs.failRead('source.img', badOffset, 10);
    const devices = action === 'PUSH' ? ['-l', source, '-r', destination] : ['-l', destination, '-r', source];
    const args = [...devices, '-a', action, '-m', 'SYNC', '--buffer', String(BUFFER / KiB), '--chunk', String(CHUNK / KiB), '-b', bitmap];

    const env = { ...process.env, BASYN_HASH_THREADS: hashThreads };
    const failed = await basyn(args, { env });
    t.is(failed.code, 2, failed.stderr);
    const lines = failed.stderr.split('\n').filter((line) => line !== '');
    t.log(lines.join(' / '));
    t.is(lines.length, 1, `one line: ${JSON.stringify(failed.stderr)}`);
    t.false(hasStackTrace(failed.stderr));
    const named = /^Cannot read (.*) at offset (\d+) \((\d+) bytes\): i\/o error$/.exec(lines[0] ?? '');
    t.truthy(named, lines[0]);
    t.is(named?.[1], source);
    const [from, length] = [Number(named?.[2]), Number(named?.[3])];
    t.true(from <= badOffset && badOffset < from + length, `the named range ${from}+${length} holds the failing offset ${badOffset}`);
    t.true(fs.counters().read_faults > 0, 'the fault was hit');

    // Nothing claimed for the failed range: its buffer entry and its chunk entry are unknown.
    const { header, table } = decodeBitmapFile(bitmap, readFileSync(bitmap), '');
    const record = table.subarray(10 * recordLength(header.layout), 11 * recordLength(header.layout));
    const digestLength = header.layout.hash.digestLength;
    t.true(isUnknownDigest(record.subarray(0, digestLength)), 'the failed buffer is not claimed');
    t.true(isUnknownDigest(record.subarray(digestLength * 3, digestLength * 4)), 'the failed chunk is not claimed');

    fs.clearFaults();
    const rerun = await basyn(args, { env });
    t.is(rerun.code, 0, rerun.stderr);
    assertSameBytes(t, source, destination);
  });
}

// The agent's hashing threads (src/remote/hash-pool.ts, issue 15 target 4). Their digests must be
// exactly those of hashing in the agent's main thread, in order (each compared here with the main
// thread's, computed by shared/hash.ts in this thread), and a thread that dies mid-run must end the run
// with exit 2 and a bitmap that claims nothing the destination does not hold. Runs in-process (the
// threads start from source through tsx); the pipe runs them through the sync suite and faults-source.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { main } from '../src/local/cli';
import { InProcessTransport } from '../src/local/transport/in-process';
import { Device } from '../src/remote/device';
import { hashPool, hashThreadCount, HashPool } from '../src/remote/hash-pool';
import { chunksPerRecord, decodeBitmapFile, isUnknownDigest, recordLength } from '../src/shared/bitmap';
import { chunkDigests, createHasher, HASH_NAMES, hashByName, WEAK_HASH_NAMES, type HashAlgorithm } from '../src/shared/hash';
import { assertSameBytes } from './helpers/faults';
import { tempDir, writeRandom } from './helpers/images';

const KiB = 1024;

async function runInProcess(args: string[], hashThreads: number): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const io = { stdout: () => undefined, stderr: (text: string) => { stderr += text; } };
  const code = await main(args, { io, transports: () => new InProcessTransport({ hashThreads }) });
  return { code, stderr };
}

/** Random bytes in shared memory, as the agent's device reads are. */
function sharedRandom(length: number): Buffer {
  const data = Buffer.from(new SharedArrayBuffer(length));
  randomBytes(length).copy(data);
  return data;
}

test('BASYN_HASH_THREADS sets the thread count; otherwise the cores, at most 8', (t) => {
  t.is(hashThreadCount({ BASYN_HASH_THREADS: '3' }), 3);
  t.is(hashThreadCount({ BASYN_HASH_THREADS: '1' }), 1);
  const byCores = hashThreadCount({});
  for (const ignored of ['0', '-2', '1.5', 'many', '']) t.is(hashThreadCount({ BASYN_HASH_THREADS: ignored }), byCores, ignored);
  t.true(byCores >= 1 && byCores <= 8);
  t.is(hashPool(1), undefined, '1 thread: hashing stays in the main thread');
});

test('every algorithm: the threads give the main thread\'s digests, per chunk and in order, for jobs in flight at once', async (t) => {
  const pool = hashPool(3) as HashPool;
  // Not a multiple of any chunk size: the last chunk is short.
  const data = sharedRandom(3 * 256 * KiB + 12345);
  const seed = 0x0123456789abcdefn;
  for (const name of [...HASH_NAMES, ...WEAK_HASH_NAMES]) {
    const algorithm = hashByName(name) as HashAlgorithm;
    const hasher = await createHasher(algorithm, seed);
    const jobs: Array<{ slice: Buffer; chunkSize: number }> = [];
    for (const chunkSize of [0, 4 * KiB, 64 * KiB]) {
      for (let start = 0; start < data.length; start += 100_000) jobs.push({ slice: data.subarray(start, start + 200_000), chunkSize });
    }
    // Two jobs in three go to the worker threads, one to this thread (hash-pool.ts): each is checked.
    const got = await Promise.all(jobs.map(({ slice, chunkSize }) => pool.digests(hasher, seed, slice, chunkSize)));
    jobs.forEach(({ slice, chunkSize }, index) => {
      const expected = chunkSize > 0 ? chunkDigests(hasher, slice, chunkSize) : hasher.digest(slice);
      t.true(got[index].equals(expected), `${name}, job ${index}, chunk ${chunkSize}`);
    });
  }
});

test('a worker thread that dies fails its jobs with EWORKER; the next job starts a new one', async (t) => {
  const pool = new HashPool(2);
  const hasher = await createHasher(hashByName('SHA256') as HashAlgorithm);
  const data = sharedRandom(4 * 1024 * KiB);
  await Promise.all([pool.digests(hasher, 0n, data.subarray(0, 10), 0), pool.digests(hasher, 0n, data.subarray(0, 10), 0)]); // the worker is up
  // With 2 threads, jobs alternate between the worker and this thread (which hashes its own at once): the
  // worker gets 100 jobs of 4 MiB and is still at them when it is ended, even on a loaded machine; this
  // thread gets tiny ones.
  const jobData = (index: number) => (index % 2 === 0 ? data : data.subarray(0, 10));
  const settled = Promise.allSettled(Array.from({ length: 200 }, (_, index) => pool.digests(hasher, 0n, jobData(index), 4 * KiB)));
  await pool.terminate();
  const results = await settled;
  results.forEach((result, index) => {
    if (result.status === 'fulfilled') t.true(result.value.equals(chunkDigests(hasher, jobData(index), 4 * KiB)), `job ${index} answered right`);
  });
  const failed = results.filter((result) => result.status === 'rejected');
  t.true(failed.length > 0, 'jobs in flight when the worker ended failed');
  for (const result of failed) {
    const error = (result as PromiseRejectedResult).reason as { code: string; message: string };
    t.is(error.code, 'EWORKER');
    t.regex(error.message, /^hashing thread failed: .*exit code/);
  }
  const again = await Promise.all([pool.digests(hasher, 0n, data, 0), pool.digests(hasher, 0n, data, 0)]);
  for (const digest of again) t.true(digest.equals(createHash('sha256').update(data).digest()));
});

test('a read buffer is shared memory, not reused while a hashing thread may still read it (until the digests are back)', async (t) => {
  const dir = tempDir('basyn-threads-');
  t.teardown(() => dir.cleanup());
  const LENGTH = 256 * KiB;
  writeRandom(dir.path('device.img'), 2 * LENGTH);
  const device = await Device.open(dir.path('device.img'), false);
  t.teardown(() => device.close());
  // The first read's bytes are "being hashed" for 200 ms; a second read meanwhile must use another buffer.
  const first = device.readInto(0, LENGTH, async (data) => {
    const seen = Buffer.from(data);
    await delay(200);
    return data.equals(seen);
  });
  await delay(50);
  await device.readInto(LENGTH, LENGTH, (data) => data.length);
  t.true(await first, 'the bytes under hashing stayed as they were read');
  t.true((await device.readInto(0, 16, (data) => data.buffer)) instanceof SharedArrayBuffer, 'read into shared memory: a thread reads it without a copy');
});

for (const hash of ['SHA1', 'XXH3']) {
  test(`bitmap-only tracking, --hash ${hash}: 1 and 3 hashing threads write the same digests`, async (t) => {
    const dir = tempDir('basyn-threads-');
    t.teardown(() => dir.cleanup());
    const source = dir.path('source.img');
    writeRandom(source, 6 * 1024 * KiB + 5000);
    const tables: Buffer[] = [];
    for (const threads of [1, 3]) {
      const bitmap = dir.path(`bitmap-${threads}`);
      const run = await runInProcess(['-l', source, '-a', 'PUSH', '-m', 'SYNC', '-b', bitmap, '--hash', hash, '--buffer', '256', '--chunk', '16'], threads);
      t.is(run.code, 0, run.stderr);
      tables.push(Buffer.from(decodeBitmapFile(bitmap, readFileSync(bitmap), '').table));
    }
    t.true(tables[0].length > 0);
    t.true(tables[0].equals(tables[1]), 'the digest tables are identical');
  });
}

test('a hashing thread that dies mid-run: exit 2, one line, the bitmap claims nothing the destination lacks; the rerun converges', async (t) => {
  const dir = tempDir('basyn-threads-');
  t.teardown(() => dir.cleanup());
  const [source, destination, bitmap] = ['source.img', 'destination.img', 'bitmap'].map((name) => dir.path(name));
  const BUFFER = 64 * KiB;
  const CHUNK = 16 * KiB;
  writeRandom(source, 8 * 1024 * KiB);
  writeRandom(destination, 8 * 1024 * KiB); // differs everywhere: every buffer is hashed on both sides, then sent
  const args = ['-l', source, '-r', destination, '-a', 'PUSH', '-m', 'SYNC', '-b', bitmap, '--hash', 'SHA1', '--buffer', String(BUFFER / KiB), '--chunk', String(CHUNK / KiB)];
  const pool = hashPool(4) as HashPool;
  // Strikes once the run is well under way, right after a job was sent: every thread ends with jobs in
  // flight (a thread is fast enough that a strike from a timer may find it between jobs).
  const digests = pool.digests.bind(pool);
  t.teardown(() => { pool.digests = digests; });
  let sent = 0;
  let struck = false;
  pool.digests = (...job) => {
    const result = digests(...job);
    if (++sent === 180) {
      struck = true;
      void pool.terminate();
    }
    return result;
  };
  const failed = await runInProcess(args, 4);
  pool.digests = digests;
  t.true(struck, 'the threads were ended mid-run');
  t.is(failed.code, 2, failed.stderr);
  const lines = failed.stderr.split('\n').filter((line) => line !== '');
  t.log(lines.join(' / '));
  t.is(lines.length, 1, JSON.stringify(failed.stderr));
  t.regex(lines[0] ?? '', /hashing thread failed/);

  // Every entry the bitmap holds (buffer or chunk) is the digest of what the destination holds there.
  const { header, table } = decodeBitmapFile(bitmap, readFileSync(bitmap), '');
  const digestLength = header.layout.hash.digestLength;
  const destinationBytes = readFileSync(destination);
  const sourceBytes = readFileSync(source);
  let known = 0;
  for (let index = 0; index * BUFFER < destinationBytes.length; index++) {
    const record = table.subarray(index * recordLength(header.layout), (index + 1) * recordLength(header.layout));
    const pieces = [{ offset: index * BUFFER, length: BUFFER }];
    for (let chunk = 0; chunk < chunksPerRecord(header.layout); chunk++) pieces.push({ offset: index * BUFFER + chunk * CHUNK, length: CHUNK });
    pieces.forEach(({ offset, length }, slot) => {
      const entry = record.subarray(slot * digestLength, (slot + 1) * digestLength);
      if (isUnknownDigest(entry)) return;
      known++;
      const held = createHash('sha1').update(destinationBytes.subarray(offset, offset + length)).digest();
      t.true(entry.equals(held), `entry ${index}/${slot} claims only what the destination holds`);
    });
  }
  t.log(`${known} entries known after the failure`);
  t.false(sourceBytes.equals(destinationBytes), 'the run stopped before the end');

  const rerun = await runInProcess(args, 4);
  t.is(rerun.code, 0, rerun.stderr);
  assertSameBytes(t, source, destination);
});

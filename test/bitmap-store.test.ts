// BitmapStore and its lock, in process: files created 0600 through a rename, "run in progress" set at
// open and cleared by finish, marks durable before they resolve, digests on disk only after commit,
// version 1 upgraded, mismatches refused with nothing written, one run at a time.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { DESTINATION_KIND, FLAG_RUN_IN_PROGRESS, decodeBitmapFile, type DestinationIdentity } from '../src/shared/bitmap';
import { BitmapError } from '../src/shared/errors';
import { hashByName, type HashAlgorithm } from '../src/shared/hash';
import { BitmapStore, type BitmapRun } from '../src/local/bitmap-store';
import { NO_DESTINATION } from '../src/local/bitmap-identity';
import { bitmapV1 } from './helpers/bitmap-golden';
import { tempDir } from './helpers/images';

const SHA1 = hashByName('SHA1') as HashAlgorithm;
const DESTINATION: DestinationIdentity = { kind: DESTINATION_KIND.SSH, host: 'backup', path: '/dev/vg/copy', size: 40960, deviceId: 0n, fileId: 0n };
const RUN: BitmapRun = { layout: { deviceSize: 40000, bufferSize: 4096, chunkSize: 1024, hash: SHA1 }, destination: DESTINATION, reset: false, update: false };
const digest = (byte: number) => Buffer.alloc(20, byte);

function fixture(t: import('ava').ExecutionContext) {
  const dir = tempDir('basyn-bitmap-');
  t.teardown(() => dir.cleanup());
  return { dir, bitmap: dir.path('bitmap') };
}

const onDisk = (path: string) => decodeBitmapFile(path, readFileSync(path), '');

test('a new bitmap: created 0600 by rename with "run in progress", cleared by finish(), lock released by close()', async (t) => {
  const { dir, bitmap } = fixture(t);
  const store = await BitmapStore.load(bitmap, RUN);
  t.is(store.status.origin, 'new');
  t.true(store.blank);
  t.is(readFileSync(`${bitmap}.lock`, 'utf8').split(' ')[0], String(process.pid));
  await store.open();
  t.is(statSync(bitmap).mode & 0o777, 0o600);
  let file = onDisk(bitmap);
  t.is(file.header.generation, 0);
  t.is(file.header.flags & FLAG_RUN_IN_PROGRESS, FLAG_RUN_IN_PROGRESS);
  t.deepEqual(file.header.destination, DESTINATION);
  await store.finish();
  file = onDisk(bitmap);
  t.is(file.header.generation, 1);
  t.is(file.header.flags, 0);
  t.true(file.header.lastClean > 0);
  await store.close();
  t.deepEqual(readdirSync(dir.dir), ['bitmap'], 'no lock, no temporary file left');

  const again = await BitmapStore.load(bitmap, RUN);
  t.is(again.status.origin, 'existing');
  t.false(again.status.previousRunInterrupted);
  await again.open();
  t.is(onDisk(bitmap).header.generation, 2, 'each run starts with a header write');
  await again.close();
  const third = await BitmapStore.load(bitmap, RUN);
  t.true(third.status.previousRunInterrupted, 'a run that did not finish() is reported');
  await third.close();
});

test('marks are on disk when markUnknown resolves; staged digests only after commit', async (t) => {
  const { bitmap } = fixture(t);
  const first = await BitmapStore.load(bitmap, RUN);
  await first.open();
  first.stage(3, 0, digest(1));
  first.stage(3, 2, digest(2));
  t.is(first.stagedCount, 1);
  const record = (index: number, slot: number) => {
    const file = onDisk(bitmap);
    return file.table.subarray(index * 100 + slot * 20, index * 100 + (slot + 1) * 20);
  };
  t.deepEqual(record(3, 0), Buffer.alloc(20), 'staged is not written');
  await first.commit(first.takeStaged());
  t.deepEqual(record(3, 0), digest(1));
  t.deepEqual(record(3, 2), digest(2));
  t.deepEqual(first.entry(3, 2), digest(2));
  t.is(first.entry(3, 1), undefined);

  await Promise.all([first.markUnknown(3, [2]), first.markUnknown(4)]);
  t.deepEqual(record(3, 0), Buffer.alloc(20));
  t.deepEqual(record(3, 2), Buffer.alloc(20));
  t.is(first.entry(3, 0), undefined);
  await first.finish();
  await first.close();
});

test('a second run on the same bitmap is refused naming the pid; a dead owner\'s lock is taken over', async (t) => {
  const { bitmap } = fixture(t);
  const first = await BitmapStore.load(bitmap, RUN);
  const error = await t.throwsAsync(BitmapStore.load(bitmap, RUN), { instanceOf: BitmapError });
  t.regex(error?.message ?? '', new RegExp(`in use by another basyn run \\(pid ${process.pid}\\)`));
  t.is(error?.code, 'EBITMAPLOCK');
  t.is(error?.exitCode, 1);
  await first.close();

  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  writeFileSync(`${bitmap}.lock`, `${dead.stdout} ${hostname()} 1\n`);
  const taken = await BitmapStore.load(bitmap, RUN);
  t.is(readFileSync(`${bitmap}.lock`, 'utf8').split(' ')[0], String(process.pid));
  await taken.close();

  writeFileSync(`${bitmap}.lock`, `${process.pid} ${hostname()} 1\n`);
  const reused = await BitmapStore.load(bitmap, RUN);
  t.pass('a live pid with another start time is a reused pid: the lock is stale');
  await reused.close();

  writeFileSync(`${bitmap}.lock`, `${dead.stdout} elsewhere.example 1\n`);
  const remote = await t.throwsAsync(BitmapStore.load(bitmap, RUN), { instanceOf: BitmapError });
  t.regex(remote?.message ?? '', new RegExp(`in use by basyn pid ${dead.stdout} on host elsewhere.example.*delete the lock file`));
});

test('a lock that is not a lock basyn wrote is refused, never read through nor removed: a FIFO, a symlink, a foreign text', async (t) => {
  const { dir, bitmap } = fixture(t);
  const lock = `${bitmap}.lock`;
  const refusal = async () => (await t.throwsAsync(BitmapStore.load(bitmap, RUN), { instanceOf: BitmapError }))?.message ?? '';
  const fifo = spawnSync('mkfifo', [lock]);
  if (fifo.status !== 0) t.log(`mkfifo unavailable (${fifo.error?.message ?? fifo.stderr}): the FIFO case is not run`);
  else {
    // A FIFO is refused from its type (opened O_NONBLOCK, never read): this would hang otherwise.
    t.is(await refusal(), `Bitmap lock file ${lock} is not a lock basyn wrote (not a regular file); remove it if no basyn run uses the bitmap`);
    t.true(lstatSync(lock).isFIFO(), 'left as it was');
    unlinkSync(lock);
  }
  writeFileSync(dir.path('elsewhere'), `${process.pid} ${hostname()} 1\n`);
  symlinkSync(dir.path('elsewhere'), lock);
  t.is(await refusal(), `Bitmap lock file ${lock} is not a lock basyn wrote (a symbolic link); remove it if no basyn run uses the bitmap`);
  t.true(lstatSync(lock).isSymbolicLink(), 'left as it was');
  unlinkSync(lock);
  writeFileSync(lock, 'my notes\n');
  t.is(await refusal(), `Bitmap lock file ${lock} is not a lock basyn wrote; move it away if no basyn run uses the bitmap`);
  t.is(readFileSync(lock, 'utf8'), 'my notes\n');
});

test('a version 1 file in bitmap-only mode is upgraded at open(): buffer digests kept, chunk entries unknown', async (t) => {
  const { dir, bitmap } = fixture(t);
  const digests = Array.from({ length: 10 }, (_, index) => digest(index + 1));
  writeFileSync(bitmap, bitmapV1(40000, 4096, 0, digests));
  const store = await BitmapStore.load(bitmap, { ...RUN, destination: NO_DESTINATION });
  t.is(store.status.origin, 'upgraded from version 1');
  t.false(store.blank);
  t.false(store.verify);
  t.is(readFileSync(bitmap).readBigUInt64LE(0), 239840023593485091n, 'not written before open()');
  await store.open();
  const file = onDisk(bitmap);
  t.deepEqual(file.header.destination, NO_DESTINATION);
  for (let index = 0; index < 10; index++) {
    t.deepEqual(file.table.subarray(index * 100, index * 100 + 20), digests[index]);
    t.deepEqual(file.table.subarray(index * 100 + 20, (index + 1) * 100), Buffer.alloc(80));
  }
  t.is(statSync(bitmap).mode & 0o777, 0o600);
  await store.close();
  t.deepEqual(readdirSync(dir.dir), ['bitmap']);
});

test('a version 1 file with a destination is upgraded blank, to be verified: its digests name no destination', async (t) => {
  const { bitmap } = fixture(t);
  writeFileSync(bitmap, bitmapV1(40000, 4096, 0, Array.from({ length: 10 }, (_, index) => digest(index + 1))));
  const store = await BitmapStore.load(bitmap, RUN);
  t.is(store.status.origin, 'upgraded from version 1, compared with the destination');
  t.true(store.blank);
  t.true(store.verify, 'the run compares with the destination (as --update-bitmap)');
  await store.open();
  const file = onDisk(bitmap);
  t.deepEqual(file.header.destination, DESTINATION);
  t.deepEqual(file.table, Buffer.alloc(file.table.length), 'no entry trusted before this run verified it: a cut-short run leaves unknowns');
  await store.close();
});

test('a bitmap of another destination or geometry is refused, nothing written; --update-bitmap takes it over blank', async (t) => {
  const { bitmap } = fixture(t);
  const store = await BitmapStore.load(bitmap, RUN);
  await store.open();
  store.stage(0, 0, digest(7));
  await store.commit(store.takeStaged());
  await store.finish();
  await store.close();
  const before = readFileSync(bitmap);

  const other = { ...RUN, destination: { ...DESTINATION, host: 'elsewhere' } };
  const error = await t.throwsAsync(BitmapStore.load(bitmap, other), { instanceOf: BitmapError });
  t.regex(error?.message ?? '', /describes \/dev\/vg\/copy on backup, but this run's destination is \/dev\/vg\/copy on elsewhere.*--update-bitmap.*--reset-bitmap/);
  const chunk = await t.throwsAsync(BitmapStore.load(bitmap, { ...RUN, layout: { ...RUN.layout, chunkSize: 0 } }), { instanceOf: BitmapError });
  t.regex(chunk?.message ?? '', /chunk size mismatch.*use --chunk 1, or pass --update-bitmap/);
  t.deepEqual(readFileSync(bitmap), before);

  const taken = await BitmapStore.load(bitmap, { ...other, update: true });
  t.is(taken.status.origin, 'taken over');
  t.regex(taken.status.mismatch ?? '', /elsewhere/);
  t.is(taken.entry(0), undefined, 'entries of another destination are not trusted');
  await taken.open();
  t.is(onDisk(bitmap).header.destination.host, 'elsewhere');
  await taken.close();

  writeFileSync(bitmap, 'garbage that is not a bitmap');
  await t.throwsAsync(BitmapStore.load(bitmap, { ...RUN, update: true }), { message: /bad magic/ }, '--update-bitmap never overwrites a file that is not a bitmap');
});

// The power-loss test file system itself (test/helpers/powerloss/README.md): what survives a power cut
// is exactly what was made durable, by the rules its README states.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import {
  closeSync, existsSync, fdatasyncSync, fsyncSync, ftruncateSync, linkSync, openSync, readFileSync, readSync, renameSync, statSync,
  unlinkSync, writeFileSync, writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { PowerLossFs, powerLossUnavailable, type PowerLossOptions } from './helpers/powerloss/mount';

/** Mounts a fresh file system for one test and always unmounts it. */
async function withFs(body: (fs: PowerLossFs) => Promise<void> | void, options?: PowerLossOptions): Promise<void> {
  const fs = await PowerLossFs.mount(options);
  try {
    await body(fs);
  } finally {
    await fs.stop();
  }
}

const unavailable = powerLossUnavailable();
/** Skipped, with the reason in its title, where the file system cannot be mounted (not root, no FUSE). */
function fsTest(title: string, body: (t: ExecutionContext) => Promise<void>): void {
  if (unavailable) test.skip(`${title} (needs: ${unavailable})`, body);
  else test(title, body);
}

function fsyncPath(path: string, data = true): void {
  const fd = openSync(path, 'r');
  try {
    if (data) fsyncSync(fd);
    else fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(path: string): void {
  fsyncPath(dirname(path));
}

/** A file whose bytes and name are durable. */
function durableFile(path: string, data: Buffer): void {
  writeFileSync(path, data);
  fsyncPath(path);
  fsyncDir(path);
}

function overwrite(path: string, offset: number, data: Buffer, sync: 'fsync' | 'fdatasync' | 'none'): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, data, 0, data.length, offset);
    if (sync === 'fsync') fsyncSync(fd);
    if (sync === 'fdatasync') fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

fsTest('powerloss fs: a write made durable by fsync or fdatasync survives a power cut', async (t) => {
  await withFs(async (fs) => {
    const old = randomBytes(300_000);
    durableFile(fs.path('a'), old);
    durableFile(fs.path('b'), old);
    const expected = Buffer.from(old);
    const patchBytes = randomBytes(70_000);
    patchBytes.copy(expected, 12_345);
    overwrite(fs.path('a'), 12_345, patchBytes, 'fsync');
    overwrite(fs.path('b'), 12_345, patchBytes, 'fdatasync');
    t.true(readFileSync(fs.path('a')).equals(expected));
    await fs.powerCycle();
    t.true(readFileSync(fs.path('a')).equals(expected), 'fsynced write lost');
    t.true(readFileSync(fs.path('b')).equals(expected), 'fdatasynced write lost');
  });
});

fsTest('powerloss fs: a write not synced is visible until the power cut, and gone after it', async (t) => {
  await withFs(async (fs) => {
    const old = randomBytes(200_000);
    durableFile(fs.path('a'), old);
    const update = randomBytes(50_000);
    overwrite(fs.path('a'), 100_001, update, 'none');
    // Visible while the power is on (to another open of the file too: nothing is cached per handle)...
    t.true(readFileSync(fs.path('a')).subarray(100_001, 150_001).equals(update));
    t.true(fs.counters().dirty_pages > 0);
    await fs.powerCycle();
    // ...and after the cut the file is what the last fsync left.
    t.true(readFileSync(fs.path('a')).equals(old), 'an unsynced write survived the cut');
    t.is(fs.counters().dirty_pages, 0);
  });
});

fsTest('powerloss fs: sizes (append, truncate) are durable only after fsync or fdatasync of the file', async (t) => {
  await withFs(async (fs) => {
    const old = randomBytes(10_000);
    durableFile(fs.path('grow'), old);
    durableFile(fs.path('shrink'), old);
    durableFile(fs.path('synced'), old);
    overwrite(fs.path('grow'), 10_000, randomBytes(5_000), 'none');
    const fd = openSync(fs.path('shrink'), 'r+');
    ftruncateSync(fd, 3_000);
    // Shrunk then grown again, the cut-off bytes read as zeros, not as their old durable content.
    ftruncateSync(fd, 9_000);
    closeSync(fd);
    t.true(readFileSync(fs.path('shrink')).equals(Buffer.concat([old.subarray(0, 3_000), Buffer.alloc(6_000)])));
    const synced = openSync(fs.path('synced'), 'r+');
    ftruncateSync(synced, 4_096 + 7);
    fdatasyncSync(synced);
    closeSync(synced);
    t.is(statSync(fs.path('grow')).size, 15_000);
    await fs.powerCycle();
    t.is(statSync(fs.path('grow')).size, 10_000, 'an unsynced append changed the durable size');
    t.true(readFileSync(fs.path('grow')).equals(old));
    t.true(readFileSync(fs.path('shrink')).equals(old), 'an unsynced truncate reached the disk');
    t.true(readFileSync(fs.path('synced')).equals(old.subarray(0, 4_103)), 'an fdatasynced truncate was lost');
  });
});

fsTest('powerloss fs: names (create, rename, unlink, link) are durable only after fsync of their directory', async (t) => {
  await withFs(async (fs) => {
    const first = randomBytes(20_000);
    const second = randomBytes(20_000);
    durableFile(fs.path('target'), first);
    durableFile(fs.path('doomed'), first);
    // A new file with its data fsynced, but not its directory: it does not exist after the cut.
    writeFileSync(fs.path('orphan'), second);
    fsyncPath(fs.path('orphan'));
    // Temp + fsync + rename without the directory fsync: the old file is back after the cut.
    writeFileSync(fs.path('target.tmp'), second);
    fsyncPath(fs.path('target.tmp'));
    renameSync(fs.path('target.tmp'), fs.path('target'));
    unlinkSync(fs.path('doomed'));
    linkSync(fs.path('target'), fs.path('hardlink'));
    t.true(readFileSync(fs.path('target')).equals(second));
    await fs.powerCycle();
    t.false(existsSync(fs.path('orphan')), 'a name survived without a directory fsync');
    t.true(readFileSync(fs.path('target')).equals(first), 'a rename survived without a directory fsync');
    t.false(existsSync(fs.path('target.tmp')));
    t.true(readFileSync(fs.path('doomed')).equals(first), 'an unlink survived without a directory fsync');
    t.false(existsSync(fs.path('hardlink')));

    // The same steps with the directory fsync: all durable.
    writeFileSync(fs.path('target.tmp'), second);
    fsyncPath(fs.path('target.tmp'));
    renameSync(fs.path('target.tmp'), fs.path('target'));
    unlinkSync(fs.path('doomed'));
    writeFileSync(fs.path('empty-data'), second); // its name made durable, its data never synced
    fsyncDir(fs.path('target'));
    await fs.powerCycle();
    t.true(readFileSync(fs.path('target')).equals(second), 'rename + directory fsync lost');
    t.false(existsSync(fs.path('target.tmp')));
    t.false(existsSync(fs.path('doomed')), 'unlink + directory fsync lost');
    t.is(statSync(fs.path('empty-data')).size, 0, 'data that was never synced survived under a durable name');
  });
});

fsTest('powerloss fs: a file keeps its inode number across power cuts', async (t) => {
  await withFs(async (fs) => {
    durableFile(fs.path('image'), randomBytes(5_000));
    const before = statSync(fs.path('image')).ino;
    await fs.powerCycle();
    t.is(statSync(fs.path('image')).ino, before);
  });
});

fsTest('powerloss fs: reads overlapping the chosen range fail with EIO, others succeed, until cleared', async (t) => {
  await withFs(async (fs) => {
    const data = randomBytes(1 << 20);
    durableFile(fs.path('source'), data);
    fs.failRead('source', 600_000, 10);
    const fd = openSync(fs.path('source'), 'r');
    try {
      const buffer = Buffer.alloc(65_536);
      t.is(readSync(fd, buffer, 0, 65_536, 0), 65_536);
      t.true(buffer.equals(data.subarray(0, 65_536)));
      t.is(readSync(fd, buffer, 0, 65_536, 600_010), 65_536, 'a read just past the range must succeed');
      t.throws(() => readSync(fd, buffer, 0, 1, 600_009), { code: 'EIO' });
      t.throws(() => readSync(fd, buffer, 0, 65_536, 600_000 - 65_535), { code: 'EIO' });
      t.throws(() => readFileSync(fs.path('source')), { code: 'EIO' });
      t.true(fs.counters().read_faults >= 3, 'every failed read was an injected fault');
      fs.clearFaults();
      t.is(readSync(fd, buffer, 0, 1, 600_009), 1);
    } finally {
      closeSync(fd);
    }
  });
});

fsTest('powerloss fs: with --writeback, unsynced pages may survive a cut, each whole and in any order', async (t) => {
  await withFs(async (fs) => {
    const old = randomBytes(64 * 4096);
    durableFile(fs.path('a'), old);
    const fresh = randomBytes(old.length);
    for (let page = 0; page < 64; page++) overwrite(fs.path('a'), page * 4096, fresh.subarray(page * 4096, (page + 1) * 4096), 'none');
    t.true(fs.counters().writeback_pages > 0);
    await fs.powerCycle();
    const after = readFileSync(fs.path('a'));
    let survived = 0;
    for (let page = 0; page < 64; page++) {
      const bytes = after.subarray(page * 4096, (page + 1) * 4096);
      if (bytes.equals(fresh.subarray(page * 4096, (page + 1) * 4096))) survived++;
      else t.true(bytes.equals(old.subarray(page * 4096, (page + 1) * 4096)), `page ${page} is neither old nor new`);
    }
    t.true(survived > 0 && survived < 64, `${survived} of 64 unsynced pages survived`);
  }, { writeback: 0.5, seed: 7 });
});

fsTest('powerloss fs: with fsyncDelayMs, fsync, fdatasync and a directory fsync each take at least that long', async (t) => {
  await withFs((fs) => {
    durableFile(fs.path('a'), randomBytes(4096));
    for (const sync of [() => fsyncPath(fs.path('a')), () => fsyncPath(fs.path('a'), false), () => fsyncDir(fs.path('a'))]) {
      const started = Date.now();
      sync();
      t.true(Date.now() - started >= 250, 'the flush took its delay');
    }
  }, { fsyncDelayMs: 250 });
});

// `basyn patch`: apply a patch file to a target, all or nothing (patch-format.md §4-5).
//
//   1. the whole patch is read and checked (framing, every record and digest, trailer, checksum);
//   2. the target is checked: its size, and each range's pre-image digest (basyn patches), which
//      also tells "already applied" (every range holds its post-image) from "wrong target";
//   3. only then: an undo journal is created, and for each batch of records the pre-images are
//      appended to it and flushed *before* the ranges are overwritten; the target is flushed at the
//      end and the journal removed. A killed apply leaves the journal: `basyn patch` again finishes
//      it (records are rewritten, which is idempotent), `basyn patch --rollback` restores the pre-images.
// Runs wherever the target is: in the controller for a local target, in the agent for a remote one.
import { promises as fs } from 'node:fs';
import { basynError, systemErrorText } from '../shared/errors';
import type { SizeMode } from '../shared/patch-format';
import { Device } from './device';
import { Journal, journalPath, type JournalEntry } from './patch-journal';
import { checkPatch, forEachRecord, type ApplyRecord, type PatchSummary } from './patch-reader';
import { patchDigest } from '../shared/hash';

export interface ApplyJob {
  readonly patchPath: string;
  readonly target: string;
  readonly stateDir: string;
  /** --diffsize; undefined: the patch's own (basyn) or strict (bdsync). */
  readonly sizeMode?: SizeMode;
  readonly log: (text: string) => void;
}

export type ApplyOutcome = 'applied' | 'resumed' | 'already-applied' | 'rolled-back';

/** Pre-images journalled (and flushed) at once before their ranges are written: this many bytes or records. */
const BATCH_BYTES = 8 * 1024 * 1024;
const BATCH_RECORDS = 16;

async function mustExist(target: string): Promise<void> {
  await fs.stat(target).catch((error) => { throw basynError('PATCH_TARGET_UNREADABLE', target, systemErrorText(error)); });
}

export async function applyPatch(job: ApplyJob): Promise<ApplyOutcome> {
  await mustExist(job.target);
  const summary = await checkPatch(job.patchPath);
  job.log(`patch checked: ${summary.format} format, ${summary.recordCount} records, ${summary.totalLength} bytes`);
  const path = await journalPath(job.stateDir, job.target);
  const journalled = await Journal.read(path);
  if (journalled && !journalled.header.patch.equals(summary.fileDigest)) {
    throw basynError('PATCH_OTHER_APPLY_JOURNALLED', job.target, path);
  }
  const device = await Device.open(job.target, true);
  try {
    const sizeMode = job.sizeMode ?? summary.sizeMode ?? 'strict';
    const finalSize = journalled ? journalled.header.sizeAfter : await plannedSize(summary, sizeMode, device, job.target);
    const journalledEnd = journalled ? endOf(journalled.entries) : 0;

    if (summary.format === 'basyn') {
      const state = await checkTarget(job.patchPath, device, summary, journalledEnd, finalSize);
      if (!journalled && state === 'post') {
        job.log('already applied: the target holds the patch\'s result');
        return 'already-applied';
      }
    }

    const journal = journalled
      ? await Journal.reopen(path, journalled.validEnd)
      : await Journal.create(path, { patch: summary.fileDigest, sizeBefore: device.size, sizeAfter: finalSize, target: job.target });
    try {
      if (finalSize > device.size) await fs.truncate(job.target, finalSize); // grows with holes; rollback truncates back
      await writeRecords(job.patchPath, device, journal, journalledEnd, finalSize);
      await device.flush();
    } finally {
      await journal.close();
    }
    await Journal.remove(path);
    return journalled ? 'resumed' : 'applied';
  } finally {
    await device.close();
  }
}

/** `basyn patch --rollback TARGET`: the journalled pre-images go back, then the size, then the journal. */
export async function rollbackPatch(job: Omit<ApplyJob, 'patchPath' | 'sizeMode'>): Promise<ApplyOutcome> {
  await mustExist(job.target);
  const path = await journalPath(job.stateDir, job.target);
  const journalled = await Journal.read(path);
  if (!journalled) throw basynError('PATCH_NOTHING_TO_ROLL_BACK', job.target, path);
  const handle = await fs.open(path, 'r');
  const device = await Device.open(job.target, true);
  try {
    for (const entry of journalled.entries) {
      const data = Buffer.alloc(entry.length);
      await handle.read(data, 0, entry.length, entry.position);
      await device.write(entry.offset, data);
    }
    await device.flush();
  } finally {
    await device.close();
    await handle.close();
  }
  if (journalled.header.sizeAfter !== journalled.header.sizeBefore) await truncateDurably(job.target, journalled.header.sizeBefore);
  await Journal.remove(path);
  job.log(`rolled back ${journalled.entries.length} ranges`);
  return 'rolled-back';
}

/**
 * The size goes back and is made durable before the journal is removed: otherwise a power cut could
 * leave the grown size with no journal left to say what it was.
 */
async function truncateDurably(target: string, size: number): Promise<void> {
  const handle = await fs.open(target, 'r+');
  try {
    await handle.truncate(size);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function endOf(entries: JournalEntry[]): number {
  return entries.reduce((end, entry) => Math.max(end, entry.offset + entry.length), 0);
}

/** The target's size after the patch, or why the patch does not fit this target (exit 2, nothing written). */
async function plannedSize(summary: PatchSummary, mode: SizeMode, device: Device, target: string): Promise<number> {
  const size = device.size;
  if (summary.targetSize !== undefined && size !== summary.targetSize && size !== summary.sourceSize) {
    throw basynError('PATCH_WRONG_TARGET_SIZE', target, size, summary.targetSize);
  }
  if (size === summary.sourceSize) return size;
  if (mode === 'strict') {
    throw basynError('PATCH_SIZE_STRICT', target, size, summary.sourceSize);
  }
  if (mode === 'minsize') return size;
  const stat = await fs.stat(target);
  if (!stat.isFile()) throw basynError('PATCH_RESIZE_NOT_A_FILE', target);
  if (summary.sourceSize < size) throw basynError('PATCH_RESIZE_SHRINKS', target, size, summary.sourceSize);
  return summary.sourceSize;
}

/**
 * Compares each range not yet journalled with its pre- and post-image digests: 'pre' (apply),
 * 'post' (already applied), or a PatchError naming the first range that is neither.
 */
async function checkTarget(patchPath: string, device: Device, summary: PatchSummary, journalledEnd: number, finalSize: number): Promise<'pre' | 'post'> {
  let allPost = device.size === finalSize;
  let allPre = true;
  let firstBad: string | undefined;
  await forEachRecord(patchPath, async (record) => {
    if (record.offset < journalledEnd) return; // being rewritten: its pre-image is in the journal
    const inside = Math.max(0, Math.min(record.length, device.size - record.offset));
    const found = inside === record.length ? patchDigest(record.digest, await device.read(record.offset, inside)) : undefined;
    const post = found !== undefined && record.postImage !== undefined && found.equals(record.postImage);
    const pre = record.preImage === undefined || (found !== undefined && found.equals(record.preImage));
    allPost &&= post;
    if (!pre) {
      allPre = false;
      firstBad ??= `range ${record.offset}+${record.length} holds neither the patch's pre-image nor its result`;
    }
  });
  if (allPost) return 'post';
  if (allPre) return 'pre';
  throw basynError('PATCH_WRONG_TARGET', firstBad ?? '');
}

/** Journals and writes the records in batches; ranges below `journalledEnd` are only rewritten. */
async function writeRecords(patchPath: string, device: Device, journal: Journal, journalledEnd: number, limit: number): Promise<void> {
  let batch: Array<{ record: ApplyRecord; data: Buffer; length: number }> = [];
  let batchBytes = 0;
  const flushBatch = async () => {
    const fresh = batch.filter(({ record }) => record.offset >= journalledEnd);
    if (fresh.length > 0) {
      const preImages = await Promise.all(fresh.map(async ({ record, length }) => ({ offset: record.offset, data: await device.read(record.offset, length) })));
      await journal.append(preImages); // durable before the first byte of these ranges changes
    }
    for (const { record, data, length } of batch) await device.write(record.offset, data.subarray(0, length));
    batch = [];
    batchBytes = 0;
  };
  await forEachRecord(patchPath, async (record) => {
    const length = Math.max(0, Math.min(record.length, limit - record.offset)); // minsize: clipped to the target
    if (length === 0) return;
    const data = Buffer.from(await record.data());
    batch.push({ record, data, length });
    batchBytes += length;
    if (batchBytes >= BATCH_BYTES || batch.length >= BATCH_RECORDS) await flushBatch();
  });
  await flushBatch();
}

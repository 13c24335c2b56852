// -a/-m: the sync itself (the engine between the destination's open for writing and its final
// flush), the run's one chunk-size decision, and bitmap-only mode's report of what changed.
import { BasynError, basynError, systemErrorText } from '../shared/errors';
import { bufferExtent, type Extent } from '../shared/geometry';
import type { BitmapStore } from './bitmap-store';
import { describeBitmap } from './bitmap-identity';
import { runEngine } from './engine';
import type { Options } from './options';
import type { Reporter } from './progress';
import type { Side } from './session-agents';
import { CHANGES_FILE } from './session-checks';
import { bitmapResumedText, CHECKPOINT_EVERY_MS, noCheckpointReason, openCheckpoint, reportBitmapResume, resumedRangeText } from './resume';
import { runLaterPasses } from './source-passes';
import { replaceStateFile } from './state-file';

export interface SyncFigures {
  /** Resume: the offset this run started at (0: from the start). */
  resumedFrom: number;
  /** Passes run (--passes), and what the later ones found changed on the source and sent again. */
  passes: number;
  sourceChangedRanges: number;
  sourceChangedBytes: number;
  changedBuffers: number;
  changedBytes: number;
  writtenBytes: number;
}

/** A run without a sync (a check, a recheck alone): every figure 0. */
export const NO_SYNC: SyncFigures = { resumedFrom: 0, passes: 0, sourceChangedRanges: 0, sourceChangedBytes: 0, changedBuffers: 0, changedBytes: 0, writtenBytes: 0 };

/** -a/-m: the sync itself, from opening the destination for writing to its final flush. */
export async function syncDevices(
  options: Options, reporter: Reporter, seed: bigint, source: Side, destination: Side | undefined, bitmap?: BitmapStore, changesPath?: string,
): Promise<SyncFigures> {
  if (!options.action || !options.mode) return { ...NO_SYNC };
  const chunkSize = runChunkSize(options, bitmap);
  // The checkpoint is read before the destination is opened for writing (a foreign file where it goes
  // stops the run with nothing written). Bitmap-only runs write no destination: nothing to resume. A
  // -b run keeps no checkpoint: its bitmap is one (resume.ts), and it never skips a prefix.
  const noCheckpoint = bitmap ? undefined : noCheckpointReason(options);
  if (noCheckpoint) reporter.verbose(noCheckpoint);
  const checkpoint = destination && !bitmap && !noCheckpoint
    ? await openCheckpoint(options, reporter, { ...source, role: source.peer.role }, { ...destination, role: destination.peer.role }, chunkSize)
    : undefined;
  const resumeAt = checkpoint?.resume.offset ?? 0;
  let savesFailed = false;
  if (destination) destination.size = await destination.peer.open(destination.path, true, options.hash, seed);
  // Status as loaded, before open() marks this run in progress. (Also from a snapshot source: the
  // whole new snapshot is hashed, so nothing of the last one is taken for it.)
  const bitmapResumed = bitmap && destination ? reportBitmapResume(bitmap, reporter, source.size, options.resume) : undefined;
  await bitmap?.open();
  if (bitmap) for (const line of describeBitmap(bitmap, Boolean(destination))) reporter.verbose(line);
  reporter.verbose(`Starting to ${options.action} / ${options.mode} data with buffer size ${options.bufferSize}B`);

  const progress = reporter.startProgress(bitmap && !destination ? 'BITMAP' : options.mode, source.size);
  if (resumeAt > 0) progress.advance(resumeAt);
  try {
    const result = await runEngine({
      startIndex: Math.ceil(resumeAt / options.bufferSize), // a buffer boundary, or the end
      checkpoint: checkpoint && {
        save: async (offset) => {
          // A checkpoint that cannot be saved leaves the last one (it claims less): resume then restarts
          // from there, the sync goes on. Its removal at the end must succeed, though (checkpoint.remove).
          if (savesFailed) return;
          try {
            await checkpoint.save(offset);
            reporter.debug(`checkpoint saved: ${offset} bytes synced and flushed`);
          } catch (error) {
            savesFailed = true;
            reporter.warn(`no more resume checkpoints for this run: ${(error as Error).message}`);
          }
        },
        everyMs: CHECKPOINT_EVERY_MS,
      },
      mode: options.mode,
      source: source.peer,
      destination: destination?.peer,
      size: source.size,
      bufferSize: options.bufferSize,
      chunkSize,
      zlevel: options.zlevel,
      bitmap,
      updateBitmap: options.updateBitmap || Boolean(bitmap?.verify),
      compareUnknown: !options.resetBitmap,
      onProgress: (bytes) => progress.advance(bytes),
      onChanged: (bytes) => progress.changed(bytes),
      debug: options.debug ? (text) => reporter.debug(text) : undefined,
    });
    for (const range of result.changed) reporter.range('changed', range);
    // runEngine ends with a FLUSH of the destination: "finished" follows its acknowledgement.
    progress.stop();
    reporter.verbose(`${options.action} / ${options.mode} finished: ${result.changedBytes} bytes differed, ${result.sentBytes} bytes written`);
    if (bitmap && !destination) await reportChanges(reporter, result.changed, result.changedBytes, changesPath);

    // --passes: what changed on the source while it was being sent goes again (source-passes.ts).
    let writtenBytes = result.sentBytes;
    // Without a bitmap, a later pass compares chunk by chunk (only the chunks sent are read again); a
    // bitmap's entries are per buffer (and its chunks within), so with -b it visits whole buffers.
    const passUnit = !bitmap && chunkSize > 0 ? chunkSize : options.bufferSize;
    const passes = destination
      ? await runLaterPasses({
        passes: options.passes,
        bufferSize: passUnit,
        sent: result.changed,
        runPass: async (indexes, pass) => {
          const bytes = indexes.reduce((sum, index) => sum + bufferExtent(index, source.size, passUnit).length, 0);
          reporter.verbose(`Pass ${pass}: comparing again the ${indexes.length} ranges of ${passUnit} bytes (${bytes} bytes) the previous pass sent`);
          const display = reporter.startProgress('PASS', bytes);
          try {
            const again = await runEngine({
              mode: 'SYNC', indexes, source: source.peer, destination: destination.peer, size: source.size, bufferSize: passUnit,
              chunkSize: passUnit === options.bufferSize ? chunkSize : 0, zlevel: options.zlevel, bitmap, updateBitmap: false, compareUnknown: !options.resetBitmap,
              onProgress: (done) => display.advance(done), onChanged: (changed) => display.changed(changed),
              debug: options.debug ? (text) => reporter.debug(text) : undefined,
            });
            writtenBytes += again.sentBytes;
            return again;
          } finally {
            display.stop();
          }
        },
      })
      : { passes: 1, resent: [], resentBytes: 0, stillChanging: false };
    for (const range of passes.resent) reporter.range('resent', range);
    if (passes.resent.length > 0) {
      reporter.warn(`source changed during the sync: ${passes.resent.length} range${passes.resent.length === 1 ? '' : 's'}, ${passes.resentBytes} bytes`
        + ` (sent again${passes.stillChanging ? `; still changing in pass ${passes.passes}` : ''}); use a snapshot for a point-in-time copy`);
    } else if (passes.passes > 1) {
      reporter.verbose(`Source stable during the sync: pass ${passes.passes} found nothing changed in what was sent`);
    }

    await checkpoint?.remove();
    if (resumeAt > 0) reporter.print(`${resumedRangeText(resumeAt, source.size)}\n`);
    if (bitmapResumed !== undefined) reporter.print(`${bitmapResumedText(result.changedBuffers, result.changedBytes)}\n`);
    return {
      resumedFrom: resumeAt, passes: passes.passes, sourceChangedRanges: passes.resent.length, sourceChangedBytes: passes.resentBytes,
      changedBuffers: result.changedBuffers, changedBytes: result.changedBytes, writtenBytes,
    };
  } finally {
    progress.stop();
  }
}

/**
 * The one decision on the run's chunk size: a bitmap's own when there is one (an existing bitmap keeps
 * it over a defaulted --chunk; an explicit --chunk that differs has been refused by BitmapStore.load),
 * else --chunk or its default.
 */
export function runChunkSize(options: Options, bitmap?: BitmapStore): number {
  return bitmap ? bitmap.layout.chunkSize : options.chunkSize;
}

/** Bitmap-only mode: what changed on the source since the bitmap was last updated. */
export async function reportChanges(reporter: Reporter, changed: Extent[], bytes: number, changesPath?: string): Promise<void> {
  reporter.print(`Changed since last run: ${bytes} bytes in ${changed.length} range${changed.length === 1 ? '' : 's'}\n`);
  for (const range of changed) reporter.verbose(`changed: offset ${range.offset} length ${range.length}`);
  if (changesPath) {
    const text = changed.map((range) => `${range.offset} ${range.length}\n`).join('');
    try {
      await replaceStateFile(changesPath, text, CHANGES_FILE);
    } catch (error) {
      if (error instanceof BasynError) throw error;
      throw basynError('CHANGES_FILE_IO', changesPath, systemErrorText(error));
    }
  }
}

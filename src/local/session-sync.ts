// -a/-m: the sync itself (the engine between the destination's open for writing and its final
// flush), the run's one chunk-size decision, and bitmap-only mode's report of what changed.
import { BasynError, SyncError, describeSystemError } from '../shared/errors';
import type { Extent } from '../shared/geometry';
import type { BitmapStore } from './bitmap-store';
import { describeBitmap } from './bitmap-identity';
import { runEngine } from './engine';
import type { Options } from './options';
import type { Reporter } from './progress';
import type { Side } from './session-agents';
import { CHANGES_FILE } from './session-checks';
import { replaceStateFile } from './state-file';

export interface SyncFigures {
  changedBuffers: number;
  changedBytes: number;
  writtenBytes: number;
}

/** -a/-m: the sync itself, from opening the destination for writing to its final flush. */
export async function syncDevices(
  options: Options, reporter: Reporter, seed: bigint, source: Side, destination: Side | undefined, bitmap?: BitmapStore, changesPath?: string,
): Promise<SyncFigures> {
  const none = { changedBuffers: 0, changedBytes: 0, writtenBytes: 0 };
  if (!options.action || !options.mode) return none;
  if (destination) destination.size = await destination.peer.open(destination.path, true, options.hash, seed);
  await bitmap?.open();
  if (bitmap) for (const line of describeBitmap(bitmap, Boolean(destination))) reporter.verbose(line);
  reporter.verbose(`Starting to ${options.action} / ${options.mode} data with buffer size ${options.bufferSize}B`);

  const progress = reporter.startProgress(bitmap && !destination ? 'BITMAP' : options.mode, source.size);
  try {
    const result = await runEngine({
      mode: options.mode,
      source: source.peer,
      destination: destination?.peer,
      size: source.size,
      bufferSize: options.bufferSize,
      chunkSize: runChunkSize(options, bitmap),
      zlevel: options.zlevel,
      bitmap,
      updateBitmap: options.updateBitmap || Boolean(bitmap?.verify),
      onProgress: (bytes) => progress.advance(bytes),
      onChanged: (bytes) => progress.changed(bytes),
      debug: options.debug ? (text) => reporter.debug(text) : undefined,
    });
    for (const range of result.changed) reporter.range('changed', range);
    // runEngine ends with a FLUSH of the destination: "finished" follows its acknowledgement.
    progress.stop();
    reporter.verbose(`${options.action} / ${options.mode} finished: ${result.changedBytes} bytes differed, ${result.sentBytes} bytes written`);
    if (bitmap && !destination) await reportChanges(reporter, result.changed, result.changedBytes, changesPath);
    return { changedBuffers: result.changedBuffers, changedBytes: result.changedBytes, writtenBytes: result.sentBytes };
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
      throw new SyncError(describeSystemError(error, `Changes file ${changesPath}`), 'ECHANGESIO');
    }
  }
}

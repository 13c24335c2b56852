// --passes N (issue 11): the source changing while a sync runs. After the main pass, each later pass
// visits again only the buffers the previous pass sent something in, and compares the source as it is
// now with what was sent (the destination's digests, or with -b the bitmap's digests of the bytes
// forwarded): ranges that changed in between are sent again, through the same engine and with the
// same ordering rules (bitmap marks, FLUSH before commit). It stops after N passes in all, or at the
// first pass that finds nothing changed. The result says whether the source was stable, so the
// session can tell the user to sync from a snapshot when it was not.
//
// What a later pass costs: a re-read of the buffers sent (both sides without -b, the source with -b);
// after a COPY that is everything. docs/benchmarks.md has the measured figure for the 1 % SYNC case.
import type { Extent } from '../shared/geometry';
import type { EngineResult } from './engine';

export interface PassesJob {
  /** Passes in all, the main one included (--passes); 1: no later pass. */
  readonly passes: number;
  readonly bufferSize: number;
  /** What the main pass found different and sent. */
  readonly sent: readonly Extent[];
  /** Runs one later pass (number `pass`, from 2) over these buffers, ascending; resolves with what it found changed and sent again. */
  readonly runPass: (indexes: number[], pass: number) => Promise<EngineResult>;
}

export interface PassesResult {
  /** Passes run, the main one included. */
  readonly passes: number;
  /** Source ranges the later passes found changed (and sent again), merged. */
  readonly resent: Extent[];
  readonly resentBytes: number;
  /** A pass after the first later one still found changes: the source kept changing in what was sent again. */
  readonly stillChanging: boolean;
}

/** The buffers `extents` touch, ascending, each once. */
export function buffersOf(extents: readonly Extent[], bufferSize: number): number[] {
  const indexes: number[] = [];
  for (const extent of extents) {
    const first = Math.floor(extent.offset / bufferSize);
    const last = Math.floor((extent.offset + extent.length - 1) / bufferSize);
    for (let index = Math.max(first, (indexes[indexes.length - 1] ?? -1) + 1); index <= last; index++) indexes.push(index);
  }
  return indexes;
}

export async function runLaterPasses(job: PassesJob): Promise<PassesResult> {
  const resent: Extent[] = [];
  let previous: readonly Extent[] = job.sent;
  let pass = 1;
  while (pass < job.passes && previous.length > 0) {
    pass++;
    const result = await job.runPass(buffersOf(previous, job.bufferSize), pass);
    resent.push(...result.changed);
    previous = result.changed;
  }
  const merged = mergeSorted(resent);
  return { passes: pass, resent: merged, resentBytes: merged.reduce((sum, extent) => sum + extent.length, 0), stillChanging: previous.length > 0 && pass > 2 };
}

/** The ranges of every later pass (a later pass may find ranges before an earlier one's), sorted and merged. */
function mergeSorted(extents: Extent[]): Extent[] {
  const merged: Extent[] = [];
  for (const extent of [...extents].sort((a, b) => a.offset - b.offset)) {
    const last = merged[merged.length - 1];
    if (last && extent.offset <= last.offset + last.length) {
      merged[merged.length - 1] = { offset: last.offset, length: Math.max(last.offset + last.length, extent.offset + extent.length) - last.offset };
    } else merged.push(extent);
  }
  return merged;
}

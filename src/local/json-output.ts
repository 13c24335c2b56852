// --json: one JSON object per line on stdout, for scripts. The events and their fields are specified in
// docs/json.md (a JSON Schema there is checked against real runs by test/json.test.ts); this file is
// the only writer. Every run that got past the command line ends with exactly one "end" event, errors
// included, carrying the exit code.
import type { Io } from './progress';

/** Range events: `changed` found different and sent by a sync (or, bitmap-only, changed on the source),
 * `resent` changed on the source during the sync and sent again by a later --passes pass, `differs` found different by --recheck, `repaired` sent again by --repair, `mismatch` found by --verify-bitmap. */
export type RangeKind = 'changed' | 'resent' | 'differs' | 'repaired' | 'mismatch';

export interface SideFigures {
  readonly role: 'local' | 'remote';
  readonly path: string;
  readonly size: number;
  /** Device bytes read by its agent (hashed or sent). */
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

/** What a run has done so far; the "end" event carries it. */
export interface RunFigures {
  deviceSize: number;
  /** Resume: the offset this run started at (0: from the start). */
  resumedFrom: number;
  /** Sync passes run (1 + later --passes passes; 0 without a sync), and what the later ones found changed on the source. */
  passes: number;
  sourceChangedRanges: number;
  sourceChangedBytes: number;
  /** Protocol bytes from / to the remote agent (the --stat Rx / Tx). */
  received: number;
  sent: number;
  changedBuffers: number;
  changedBytes: number;
  /** Bytes written to the destination by the sync (after refinement). */
  writtenBytes: number;
  /** Blocks that travelled as a zero marker. */
  zeroBlocks: number;
  sides: SideFigures[];
}


export const BASYN_JSON_VERSION = 1;

export class JsonEvents {
  private readonly started = Date.now();
  private figures: () => Partial<RunFigures> = () => ({});
  private ended = false;
  private invalidated = 0;

  constructor(private readonly io: Io) {}

  emit(event: { type: string } & Record<string, unknown>): void {
    this.io.stdout(`${JSON.stringify({ ...event, time: new Date().toISOString() })}\n`);
  }

  /** The session tells where its figures are, once it has them. */
  track(figures: () => Partial<RunFigures>): void {
    this.figures = figures;
  }

  /** Bitmap entries --recheck or --verify-bitmap invalidated (durably) in this run. */
  countInvalidated(entries: number): void {
    this.invalidated += entries;
  }

  /** The last event: every --stat figure, what changed, what each side read and wrote, the exit code. */
  end(exitCode: number, error?: { code: string; message: string }): void {
    if (this.ended) return;
    this.ended = true;
    const figures = this.figures();
    const seconds = (Date.now() - this.started) / 1000;
    const deviceSize = figures.deviceSize ?? 0;
    const received = figures.received ?? 0;
    const sent = figures.sent ?? 0;
    const both = received + sent;
    const time = Math.max(seconds, 0.001);
    this.emit({
      type: 'end',
      exitCode,
      ...(error ? { error } : {}),
      durationSeconds: Math.round(seconds * 1000) / 1000,
      deviceSize,
      rx: received,
      tx: sent,
      both,
      ratioPercent: deviceSize !== 0 ? (100 * both) / deviceSize : 100,
      bandwidthReal: both / (1024 * time),
      bandwidthEffective: deviceSize / (1024 * time),
      resumedFrom: figures.resumedFrom ?? 0,
      passes: figures.passes ?? 0,
      sourceChangedRanges: figures.sourceChangedRanges ?? 0,
      sourceChangedBytes: figures.sourceChangedBytes ?? 0,
      changedBuffers: figures.changedBuffers ?? 0,
      changedBytes: figures.changedBytes ?? 0,
      writtenBytes: figures.writtenBytes ?? 0,
      zeroBlocks: figures.zeroBlocks ?? 0,
      invalidatedEntries: this.invalidated,
      sides: figures.sides ?? [],
    });
  }
}

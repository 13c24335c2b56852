// The resume checkpoint's rule (checkpoint.ts), in the engine. Buffers finish out of order (a pool of
// workers), so the offset a checkpoint may claim is the frontier: the first buffer not yet done, every
// buffer below it having had all its writes acknowledged (WRITTEN). From time to time the frontier is
// taken, THEN the destination is FLUSHed, and only after that FLUSH is acknowledged is the offset
// saved: the agent handles requests in order, so the FLUSH covers every write acknowledged before it
// was sent. Never the other way round (test/resume-power-cut.test.ts breaks this order on purpose).
import type { Peer } from './peer';

export interface FrontierJob {
  readonly destination: Pick<Peer, 'flush'>;
  /** The first buffer of this run (buffers before it were synced by an interrupted run). */
  readonly startIndex: number;
  readonly bufferSize: number;
  readonly size: number;
  /** Saves the offset (called only after a FLUSH covering every write below it was acknowledged). */
  readonly save: (offset: number) => Promise<void>;
  /** At least this long between two checkpoints (each costs a FLUSH and fsyncs). */
  readonly everyMs: number;
  /** A failed FLUSH or save: the engine stops at once, as for any other error. */
  readonly onError: (error: unknown) => void;
  /** True once the run failed: no FLUSH or save is started after that. */
  readonly stopped: () => boolean;
}

export class DurableFrontier {
  private readonly done = new Set<number>();
  private frontier: number;
  private saved: number;
  private lastSave = Date.now();
  private saving: Promise<void> = Promise.resolve();
  private busy = false;

  constructor(private readonly job: FrontierJob) {
    this.frontier = job.startIndex;
    this.saved = job.startIndex;
  }

  /** Buffer `index` is done: every write of it was acknowledged. Saves a checkpoint when one is due. */
  bufferDone(index: number): void {
    this.done.add(index);
    while (this.done.delete(this.frontier)) this.frontier++;
    if (this.busy || this.frontier <= this.saved || Date.now() - this.lastSave < this.job.everyMs || this.job.stopped()) return;
    this.checkpoint().catch((error: unknown) => this.job.onError(error));
  }

  /** Waits for a checkpoint in progress; rejects with its error. */
  async settle(): Promise<void> {
    await this.saving;
  }

  private checkpoint(): Promise<void> {
    this.busy = true;
    const reached = this.frontier; // taken before the FLUSH is sent: the FLUSH covers its writes
    this.saving = this.saving.then(async () => {
      try {
        if (this.job.stopped()) return;
        await this.job.destination.flush();
        await this.job.save(Math.min(reached * this.job.bufferSize, this.job.size));
        this.saved = reached;
        this.lastSave = Date.now();
      } finally {
        this.busy = false;
      }
    });
    return this.saving;
  }
}

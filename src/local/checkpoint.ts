// Resume checkpoints: the offset up to which every write of a run has been acknowledged AND flushed by
// the destination, so that the same command run again continues from there.
//
// Which runs: those without -b. A -b run keeps none: its bitmap is its checkpoint (resume.ts).
// Where: $XDG_STATE_HOME/basyn/ (default ~/.local/state/basyn/), one file per destination (its host,
// port, user and path), named by a digest of those: a checkpoint describes what a destination holds, so
// a run from another source (or another host) to that destination finds it, ignores it and replaces it.
// What: one line of JSON, {basyn, version, identity, offset, started, saved}. The identity holds every
// parameter that decides which bytes go where (source and destination with their hosts, sizes, buffer,
// chunk, hash, action, mode): a run whose identity differs ignores the checkpoint, says which parameter
// differs, and never applies it.
// How: through state-file.ts, like every file basyn writes: created O_EXCL|O_NOFOLLOW 0600, replaced by
// temp file + fsync + rename + directory fsync (a crash leaves the old checkpoint or the new one, whole),
// and only a file that parses as a basyn checkpoint is ever replaced or removed.
// When: durable-frontier.ts saves an offset only after the FLUSH that covers every write below it was
// acknowledged. A successful run removes the file.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { BasynError, SyncError, basynError, systemErrorText } from '../shared/errors';
import { checkReplaceable, readStateFile, removeStateFile, replaceStateFile, syncDirectory, type StateFileKind } from './state-file';

/** 2: the identity names both sides' hosts (version 1 named the -h host only). */
export const CHECKPOINT_VERSION = 2;

/** Everything that decides which bytes go where: a checkpoint is only valid for the same identity. */
export interface RunIdentity {
  readonly action: string;
  readonly mode: string;
  /** Local paths resolved; remote ones as given. */
  readonly source: string;
  readonly destination: string;
  /** [user@]host[:port] of each side's machine, '' for this one. */
  readonly sourceHost: string;
  readonly destinationHost: string;
  readonly sourceSize: number;
  readonly destinationSize: number;
  readonly bufferSize: number;
  readonly chunkSize: number;
  readonly hash: string;
}

interface CheckpointRecord {
  readonly basyn: 'checkpoint';
  readonly version: number;
  readonly identity: RunIdentity;
  /** Bytes from 0 that are synced and durable. */
  readonly offset: number;
  /** When the run that first wrote this checkpoint started (ms). */
  readonly started: number;
  /** When this offset was saved (ms). */
  readonly saved: number;
}

/** What a run found: where to start, and what to tell the user. */
export interface ResumePoint {
  /** Byte offset to start at (0: from the start). */
  readonly offset: number;
  /** When the interrupted run saved its checkpoint (ms), for the message. */
  readonly saved?: number;
  /** Why an existing checkpoint was not used. */
  readonly ignored?: string;
}

const NAMES: Record<keyof RunIdentity, string> = {
  action: 'action', mode: 'mode', source: 'source', destination: 'destination', sourceHost: 'source host', destinationHost: 'destination host', sourceSize: 'source size',
  destinationSize: 'destination size', bufferSize: 'buffer size', chunkSize: 'chunk size', hash: 'hash',
};

function parse(content: Buffer): CheckpointRecord | undefined {
  try {
    const value = JSON.parse(content.toString('utf8')) as CheckpointRecord;
    if (value?.basyn !== 'checkpoint' || typeof value.version !== 'number' || typeof value.offset !== 'number' || typeof value.identity !== 'object') return undefined;
    return value;
  } catch {
    return undefined;
  }
}

/** A checkpoint file: one JSON line that says it is basyn's. Anything else at its path is refused, never replaced. */
export const CHECKPOINT_FILE: StateFileKind = {
  what: 'Checkpoint',
  probeBytes: 64 * 1024,
  isOurs: (head, size) => head.length === size && parse(head) !== undefined,
  hint: 'basyn only replaces a checkpoint it wrote; move the file away, or set XDG_STATE_HOME to another directory',
};

/** The state directory: $XDG_STATE_HOME/basyn, or ~/.local/state/basyn (a relative XDG_STATE_HOME is ignored, as the spec says). */
export function stateDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(base, 'basyn');
}

/** The checkpoint file of a run: in the state directory, keyed by the destination (host and path). */
export function checkpointPath(identity: Pick<RunIdentity, 'destination' | 'destinationHost'>, env: NodeJS.ProcessEnv = process.env): string {
  const key = createHash('sha256').update(JSON.stringify(['destination', identity.destinationHost, identity.destination])).digest('hex').slice(0, 32);
  return join(stateDirectory(env), `${key}.checkpoint`);
}

function checkpointError(error: unknown, path: string): unknown {
  if (error instanceof BasynError) return error;
  return basynError('CHECKPOINT_IO', path, systemErrorText(error));
}

export class Checkpoint {
  private saving: Promise<void> = Promise.resolve();
  private savedOffset: number;
  /** A file is (or may be) at `path`: a successful run removes it. */
  private present: boolean;

  private constructor(
    /** Resolved once (state-file.ts): every read, save and removal acts on this path. */
    readonly path: string,
    private readonly identity: RunIdentity,
    private readonly started: number,
    readonly resume: ResumePoint,
    present: boolean,
    /** Run once before the first save: makes the state folder (resume.ts). */
    private prepare?: () => Promise<void>,
  ) {
    this.savedOffset = resume.offset;
    this.present = present;
  }

  /**
   * Reads the checkpoint at `path` (resolved). `resume` false (--no-resume): an existing one is ignored
   * (and replaced by this run's). One of another run is ignored with the reason. A file there that is
   * not a basyn checkpoint is refused (StateFileError, exit 1) before anything is written.
   */
  static async open(path: string, identity: RunIdentity, resume: boolean, prepare?: () => Promise<void>): Promise<Checkpoint> {
    const now = Date.now();
    // `prepare` given: the state folder does not exist yet, so neither does a checkpoint.
    if (prepare) return new Checkpoint(path, identity, now, { offset: 0 }, false, prepare);
    let content: Buffer | undefined;
    try {
      content = await readStateFile(path, CHECKPOINT_FILE);
    } catch (error) {
      throw checkpointError(error, path);
    }
    if (!content) return new Checkpoint(path, identity, now, { offset: 0 }, false);
    const stored = parse(content);
    if (!stored) {
      // Refused the way state-file.ts refuses any foreign file: exit 1, left as it is.
      try {
        await checkReplaceable(path, CHECKPOINT_FILE); // throws its refusal: the file is not ours
      } catch (error) {
        throw checkpointError(error, path);
      }
      // An invariant (not a user's error): checkReplaceable refuses every file parse() does not read.
      throw new SyncError(`internal: checkpoint ${path} neither parsed nor refused`);
    }
    if (!resume) return new Checkpoint(path, identity, now, { offset: 0, ignored: 'starting over (--no-resume)' }, true);
    if (stored.version !== CHECKPOINT_VERSION) {
      return new Checkpoint(path, identity, now, { offset: 0, ignored: `it is of version ${stored.version}, this basyn reads version ${CHECKPOINT_VERSION}` }, true);
    }
    const differing = (Object.keys(NAMES) as Array<keyof RunIdentity>).find((key) => stored.identity[key] !== identity[key]);
    if (differing) {
      return new Checkpoint(path, identity, now, {
        offset: 0,
        ignored: `it was made for another run (${NAMES[differing]}: ${String(stored.identity[differing])} then, ${String(identity[differing])} now)`,
      }, true);
    }
    // A buffer boundary inside the source, or the source's end (the run was killed after its last checkpoint).
    const boundary = stored.offset % identity.bufferSize === 0 || stored.offset === identity.sourceSize;
    if (!Number.isSafeInteger(stored.offset) || stored.offset <= 0 || stored.offset > identity.sourceSize || !boundary) {
      return new Checkpoint(path, identity, now, { offset: 0, ignored: `its offset ${stored.offset} is not a buffer boundary inside the source` }, true);
    }
    return new Checkpoint(path, identity, stored.started, { offset: stored.offset, saved: stored.saved }, true);
  }

  /**
   * Records that every byte below `offset` is synced and durable. The caller guarantees that a FLUSH,
   * acknowledged, came after the acknowledgement of every write below `offset`. Saves are serialized.
   */
  save(offset: number): Promise<void> {
    if (offset <= this.savedOffset) return this.saving;
    this.savedOffset = offset;
    this.saving = this.saving.then(() => this.write(offset));
    return this.saving;
  }

  /** The run succeeded: the checkpoint (this run's, or a stale one it ignored) has served. */
  async remove(): Promise<void> {
    await this.saving.catch(() => undefined);
    if (!this.present) return;
    try {
      await removeStateFile(this.path, CHECKPOINT_FILE);
    } catch (error) {
      throw checkpointError(error, this.path);
    }
    this.present = false;
  }

  private async write(offset: number): Promise<void> {
    const record: CheckpointRecord = { basyn: 'checkpoint', version: CHECKPOINT_VERSION, identity: this.identity, offset, started: this.started, saved: Date.now() };
    try {
      await this.prepare?.();
      this.prepare = undefined;
      this.present = true;
      await replaceStateFile(this.path, `${JSON.stringify(record)}\n`, CHECKPOINT_FILE);
    } catch (error) {
      throw checkpointError(error, this.path);
    }
  }
}

/**
 * Makes the state directory (0700) before the first checkpoint is saved there.
 * Throws a StateFileError saying why one cannot be made.
 */
export async function ensureStateDirectory(directory: string): Promise<void> {
  try {
    const first = await fs.mkdir(directory, { recursive: true, mode: 0o700 });
    // Each new directory's name is made durable (fsync of its parent): otherwise a power cut takes the
    // folder away with the checkpoints saved in it (found by test/resume-power-cut.test.ts).
    if (first !== undefined) {
      const created: string[] = [];
      for (let path = directory; path.length >= first.length; path = dirname(path)) created.push(path);
      for (const path of created.reverse()) await syncDirectory(dirname(path));
    }
  } catch (error) {
    throw basynError('STATE_DIRECTORY', directory, systemErrorText(error));
  }
}

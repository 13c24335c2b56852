// Resume as a run uses it, the two kinds in one place:
//
//   without -b   a checkpoint (checkpoint.ts): the offset below which everything was flushed. The rerun
//                skips that prefix: it was synced from the source as it was then (the issue's promise).
//   with -b      the bitmap is the checkpoint, and no other is kept: its entries are committed only
//                after the destination's FLUSH (bitmap-sync.ts), so a rerun that finds the bitmap left
//                by an interrupted run hashes the whole source and sends only what differs from the
//                entries (where one is unknown, from the destination): what the interrupted run
//                already sent is not sent again, and what changed on the source since (anywhere) is.
//                The run says it is continuing ("Resuming from the bitmap: N of M buffers already
//                synced").
//
// Here: the run's identity from its options and devices, where the checkpoint goes, the messages
// ("Resuming at ...", why a checkpoint was ignored, which range this run synced) and the --json
// "resume" event.
import { promises as fs } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Checkpoint, CHECKPOINT_FILE, checkpointPath, ensureStateDirectory, type RunIdentity } from './checkpoint';
import { bufferCount, bufferExtent, chunkExtents } from '../shared/geometry';
import type { BitmapStore } from './bitmap-store';
import type { ConnectionOptions, Options } from './options';
import { humanBytes, type Reporter } from './progress';
import { assertNotSameFile, resolveStatePath, type ForbiddenPlace } from './state-file';

/**
 * Save a checkpoint at most this often (each costs a FLUSH of the destination and two fsyncs); the
 * tests set BASYN_CHECKPOINT_EVERY_MS=0 to save after every buffer.
 */
export const CHECKPOINT_EVERY_MS = Number(process.env.BASYN_CHECKPOINT_EVERY_MS ?? 5000);

export interface Device {
  readonly path: string;
  readonly size: number;
  readonly role: 'local' | 'remote';
}

/** `[user@]host[:port]` of a side's connection, '' when the side is on this machine. */
function hostOf(connection: ConnectionOptions | undefined): string {
  if (connection?.host === undefined) return '';
  const { host, port, user } = connection;
  return `${user === undefined ? '' : `${user}@`}${host}${port === undefined ? '' : `:${port}`}`;
}

export function runIdentity(options: Options, source: Device, destination: Device, chunkSize: number): RunIdentity {
  // The local role's device is on another host in a remote to remote run (options.localConnection).
  const hostOfRole = (device: Device) => hostOf(device.role === 'remote' ? options.connection : options.localConnection);
  // A device on this machine: its path resolved; on another host, as given.
  const where = (device: Device) => (hostOfRole(device) === '' ? resolve(device.path) : device.path);
  return {
    action: options.action ?? '',
    mode: options.mode ?? '',
    source: where(source),
    destination: where(destination),
    sourceHost: hostOfRole(source),
    destinationHost: hostOfRole(destination),
    sourceSize: source.size,
    destinationSize: destination.size,
    bufferSize: options.bufferSize,
    chunkSize,
    hash: options.hash.name,
  };
}

/**
 * Why this run keeps no checkpoint at all, or undefined. A source that is a new point in time on every
 * run (an `lvm+snapshot://` source) never resumes: its checkpoint would mix two snapshots.
 */
export function noCheckpointReason(options: Options): string | undefined {
  const source = options.endpoints?.source;
  if (source?.kind === 'resource' && source.resource.newPointInTime) {
    return `No resume checkpoint: the source ${source.spec} is a new snapshot on every run (an interrupted run starts over)`;
  }
  return undefined;
}

/**
 * The checkpoint of a sync to a destination, read before anything is opened for writing: "Resuming
 * at ..." or why an existing one is ignored, on stdout (stderr with --json) and as a --json "resume"
 * event. A foreign file where the checkpoint goes, or a checkpoint path naming a device of the run,
 * stops the run (exit 1) with nothing written.
 */
export async function openCheckpoint(options: Options, reporter: Reporter, source: Device, destination: Device, chunkSize: number): Promise<Checkpoint> {
  const identity = runIdentity(options, source, destination, chunkSize);
  const wanted = checkpointPath(identity);
  let path = wanted;
  let prepare: (() => Promise<void>) | undefined;
  if (await isDirectory(dirname(wanted))) {
    path = await resolveStatePath(wanted, CHECKPOINT_FILE);
    const devices: ForbiddenPlace[] = [source, destination].map((device) => ({
      label: `the ${device.role} device`, path: device.path, remote: identity[device === source ? 'sourceHost' : 'destinationHost'] !== '',
    }));
    await assertNotSameFile(path, CHECKPOINT_FILE, devices);
  } else {
    // No state folder yet, so no checkpoint to read: it is made with the first save (a folder that
    // cannot be made then turns resume off for this run, with a warning; it does not stop the sync).
    prepare = () => ensureStateDirectory(dirname(wanted));
  }
  const checkpoint = await Checkpoint.open(path, identity, options.resume, prepare);
  const { resume } = checkpoint;
  if (resume.ignored) reporter.print(`Checkpoint ${checkpoint.path} ignored: ${resume.ignored}\n`);
  if (resume.offset > 0) {
    reporter.print(`Resuming at ${humanBytes(resume.offset)} of ${humanBytes(source.size)} (checkpoint from ${new Date(resume.saved ?? 0).toISOString()})\n`);
  }
  if (resume.offset > 0 || resume.ignored) {
    const buffers = bufferCount(source.size, options.bufferSize);
    reporter.json?.emit({
      type: 'resume',
      from: 'checkpoint',
      checkpoint: checkpoint.path,
      syncedBuffers: Math.min(buffers, Math.ceil(resume.offset / options.bufferSize)),
      buffers,
      resumedFrom: resume.offset,
      size: source.size,
      savedAt: resume.saved === undefined ? null : new Date(resume.saved).toISOString(),
      ignored: resume.ignored ?? null,
    });
  }
  return checkpoint;
}

async function isDirectory(path: string): Promise<boolean> {
  return (await fs.stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

/** The final word of a resumed run: which range it synced, and which the interrupted run(s) did. */
export function resumedRangeText(offset: number, size: number): string {
  return `This run synced bytes ${offset} to ${size} (${humanBytes(offset)} to ${humanBytes(size)}); `
    + `bytes 0 to ${offset} were synced by the interrupted run, from the source as it was then`;
}

/**
 * A -b run on a bitmap whose last run did not end cleanly: says it continues ("Resuming from the
 * bitmap: ..."; a --json "resume" event) and returns how many buffers the bitmap records as synced,
 * or undefined when there is nothing to resume (the last run ended cleanly, or the bitmap is new).
 */
export function reportBitmapResume(bitmap: BitmapStore, reporter: Reporter, size: number, resume: boolean): number | undefined {
  const { status } = bitmap;
  // A run that compares with the destination (--update-bitmap, a version 1 upgrade) trusts no entry: nothing to resume.
  if (!status.previousRunInterrupted || bitmap.blank || bitmap.verify) return undefined;
  const buffers = bufferCount(size, bitmap.layout.bufferSize);
  const synced = syncedBuffers(bitmap, size);
  if (!resume) {
    // The entries are what a bitmap is for: --no-resume does not drop them (--reset-bitmap does).
    reporter.print(`--no-resume: the bitmap's entries still stand (${synced} of ${buffers} buffers synced); pass --reset-bitmap to send everything\n`);
    return undefined;
  }
  const previous = status.origin === 'reset, continued' ? 'the previous run, a --reset-bitmap run,' : 'the previous run';
  reporter.print(`Resuming from the bitmap: ${synced} of ${buffers} buffers already synced (${previous} was interrupted); `
    + 'the whole source is hashed again, only what differs is sent\n');
  reporter.json?.emit({
    type: 'resume', from: 'bitmap', checkpoint: bitmap.path, syncedBuffers: synced, buffers, resumedFrom: 0, size, savedAt: null, ignored: null,
  });
  return synced;
}

/** Buffers whose entry (or every chunk entry) is known: the destination holds what the bitmap says there. */
function syncedBuffers(bitmap: BitmapStore, size: number): number {
  const { bufferSize, chunkSize } = bitmap.layout;
  let synced = 0;
  for (let index = 0; index < bufferCount(size, bufferSize); index++) {
    const chunks = chunkSize > 0 ? chunkExtents(bufferExtent(index, size, bufferSize), chunkSize).length : 0;
    const known = bitmap.entry(index) !== undefined
      || (chunks > 1 && Array.from({ length: chunks }, (_, chunk) => bitmap.entry(index, 1 + chunk)).every((entry) => entry !== undefined));
    if (known) synced++;
  }
  return synced;
}

/** The final word of a -b run that resumed: what it sent (unfinished by the interrupted run, or changed since). */
export function bitmapResumedText(changedBuffers: number, changedBytes: number): string {
  return `This run hashed the whole source and sent the ${changedBuffers} buffer${changedBuffers === 1 ? '' : 's'} (${changedBytes} bytes) that differed `
    + '(from the bitmap, or where it knew nothing, from the destination): left unfinished by the interrupted run, or changed on the source since';
}

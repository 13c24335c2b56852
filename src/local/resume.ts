// Resume (checkpoint.ts) as a run uses it: the run's identity from its options and devices, where the
// checkpoint goes, the messages ("Resuming at ...", why a checkpoint was ignored, which range this
// run synced) and the --json "resume" event.
import { promises as fs } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Checkpoint, CHECKPOINT_FILE, checkpointPath, ensureStateDirectory, type RunIdentity } from './checkpoint';
import type { Options } from './options';
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

export function runIdentity(options: Options, source: Device, destination: Device, chunkSize: number): RunIdentity {
  const { host, port, user } = options.connection;
  // Without -h the remote device is on this machine too: both paths are resolved.
  const where = (device: Device) => (device.role === 'local' || host === undefined ? resolve(device.path) : device.path);
  return {
    action: options.action ?? '',
    mode: options.mode ?? '',
    source: where(source),
    destination: where(destination),
    host: host === undefined ? '' : `${user === undefined ? '' : `${user}@`}${host}${port === undefined ? '' : `:${port}`}`,
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
  const wanted = checkpointPath(identity, options.bitmap);
  let path = wanted;
  let prepare: (() => Promise<void>) | undefined;
  if (options.bitmap || (await isDirectory(dirname(wanted)))) {
    path = await resolveStatePath(wanted, CHECKPOINT_FILE);
    const devices: ForbiddenPlace[] = [source, destination].map((device) => ({
      label: `the ${device.role} device`, path: device.path, remote: device.role === 'remote' && Boolean(options.connection.host),
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
    reporter.json?.emit({
      type: 'resume',
      checkpoint: checkpoint.path,
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

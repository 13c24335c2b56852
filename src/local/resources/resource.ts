// Endpoints that acquire something for the length of a run and always give it back: an LVM snapshot
// (lvm-snapshot.ts) or a loop device (loop.ts). Each scheme checks its endpoint's text without I/O,
// acquires (returning the device path the sync uses) and releases. `holdResources` is the one place
// that guarantees the release: on success, on failure, and when SIGINT, SIGTERM or SIGHUP arrives at
// any moment, even while the resource is being acquired (it is then released as soon as it exists).
import { SyncError, basynError } from '../../shared/errors';

export type EndpointRole = 'source' | 'target';

/** What a task's config can say about its resources (command-line endpoints use the defaults). */
export interface ResourceSettings {
  /** lvm_program_path: the `lvm` binary (default: `lvm` on PATH). */
  readonly lvmProgram?: string;
  /** lvm_snapshot_size: bytes, when the endpoint has no `?size=`. */
  readonly snapshotSize?: number;
  /** lvm_snapshot_name: the snapshot's name before `-<run id>`, when the endpoint has no `?name=`. */
  readonly snapshotName?: string;
}

export interface ResourceContext {
  /** The task's name (`basyn tasks`), or undefined on the command line. */
  readonly task?: string;
  /** This run's id: `YYYYMMDDTHHMMSS-PID`, part of every name a resource is given. */
  readonly runId: string;
  readonly role: EndpointRole;
  readonly settings: ResourceSettings;
  /** Folder of the records that let a later run find what a killed one left (loop.ts). */
  readonly stateDir: string;
  /**
   * The task lock is held: what an earlier, killed run of this task left (a snapshot named and tagged
   * as ours) may be removed. Never true on the command line, where no lock says the other run is dead.
   */
  readonly leftoversAreOurs: boolean;
  /**
   * Messages for the user. `notice`: always worth showing (a leftover removed, a release that failed);
   * otherwise routine (attached, created, removed), shown in a task's log or with --verbose.
   */
  readonly log: (text: string, notice?: boolean) => void;
}

export interface AcquiredResource {
  /** The device the sync reads or writes. */
  readonly device: string;
  /** For messages: "snapshot vg0/basyn-db-20261129T101500-4242 of vg0/db". */
  readonly description: string;
  /** Gives it back, retrying a bounded number of times; throws a ResourceError naming what is left. */
  release(): Promise<void>;
}

export interface ResourceScheme {
  /** How the endpoint starts: "lvm+snapshot://", "loop://". */
  readonly prefix: string;
  /**
   * Each acquire gives a new point in time (a snapshot): a run from it never resumes an interrupted
   * run's checkpoint, which would mix two snapshots (issue 11; resume.ts).
   */
  readonly newPointInTime?: boolean;
  /** Checks the endpoint (no I/O): a UsageError says what is wrong, e.g. a snapshot as a target. */
  check(endpoint: string, role: EndpointRole, settings: ResourceSettings): void;
  acquire(endpoint: string, context: ResourceContext): Promise<AcquiredResource>;
}

/** A run id: the start time (UTC, to the second) and the pid, so two runs never share one. */
export function newRunId(now = new Date(), pid = process.pid): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, '');
  return `${stamp}-${pid}`;
}

export const RUN_ID_PATTERN = '\\d{8}T\\d{6}-\\d+';

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export interface HeldEndpoint {
  readonly endpoint: string;
  readonly scheme?: ResourceScheme;
  readonly context: ResourceContext;
}

/**
 * Acquires the resources of `endpoints` (in order), runs `work` with their devices (an endpoint with no
 * scheme is passed through as it is), and releases every acquired one (in reverse order) whatever
 * happens. A signal while acquiring lets the acquisition finish (a half-made snapshot must not be left
 * behind), then releases and throws "Interrupted by ..." (exit 2); a signal during `work` is `work`'s
 * to handle (runSession ends with the same error), and the release follows. A failed release is thrown
 * when `work` succeeded, and logged when `work`'s own error is the one to report.
 */
export async function holdResources<T>(
  endpoints: readonly HeldEndpoint[],
  work: (devices: string[]) => Promise<T>,
  log: (text: string) => void,
): Promise<T> {
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => { signalled ??= signal; };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  const held: AcquiredResource[] = [];
  let result: T;
  try {
    const devices: string[] = [];
    for (const { endpoint, scheme, context } of endpoints) {
      if (signalled) break;
      if (!scheme) { devices.push(endpoint); continue; }
      const resource = await scheme.acquire(endpoint, context);
      held.push(resource);
      devices.push(resource.device);
    }
    if (signalled) throw interrupted(signalled);
    result = await work(devices);
  } catch (error) {
    await releaseAll(held).catch((releaseError: Error) => log(releaseError.message));
    throw error;
  } finally {
    for (const signal of SIGNALS) process.off(signal, onSignal);
  }
  await releaseAll(held);
  return result;
}

function interrupted(signal: NodeJS.Signals): SyncError {
  return basynError('INTERRUPTED', signal);
}

/** Releases in reverse order; every one is tried, the first failure is thrown after the others ran. */
async function releaseAll(held: AcquiredResource[]): Promise<void> {
  let failure: unknown;
  while (held.length > 0) {
    const resource = held.pop() as AcquiredResource;
    await resource.release().catch((error: unknown) => { failure ??= error; });
  }
  if (failure) throw failure;
}

/** Tries `attempt` up to `tries` times, waiting `delayMs` × the attempt number between tries. */
export async function withRetry<T>(tries: number, delayMs: number, attempt: (n: number) => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (n >= tries) throw error;
      await new Promise((resolve) => setTimeout(resolve, delayMs * n));
    }
  }
}

/** Delay between release attempts: 1 s, 2 s, ...; BASYN_RELEASE_RETRY_MS shortens it (tests). */
export function releaseRetryDelayMs(): number {
  const fromEnv = Number(process.env.BASYN_RELEASE_RETRY_MS);
  return Number.isFinite(fromEnv) && fromEnv >= 0 && process.env.BASYN_RELEASE_RETRY_MS !== '' ? fromEnv : 1000;
}

/** Release attempts before giving up (and naming what is left). */
export const RELEASE_TRIES = 5;

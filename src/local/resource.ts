// Resource endpoints: `SCHEME://REST` names something that must be set up before the sync and torn
// down after it (an LVM snapshot, a loop device, later an iSCSI session), rather than a path that is
// already there. Each scheme registers a factory here; the endpoint parser (endpoint.ts) calls it for
// `SCHEME://...` and the run acquires the resource before the agents start and releases it after.
//
// Contract of a Resource:
//  - the factory only checks the spelling (UsageError, exit 1) and touches nothing: parsing is pure;
//  - acquire() sets the resource up and resolves with the local path to sync (a block device or file
//    on this machine); it rejects with a BasynError (exit 2 for a failure of the system, 1 for a
//    configuration mistake) and then has left nothing behind, or leaves what it made to release();
//  - release() is called exactly once after acquire() was called, whether acquire, the sync or a
//    signal ended the run, and undoes whatever acquire made; it may throw (the run then ends with
//    exit 2 and its message, unless an earlier error already decides the exit);
//  - `description` names the resource in messages (e.g. "LVM snapshot of vg/data").
import { basynError, type UsageError } from '../shared/errors';

export type EndpointSide = 'source' | 'target';

export interface Resource {
  readonly description: string;
  /** Every acquire is a new point in time (a snapshot): a run from it never resumes (resume.ts). */
  readonly newPointInTime?: boolean;
  acquire(abort: AbortSignal): Promise<string>;
  release(): Promise<void>;
}

/** Makes the resource for `rest` (what follows `SCHEME://`) used as `side`; throws UsageError on bad spelling. */
export type ResourceFactory = (rest: string, context: { readonly side: EndpointSide; readonly spec: string }) => Resource;

const FACTORIES = new Map<string, ResourceFactory>();

/** Registers a scheme (lower case, e.g. 'lvm+snapshot'); a module that implements one calls this once. */
export function registerResourceScheme(scheme: string, factory: ResourceFactory): void {
  const name = scheme.toLowerCase();
  if (!/^[a-z][a-z0-9+.-]*$/.test(name)) throw new Error(`internal: bad resource scheme name '${scheme}'`);
  if (name === 'ssh' || name === 'file') throw new Error(`internal: '${name}://' is an endpoint form, not a resource`);
  if (FACTORIES.has(name)) throw new Error(`internal: resource scheme '${name}' registered twice`);
  FACTORIES.set(name, factory);
}

export function resourceFactory(scheme: string): ResourceFactory | undefined {
  return FACTORIES.get(scheme.toLowerCase());
}

export function resourceSchemes(): string[] {
  return [...FACTORIES.keys()].sort();
}

/**
 * Acquires each resource in turn, runs `body` with their paths, and releases every resource that was
 * acquired (or whose acquire was attempted), last acquired first, whatever happened. The first error
 * wins: a failed release after a failed run does not hide why the run failed.
 */
export async function withResources<T>(resources: readonly Resource[], abort: AbortSignal, body: (paths: string[]) => Promise<T>): Promise<T> {
  const attempted: Resource[] = [];
  let failure: { error: unknown } | undefined;
  let result: T | undefined;
  try {
    const paths: string[] = [];
    for (const resource of resources) {
      attempted.push(resource);
      paths.push(await resource.acquire(abort));
    }
    result = await body(paths);
  } catch (error) {
    failure = { error };
  }
  for (const resource of attempted.reverse()) {
    try {
      await resource.release();
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure) throw failure.error;
  return result as T;
}

/** For messages about a scheme nobody registered. */
export function unknownScheme(scheme: string, spec: string): UsageError {
  const known = ['file', 'ssh', ...resourceSchemes()].map((name) => `${name}://`).join(', ');
  return basynError('USAGE_UNKNOWN_SCHEME', scheme, spec, known);
}

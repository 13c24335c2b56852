// `lvm+snapshot://VG/LV[?size=10G&name=PREFIX]`: a SOURCE read from an LVM snapshot of VG/LV taken for
// the run, so the source does not change under the sync. The snapshot is named `PREFIX-<run id>`
// (PREFIX: `basyn-<task>`, or `basyn-<LV>` on the command line), tagged `basyn`, and always removed
// (resource.ts holds it), with a bounded retry. Only snapshots this code made are removed: its own run's,
// and, under the task lock, those an earlier killed run of the same task left (same origin, tag, and a
// name of PREFIX-<run id>): no other task's, whatever --jobs runs beside it.
//
// LVM commands (through `lvm`, or lvm_program_path):
//   lvm lvcreate --snapshot --name NAME --addtag basyn (--size <bytes>b | --extents 10%ORIGIN) VG/LV
//   lvm lvs --noheadings -o lv_path VG/NAME                  the snapshot's device
//   lvm lvs --noheadings --separator '|' -o lv_name,lv_tags,origin VG     leftovers
//   lvm lvremove --force VG/NAME
import { basynError } from '../../shared/errors';
import { parseSize } from '../../shared/size';
import { failureText, runProgram, type ProgramResult } from './run-program';
import {
  RELEASE_TRIES, RUN_ID_PATTERN, releaseRetryDelayMs, withRetry,
  type AcquiredResource, type EndpointRole, type ResourceContext, type ResourceScheme, type ResourceSettings,
} from './resource';

export const SNAPSHOT_TAG = 'basyn';
/** Without a size: a tenth of the origin (what lvcreate's %ORIGIN allows; thin origins need none). */
const DEFAULT_EXTENTS = '10%ORIGIN';
/** LVM's characters for VG and LV names (and tags); never starting with '-'. */
const LVM_NAME = /^[A-Za-z0-9+_.][A-Za-z0-9+_.-]*$/;

interface SnapshotSpec {
  readonly vg: string;
  readonly lv: string;
  readonly size?: number;
  readonly name?: string;
}

const PREFIX = 'lvm+snapshot://';

function parseSpec(endpoint: string, settings: ResourceSettings): SnapshotSpec {
  const [path, query = ''] = endpoint.slice(PREFIX.length).split(/\?(.*)/s, 2);
  const parts = path.split('/');
  if (parts.length !== 2 || !parts.every((part) => LVM_NAME.test(part) && part !== '.' && part !== '..')) {
    throw basynError('LVM_URL', endpoint);
  }
  let size = settings.snapshotSize;
  let name = settings.snapshotName;
  for (const pair of query ? query.split('&') : []) {
    const [key, value = ''] = pair.split(/=(.*)/s, 2);
    if (key === 'size') size = parseSize(decodeURIComponent(value), `${endpoint}: size`);
    else if (key === 'name') name = decodeURIComponent(value);
    else throw basynError('LVM_UNKNOWN_PARAMETER', endpoint, key);
  }
  if (size !== undefined && size <= 0) throw basynError('LVM_SIZE_ZERO', endpoint);
  if (name !== undefined && (!LVM_NAME.test(name) || name.length > 100)) {
    throw basynError('LVM_SNAPSHOT_NAME', endpoint, name);
  }
  return { vg: parts[0], lv: parts[1], size, name };
}

/** The snapshot's name before `-<run id>`. */
function prefixOf(spec: SnapshotSpec, context: ResourceContext): string {
  return spec.name ?? `basyn-${context.task ?? spec.lv}`;
}

export const LVM_SNAPSHOT: ResourceScheme = {
  prefix: PREFIX,
  newPointInTime: true,

  check(endpoint: string, role: EndpointRole, settings: ResourceSettings): void {
    if (role === 'target') {
      throw basynError('LVM_SNAPSHOT_AS_TARGET', endpoint);
    }
    parseSpec(endpoint, settings);
  },

  async acquire(endpoint: string, context: ResourceContext): Promise<AcquiredResource> {
    LVM_SNAPSHOT.check(endpoint, context.role, context.settings);
    const spec = parseSpec(endpoint, context.settings);
    const lvm = new Lvm(context.settings.lvmProgram ?? 'lvm');
    const prefix = prefixOf(spec, context);
    if (context.leftoversAreOurs) await removeLeftovers(lvm, spec, prefix, context);

    const name = `${prefix}-${context.runId}`;
    const snapshot = `${spec.vg}/${name}`;
    const description = `snapshot ${snapshot} of ${spec.vg}/${spec.lv}`;
    const release = () => removeSnapshot(lvm, snapshot);
    const created = await lvm.run([
      'lvcreate', '--snapshot', '--name', name, '--addtag', SNAPSHOT_TAG,
      ...(spec.size !== undefined ? ['--size', `${spec.size}b`] : ['--extents', DEFAULT_EXTENTS]), `${spec.vg}/${spec.lv}`,
    ]);
    if (created.code !== 0) {
      // lvcreate can fail after the volume exists (activation, a tag): the name is this run's, so remove it.
      if ((await lvm.run(['lvs', '--noheadings', '-o', 'lv_name', snapshot])).code === 0) await release().catch((error: Error) => context.log(error.message, true));
      throw basynError('LVM_CREATE_FAILED', description, failureText(created));
    }
    const shown = await lvm.run(['lvs', '--noheadings', '-o', 'lv_path', snapshot]);
    const device = shown.stdout.trim();
    if (shown.code !== 0 || !device) {
      await release().catch((error: Error) => context.log(error.message, true));
      throw basynError('LVM_DEVICE_UNKNOWN', description, failureText(shown));
    }
    context.log(`Created ${description} (${device})`);
    return { device, description, release: async () => { await release(); context.log(`Removed ${description}`); } };
  },
};

/** The configured `lvm` program, run with a subcommand and its arguments. */
class Lvm {
  constructor(private readonly program: string) {}

  run(args: string[]): Promise<ProgramResult> {
    return runProgram(this.program, args);
  }
}

/** lvremove with a bounded retry (a snapshot can be busy an instant after its last reader closed it). */
async function removeSnapshot(lvm: Lvm, snapshot: string): Promise<void> {
  let last = '';
  try {
    await withRetry(RELEASE_TRIES, releaseRetryDelayMs(), async () => {
      const removed = await lvm.run(['lvremove', '--force', snapshot]);
      if (removed.code !== 0) {
        last = failureText(removed);
        throw new Error(last); // caught below: a retry, then LVM_REMOVE_FAILED with `last`
      }
    });
  } catch {
    throw basynError('LVM_REMOVE_FAILED', snapshot, RELEASE_TRIES, last);
  }
}

/** Under the task lock: snapshots of this origin, tagged basyn, named PREFIX-<run id>, of a run that did not end. */
async function removeLeftovers(lvm: Lvm, spec: SnapshotSpec, prefix: string, context: ResourceContext): Promise<void> {
  const listed = await lvm.run(['lvs', '--noheadings', '--separator', '|', '-o', 'lv_name,lv_tags,origin', spec.vg]);
  if (listed.code !== 0) {
    context.log(`Could not list the snapshots of volume group ${spec.vg} to look for leftovers: ${failureText(listed)}`, true);
    return;
  }
  const ours = new RegExp(`^${prefix.replace(/[.+]/g, '\\$&')}-(${RUN_ID_PATTERN})$`);
  for (const line of listed.stdout.split('\n')) {
    const [name = '', tags = '', origin = ''] = line.trim().split('|').map((cell) => cell.trim());
    const run = ours.exec(name)?.[1];
    if (!run || run === context.runId || origin !== spec.lv || !tags.split(',').includes(SNAPSHOT_TAG)) continue;
    try {
      await removeSnapshot(lvm, `${spec.vg}/${name}`);
      context.log(`Removed snapshot ${spec.vg}/${name} left by an earlier run of this task that did not end (run ${run})`, true);
    } catch (error) {
      context.log((error as Error).message, true);
    }
  }
}

// `loop://FILE`: the sync reads (SOURCE, attached read-only) or writes (TARGET) FILE through a loop
// device, attached with `losetup --find --show` (the kernel picks a free device: no race with another
// attach) and always detached (resource.ts holds it). A record, a lock-file.ts lock named after FILE's
// real path in the state folder, is taken before the attach and removed after the detach: a run killed
// with SIGKILL leaves it behind, and the next run that uses FILE finds it stale, detaches the loop
// devices still backed by FILE (`losetup --list`), and says so. A record of a live run refuses FILE:
// two runs never attach one file.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ResourceError, basynError, systemErrorText } from '../../shared/errors';
import { LockFile, type LockRefusal } from '../lock-file';
import { humanBytes } from '../progress';
import { shellQuote } from '../transport/agent-start';
import { failureText, runProgram } from './run-program';
import {
  RELEASE_TRIES, releaseRetryDelayMs, withRetry,
  type AcquiredResource, type EndpointRole, type ResourceContext, type ResourceScheme,
} from './resource';

const PREFIX = 'loop://';

function fileOf(endpoint: string): string {
  const file = endpoint.slice(PREFIX.length);
  if (!file) throw basynError('LOOP_URL', endpoint);
  return resolve(file);
}

/** Loop devices whose backing file is `file` (a real path), from `losetup --list --json`. */
export async function loopDevicesOf(file: string): Promise<string[]> {
  const listed = await runProgram('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE']);
  if (listed.code !== 0) throw basynError('LOOP_LIST_FAILED', failureText(listed));
  if (!listed.stdout.trim()) return []; // none attached: losetup prints nothing at all
  const devices = (JSON.parse(listed.stdout) as { loopdevices?: Array<{ name: string; 'back-file'?: string }> }).loopdevices ?? [];
  return devices.filter((device) => device['back-file']?.replace(/ \(deleted\)$/, '') === file).map((device) => device.name);
}

async function detach(device: string): Promise<void> {
  let last = '';
  try {
    await withRetry(RELEASE_TRIES, releaseRetryDelayMs(), async () => {
      const detached = await runProgram('losetup', ['--detach', device]);
      if (detached.code !== 0) {
        last = failureText(detached);
        throw new Error(last); // caught below: a retry, then LOOP_DETACH_FAILED with `last`
      }
    });
  } catch {
    throw basynError('LOOP_DETACH_FAILED', device, RELEASE_TRIES, last);
  }
}

async function takeRecord(endpoint: string, file: string, stateDir: string): Promise<LockFile> {
  await fs.mkdir(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, `loop-${createHash('sha256').update(file).digest('hex').slice(0, 20)}.lock`);
  const refuse = (refusal: LockRefusal): ResourceError => {
    switch (refusal.kind) {
      case 'alive': return basynError('LOOP_BUSY', endpoint, file, refusal.owner.pid);
      case 'other-host': return basynError('LOOP_BUSY_ELSEWHERE', endpoint, path, refusal.owner.host);
      case 'not-a-lock': return basynError('LOOP_RECORD_NOT_OURS', endpoint, path, refusal.detail);
      case 'failed': return basynError('LOOP_RECORD_UNREADABLE', path, systemErrorText(refusal.error));
    }
  };
  return LockFile.acquire(path, refuse);
}

export const LOOP: ResourceScheme = {
  prefix: PREFIX,

  check(endpoint: string): void {
    fileOf(endpoint);
  },

  async acquire(endpoint: string, context: ResourceContext): Promise<AcquiredResource> {
    const given = fileOf(endpoint);
    const file = await fs.realpath(given).catch((error: unknown) => {
      throw basynError('LOOP_FILE', endpoint, given, systemErrorText(error));
    });
    if (context.role === 'target') {
      const warning = await spaceWarning(file);
      if (warning) context.log(`${endpoint}: ${warning}`, true);
    }
    const record = await takeRecord(endpoint, file, context.stateDir);
    try {
      if (record.tookOverFrom) {
        for (const device of await loopDevicesOf(file)) {
          await detach(device);
          context.log(`Detached ${device} (backing file ${file}): left attached by an earlier basyn run (pid ${record.tookOverFrom.pid}) that did not end`, true);
        }
      }
      const attached = await runProgram('losetup', ['--find', '--show', ...readOnly(context.role), file]);
      const device = attached.stdout.trim();
      if (attached.code !== 0 || !device.startsWith('/dev/')) throw basynError('LOOP_ATTACH_FAILED', file, failureText(attached));
      const description = `loop device ${device} (backing file ${file})`;
      context.log(`Attached ${description}`);
      return {
        device,
        description,
        release: async () => {
          try {
            await detach(device);
          } catch (error) {
            record.keep(); // the next run that uses FILE detaches it
            throw error;
          }
          await record.release();
          context.log(`Detached ${description}`);
        },
      };
    } catch (error) {
      await record.release();
      throw error;
    }
  },
};

function readOnly(role: EndpointRole): string[] {
  return role === 'source' ? ['--read-only'] : [];
}

/**
 * A TARGET file whose holes its file system could not fill. Linux's loop driver (seen on 6.18) completes
 * a write that the backing file took only in part as a success, and the flush after it succeeds too:
 * should the file system fill up during the sync, part of a write is lost and nobody above the loop
 * device (basyn included) can tell. Said before the attach, so that the user can allocate the file.
 */
async function spaceWarning(file: string): Promise<string | undefined> {
  const [stat, space] = await Promise.all([fs.stat(file), fs.statfs(dirname(file))]).catch(() => []);
  if (!stat || !space) return undefined; // the attach reports what is wrong with the file
  const unallocated = stat.size - stat.blocks * 512;
  const free = space.bavail * space.bsize;
  if (unallocated <= free) return undefined;
  return `${file} has ${humanBytes(unallocated)} not yet allocated and its file system only ${humanBytes(free)} free; if it fills up during the sync, Linux's loop driver can lose part of a write and still report it flushed. Allocate the file first: fallocate -l ${stat.size} ${shellQuote(file)}`;
}

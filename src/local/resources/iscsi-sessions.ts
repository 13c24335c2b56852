// Who holds an iSCSI session basyn opened: one record per target (portal, port, IQN) in the run folder
// (/run/basyn/iscsi, on tmpfs: gone at reboot, as the sessions are), read and written only under that
// target's lock. The record says whether basyn logged the session in (`opened`), whether basyn created
// the node record (`createdNode`), and which runs use it (`holders`). The last holder to leave logs out;
// a session basyn did not open is never logged out. A holder whose process is gone (SIGKILL) no longer
// counts: the next run that finds the session adopts it and logs it out when done.
//
// The lock is flock(2) on `<key>.lock`, taken by util-linux's flock(1) on a descriptor this process
// passes it (the lock belongs to the open file, so it stays with this process after flock(1) exits),
// and dropped by closing that descriptor: the kernel drops it too when this process dies, so a killed
// run never leaves the target locked.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { basynError, systemErrorText } from '../../shared/errors';
import { processStartTime } from '../lock-file';

export interface Holder {
  readonly pid: number;
  /** Process start time from /proc/PID/stat: tells a live holder from a process that reused its pid. */
  readonly started: string;
  /** One per acquire: two resources of one process are two holders. */
  readonly token: string;
}

export interface TargetRecord {
  /** `iscsi://portal:port/iqn`, for whoever reads the file. */
  readonly target: string;
  opened: boolean;
  /** The id of the session basyn opened: a session of the same target with another id is not ours. */
  sid?: number;
  createdNode: boolean;
  holders: Holder[];
}

/** How long a run waits for another run's login or logout of the same target (they are bounded too). */
const LOCK_WAIT_SECONDS = 600;

export function newHolder(): Holder {
  return { pid: process.pid, started: processStartTime(process.pid), token: randomBytes(8).toString('hex') };
}

export class TargetRegistry {
  constructor(private readonly dir: string) {}

  private paths(target: string): { lock: string; record: string } {
    const key = createHash('sha256').update(target).digest('hex').slice(0, 24);
    return { lock: join(this.dir, `${key}.lock`), record: join(this.dir, `${key}.json`) };
  }

  /** Runs `body` with the target's record under its lock; the record is saved after (deleted when empty). */
  async withRecord<T>(target: string, abort: AbortSignal | undefined, body: (record: TargetRecord) => Promise<T>): Promise<T> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 }).catch((error: unknown) => {
      throw basynError('ISCSI_RUN_FOLDER', this.dir, systemErrorText(error));
    });
    const paths = this.paths(target);
    const handle = await fs.open(paths.lock, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600).catch((error: unknown) => {
      throw basynError('ISCSI_LOCK_FILE', paths.lock, systemErrorText(error));
    });
    try {
      await lockDescriptor(handle.fd, paths.lock, abort);
      const record = await readRecord(paths.record, target);
      try {
        return await body(record);
      } finally {
        await saveRecord(paths.record, record);
      }
    } finally {
      await handle.close(); // drops the lock
    }
  }
}

/** flock(1) takes the exclusive lock on our descriptor (its fd 3), waiting at most LOCK_WAIT_SECONDS. */
function lockDescriptor(fd: number, path: string, abort: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (abort?.aborted) return reject(abort.reason);
    const child = spawn('flock', ['--exclusive', '--wait', String(LOCK_WAIT_SECONDS), '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
    const onAbort = () => child.kill('SIGTERM');
    abort?.addEventListener('abort', onAbort, { once: true });
    child.once('error', (error: NodeJS.ErrnoException) => {
      abort?.removeEventListener('abort', onAbort);
      reject(basynError('ISCSI_LOCK_NO_FLOCK', path, error.code === 'ENOENT' ? 'not found (util-linux)' : error.message));
    });
    child.once('close', (code) => {
      abort?.removeEventListener('abort', onAbort);
      if (abort?.aborted) return reject(abort.reason);
      if (code === 0) return resolve();
      reject(basynError('ISCSI_LOCK_TIMEOUT', path, LOCK_WAIT_SECONDS, stderr.trim() ? ` (${stderr.trim()})` : ''));
    });
  });
}

async function readRecord(path: string, target: string): Promise<TargetRecord> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { target, opened: false, createdNode: false, holders: [] };
    throw basynError('ISCSI_RECORD_UNREADABLE', path, systemErrorText(error));
  }
  try {
    const parsed = JSON.parse(text) as TargetRecord;
    // Caught just below: it becomes the reason of ISCSI_RECORD_NOT_OURS.
    if (typeof parsed.opened !== 'boolean' || !Array.isArray(parsed.holders)) throw new Error('fields missing');
    return { target, opened: parsed.opened, ...(typeof parsed.sid === 'number' ? { sid: parsed.sid } : {}), createdNode: parsed.createdNode === true, holders: parsed.holders };
  } catch (error) {
    throw basynError('ISCSI_RECORD_NOT_OURS', path, (error as Error).message);
  }
}

/** Written aside and renamed into place (readers never see half a record); removed once it says nothing. */
async function saveRecord(path: string, record: TargetRecord): Promise<void> {
  if (!record.opened && !record.createdNode && record.holders.length === 0) {
    await fs.unlink(path).catch((error: NodeJS.ErrnoException) => { if (error.code !== 'ENOENT') throw error; });
    return;
  }
  const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await fs.writeFile(aside, `${JSON.stringify(record)}\n`, { mode: 0o600, flag: 'wx' });
  await fs.rename(aside, path);
}

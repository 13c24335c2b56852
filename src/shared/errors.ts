// One errors module. Every error basyn raises on purpose is a BasynError with a stable `code`
// and the exit code it maps to. The CLI prints `message` alone (one line) unless --debug.
import { printable } from './remote-text';

export const EXIT_OK = 0;
/** Command-line error: nothing was opened for writing, nothing changed. */
export const EXIT_USAGE = 1;
/** Sync error: the destination may be partly changed; rerun to converge. */
export const EXIT_SYNC = 2;

export class BasynError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad options or option combinations (exit 1). */
export class UsageError extends BasynError {
  constructor(message: string, code = 'EUSAGE') {
    super(message, code, EXIT_USAGE);
  }
}

/** A bitmap file that does not fit this run (exit 1: nothing has been written yet). */
export class BitmapError extends BasynError {
  constructor(message: string, code = 'EBITMAP') {
    super(message, code, EXIT_USAGE);
  }
}

/** Anything that goes wrong while syncing (exit 2). */
export class SyncError extends BasynError {
  constructor(message: string, code = 'ESYNC') {
    super(message, code, EXIT_SYNC);
  }
}

/** A malformed frame or unexpected message: the peer is not speaking our protocol. */
export class ProtocolError extends BasynError {
  constructor(message: string) {
    super(message, 'EPROTO', EXIT_SYNC);
  }
}

/** An error the agent reported over the wire, with the agent's own code (both made printable). */
export class RemoteError extends BasynError {
  constructor(message: string, code: string) {
    super(printable(message), printable(code, 32), EXIT_SYNC);
  }
}

/** The recheck found differing data. */
export class MismatchError extends BasynError {
  constructor(message: string) {
    super(message, 'EMISMATCH', EXIT_SYNC);
  }
}

/**
 * An error the agent reports over the wire as ERROR(code, message): the controller raises it as a
 * RemoteError with the same code (exit 2). Device errors carry their errno code (ENOENT, EACCES, ...)
 * or one of the agent's own: ENOTOPEN, ERANGE, EHASH, EROFS, EFIFO, ECHARDEV, EEOF, EPROTO, ESTOPPED.
 */
export class AgentError extends BasynError {
  constructor(code: string, message: string) {
    super(message, code, EXIT_SYNC);
  }
}

/** What node's system errors (errno codes) mean, in the words of basyn's messages: the one table. */
const SYSTEM_ERROR_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or device',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EIO: 'i/o error',
  EDQUOT: 'disk quota exceeded',
};

/** Node's system errors (ENOENT, EACCES, ...) as one readable line. */
export function describeSystemError(error: unknown, what: string): string {
  const err = error as NodeJS.ErrnoException;
  const text = err?.code !== undefined ? SYSTEM_ERROR_TEXT[err.code] : undefined;
  return `${what}: ${text ?? err?.message ?? String(error)}`;
}

/** Why a device cannot be used, as the agent reports it (exit 2 at the controller). */
export function deviceError(path: string, error: unknown, writable: boolean): AgentError {
  if (error instanceof AgentError) return error;
  const err = error as NodeJS.ErrnoException;
  const code = err?.code ?? 'EOPEN';
  switch (code) {
    case 'ENOENT': return new AgentError(code, `Device ${path} is not found`);
    // e.g. /dev/sda1/x, or an image path through a regular file: node's text repeats the path and errno.
    case 'ENOTDIR': return new AgentError(code, `Device ${path} is not found (part of its path is not a directory)`);
    case 'EACCES':
    case 'EPERM': return new AgentError(code, `Device ${path} is not ${writable ? 'writable' : 'readable'}: ${SYSTEM_ERROR_TEXT[code]}`);
    case 'EISDIR': return new AgentError(code, `Device ${path} ${SYSTEM_ERROR_TEXT[code]}`);
    case 'EFIFO': return new AgentError(code, `Device ${path} is a FIFO (named pipe), not a file or block device`);
    case 'ECHARDEV': return new AgentError(code, `Device ${path} is a character device, not a file or block device`);
    case 'ELOOP': return new AgentError(code, `Device ${path} cannot be opened: symbolic link loop`);
    case 'EROFS': return new AgentError(code, `Device ${path} is on a ${SYSTEM_ERROR_TEXT[code]}`);
    // Only a block device opened for writing (O_EXCL, see device.ts) gives EBUSY.
    case 'EBUSY': return new AgentError(code, `Device ${path} is busy: it is mounted, in use by LVM or MD, or opened exclusively by another program; not writing to it`);
    default: return new AgentError(code, `Device ${path} cannot be opened: ${err?.message ?? String(error)}`);
  }
}

/** A patch file that is damaged, or does not fit the target (exit 2: nothing was written). */
export class PatchError extends BasynError {
  constructor(message: string, code = 'EPATCH') {
    super(message, code, EXIT_SYNC);
  }
}

/**
 * A failed write or flush of a device (`what`: "Flush of /dev/sdb1"), as the agent reports it; the
 * device takes no more writes after it (device.ts).
 */
export function deviceWriteError(what: string, error: unknown): AgentError {
  const err = error as NodeJS.ErrnoException;
  const code = err?.code ?? 'EIO';
  const text = SYSTEM_ERROR_TEXT[code];
  return new AgentError(code, `${what} failed: ${text ? `${text} (${code})` : (err?.message ?? String(error))}; nothing more is written to it`);
}

/**
 * A resource an endpoint acquires (an LVM snapshot, a loop device) could not be acquired or released:
 * exit 2 (a sync error: no destination was written when acquiring fails, but something outside basyn
 * may have changed, and a rerun cleans up what this one could not).
 */
export class ResourceError extends BasynError {
  constructor(message: string, code = 'ERESOURCE') {
    super(message, code, EXIT_SYNC);
  }
}

// One errors module. Every error basyn raises on purpose is a BasynError with a stable `code`
// and the exit code it maps to. The CLI prints `message` alone (one line) unless --debug.

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

/** An error the agent reported over the wire, with the agent's own code. */
export class RemoteError extends BasynError {
  constructor(message: string, code: string) {
    super(message, code, EXIT_SYNC);
  }
}

/** The recheck found differing data. */
export class MismatchError extends BasynError {
  constructor(message: string) {
    super(message, 'EMISMATCH', EXIT_SYNC);
  }
}

/** Node's system errors (ENOENT, EACCES, ...) as one readable line. */
export function describeSystemError(error: unknown, what: string): string {
  const err = error as NodeJS.ErrnoException;
  switch (err?.code) {
    case 'ENOENT': return `${what}: no such file or device`;
    case 'EACCES':
    case 'EPERM': return `${what}: permission denied`;
    case 'EISDIR': return `${what}: is a directory`;
    case 'EROFS': return `${what}: read-only file system`;
    case 'ENOSPC': return `${what}: no space left on device`;
    default: return `${what}: ${err?.message ?? String(error)}`;
  }
}

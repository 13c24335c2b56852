// One errors module. Every error basyn raises on purpose is a BasynError with a stable `code` and the
// exit code it maps to; the CLI prints `message` alone (one line) unless --debug. Every message a user
// can see is a row of one of the tables below (by area: errors-usage.ts, errors-sync.ts, ...), keyed by
// its code in docs/errors.md: the stable `code` (--json, tasks), the `kind` (the class, so the exit
// code) and the message built from its parameters (named as the doc's placeholders). Raise one with
// basynError(CODE, ...); test/errors-table.test.ts checks every row against docs/errors.md both ways.
import { printable } from './remote-text';
import { USAGE_ERRORS, type UsageCode } from './errors-usage';
import { SYNC_ERRORS } from './errors-sync';
import { BITMAP_ERRORS } from './errors-bitmap';
import { SSH_ERRORS } from './errors-ssh';
import { TASKS_ERRORS } from './errors-tasks';
import { RESOURCE_ERRORS } from './errors-resource';
import { PATCH_ERRORS } from './errors-patch';
import { PROTOCOL_ERRORS } from './errors-protocol';

export { USAGE_ERRORS, COMMANDER_ERRORS, type UsageCode } from './errors-usage';
export { SYNC_ERRORS } from './errors-sync';

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

/** Bad options or option combinations, or a bad config (exit 1). */
export class UsageError extends BasynError {
  constructor(message: string, code = 'EUSAGE') {
    super(message, code, EXIT_USAGE);
  }
}

/** A state file (bitmap, checkpoint, patch journal, ...) basyn refuses to read or replace: exit 1, nothing written. */
export class StateFileError extends UsageError {
  constructor(message: string, code = 'ESTATEFILE') {
    super(message, code);
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
  constructor(message: string, code = 'EPROTO') {
    super(message, code, EXIT_SYNC);
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
  constructor(message: string, code = 'EMISMATCH') {
    super(message, code, EXIT_SYNC);
  }
}

/**
 * An error the agent reports over the wire as ERROR(code, message): the controller raises it as a
 * RemoteError with the same code (exit 2). Device errors carry their errno code (ENOENT, EACCES, ...:
 * DEVICE_ERRORS below); the agent's own are the AGENT_ rows of errors-protocol.ts.
 */
export class AgentError extends BasynError {
  constructor(code: string, message: string) {
    super(message, code, EXIT_SYNC);
  }
}

/** A patch file that is damaged, or does not fit the target (exit 2: nothing was written). */
export class PatchError extends BasynError {
  constructor(message: string, code = 'EPATCH') {
    super(message, code, EXIT_SYNC);
  }
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

/**
 * A task of `basyn tasks` that did not succeed, with the code its JSON object carries and its status;
 * `basyn tasks` then exits 3 (4 when interrupted).
 */
export class TaskFailure extends BasynError {
  constructor(message: string, code: string, readonly status: 'failed' | 'skipped' | 'interrupted' = 'failed') {
    super(message, code, 3);
  }
}

// ---------------------------------------------------------------------------------------------
// The tables, and the one helper that raises their rows

/** Which class (so which exit code) a row's error is: its `kind`, and how to make one. */
const KINDS = {
  usage: (message: string, code: string) => new UsageError(message, code),
  state: (message: string, code: string) => new StateFileError(message, code),
  bitmap: (message: string, code: string) => new BitmapError(message, code),
  sync: (message: string, code: string) => new SyncError(message, code),
  protocol: (message: string, code: string) => new ProtocolError(message, code),
  mismatch: (message: string, code: string) => new MismatchError(message, code),
  patch: (message: string, code: string) => new PatchError(message, code),
  resource: (message: string, code: string) => new ResourceError(message, code),
  task: (message: string, code: string) => new TaskFailure(message, code),
  'task-skipped': (message: string, code: string) => new TaskFailure(message, code, 'skipped'),
  agent: (message: string, code: string) => new AgentError(code, message),
} as const;
export type ErrorKind = keyof typeof KINDS;

/** One row of a table: the stable code, the kind (default sync: exit 2), the message builder. */
export interface ErrorRow {
  readonly code: string;
  readonly kind?: ErrorKind;
  readonly message: (...values: never[]) => string;
}

type UsageRows = { readonly [Code in UsageCode]: { readonly code: 'EUSAGE'; readonly kind: 'usage'; readonly message: (typeof USAGE_ERRORS)[Code] } };
const USAGE_ROWS = Object.fromEntries(Object.entries(USAGE_ERRORS).map(([code, message]) => [code, { code: 'EUSAGE', kind: 'usage', message }])) as UsageRows;

/** Every table, by its name (the tests check each against docs/errors.md). */
export const ERROR_TABLES = {
  USAGE_ERRORS: USAGE_ROWS, SYNC_ERRORS, BITMAP_ERRORS, SSH_ERRORS, TASKS_ERRORS, RESOURCE_ERRORS, PATCH_ERRORS, PROTOCOL_ERRORS,
} as const;

/** Every row of every table, by its code in docs/errors.md. */
export const ERROR_ROWS = {
  ...USAGE_ROWS, ...SYNC_ERRORS, ...BITMAP_ERRORS, ...SSH_ERRORS, ...TASKS_ERRORS, ...RESOURCE_ERRORS, ...PATCH_ERRORS, ...PROTOCOL_ERRORS,
} as const;
export type ErrorCode = keyof typeof ERROR_ROWS;
type KindOf<Code extends ErrorCode> = (typeof ERROR_ROWS)[Code] extends { readonly kind: infer Kind extends ErrorKind } ? Kind : 'sync';
/** The class of a row's error: UsageError for a `usage` row, and so on. */
export type ErrorOf<Code extends ErrorCode> = ReturnType<(typeof KINDS)[KindOf<Code>]>;

/** The error of `code` (a row of ERROR_ROWS), its message built from `args`: the one way basyn raises one. */
export function basynError<Code extends ErrorCode>(code: Code, ...args: Parameters<(typeof ERROR_ROWS)[Code]['message']>): ErrorOf<Code> {
  const row: ErrorRow = ERROR_ROWS[code];
  const message = (row.message as (...values: unknown[]) => string)(...args);
  return KINDS[row.kind ?? 'sync'](message, row.code) as ErrorOf<Code>;
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

/** What a system error means ("no such file or device"), else node's own text. */
export function systemErrorText(error: unknown): string {
  const err = error as NodeJS.ErrnoException;
  const text = err?.code !== undefined ? SYSTEM_ERROR_TEXT[err.code] : undefined;
  return text ?? err?.message ?? String(error);
}

/**
 * The device errors a user can meet, by their code in docs/errors.md: the errno (or agent) code the
 * agent sends in its ERROR message, and the message. test/errors-table.test.ts checks each row here
 * against the row of docs/errors.md with the same code (exit code and message), and the other way round
 * for every DEVICE_ and IO_ row there; test/errors-doc.test.ts makes each of them happen for real.
 */
export const DEVICE_ERRORS = {
  DEVICE_NOT_FOUND: { errno: 'ENOENT', message: (path: string) => `Device ${path} is not found` },
  // SOURCE TARGET form: a missing TARGET is created, but never a device (device.ts, createMissing).
  DEVICE_NOT_CREATED: { errno: 'ENOENT', message: (path: string) => `Device ${path} is not found (a missing path under /dev is not created: it must be a device)` },
  // A remote endpoint's `~user/...` naming no user of that host (home-path.ts).
  DEVICE_NO_SUCH_USER: { errno: 'ENOENT', message: (path: string) => `Device ${path} is not found: no such user on this host` },
  // e.g. /dev/sda1/x, or an image path through a regular file: node's text repeats the path and errno.
  DEVICE_PATH_NOT_DIRECTORY: { errno: 'ENOTDIR', message: (path: string) => `Device ${path} is not found (part of its path is not a directory)` },
  DEVICE_IS_DIRECTORY: { errno: 'EISDIR', message: (path: string) => `Device ${path} is a directory` },
  DEVICE_IS_FIFO: { errno: 'EFIFO', message: (path: string) => `Device ${path} is a FIFO (named pipe), not a file or block device` },
  DEVICE_IS_CHARACTER_DEVICE: { errno: 'ECHARDEV', message: (path: string) => `Device ${path} is a character device, not a file or block device` },
  DEVICE_SYMLINK_LOOP: { errno: 'ELOOP', message: (path: string) => `Device ${path} cannot be opened: symbolic link loop` },
  DEVICE_NOT_READABLE: { errno: 'EACCES', message: (path: string) => `Device ${path} is not readable: permission denied` },
  DEVICE_NOT_WRITABLE: { errno: 'EACCES', message: (path: string) => `Device ${path} is not writable: permission denied` },
  DEVICE_ON_READ_ONLY_FS: { errno: 'EROFS', message: (path: string) => `Device ${path} is on a read-only file system` },
  // Only a block device opened for writing (O_EXCL, see device.ts) gives EBUSY.
  DEVICE_BUSY: { errno: 'EBUSY', message: (path: string) => `Device ${path} is busy: it is mounted, in use by LVM or MD, or opened exclusively by another program; not writing to it` },
  /** `what`: "Write of 4096 bytes at offset 0 of /dev/sdb1", "Flush of /dev/sdb1"; `reason`: errno text and code. */
  IO_NO_SPACE: { errno: 'ENOSPC', message: (what: string, reason = 'no space left on device (ENOSPC)') => `${what} failed: ${reason}; nothing more is written to it` },
  IO_ERROR: { errno: 'EIO', message: (what: string, reason = 'i/o error (EIO)') => `${what} failed: ${reason}; nothing more is written to it` },
  IO_READ_ERROR: { errno: 'EIO', message: (path: string, offset: number | string, length: number | string, reason: string) => `Cannot read ${path} at offset ${offset} (${length} bytes): ${reason}` },
} as const;

/**
 * The device rows the agent finds without an errno (a directory, a FIFO or a character device from the
 * file's type; a missing path under /dev not created; a `~user` of no such user).
 */
export type DevicePathRow = 'DEVICE_IS_DIRECTORY' | 'DEVICE_IS_FIFO' | 'DEVICE_IS_CHARACTER_DEVICE' | 'DEVICE_NOT_CREATED' | 'DEVICE_NO_SUCH_USER';

/** The device error of `row` for `path`, as the agent reports it: the row's errno code (exit 2 at the controller). */
export function devicePathError(path: string, row: DevicePathRow): AgentError {
  return new AgentError(DEVICE_ERRORS[row].errno, DEVICE_ERRORS[row].message(path));
}

/** Why a device cannot be opened, from node's system error, as the agent reports it (exit 2 at the controller). */
export function deviceError(path: string, error: unknown, writable: boolean): AgentError {
  if (error instanceof AgentError) return error;
  const err = error as NodeJS.ErrnoException;
  const code = err?.code ?? 'EOPEN';
  const row = (name: keyof typeof DEVICE_ERRORS & `DEVICE_${string}`) => new AgentError(code, DEVICE_ERRORS[name].message(path));
  switch (code) {
    case 'ENOENT': return row('DEVICE_NOT_FOUND');
    case 'ENOTDIR': return row('DEVICE_PATH_NOT_DIRECTORY');
    case 'EACCES':
    case 'EPERM': return row(writable ? 'DEVICE_NOT_WRITABLE' : 'DEVICE_NOT_READABLE');
    case 'EISDIR': return row('DEVICE_IS_DIRECTORY');
    case 'ELOOP': return row('DEVICE_SYMLINK_LOOP');
    case 'EROFS': return row('DEVICE_ON_READ_ONLY_FS');
    case 'EBUSY': return row('DEVICE_BUSY');
    default: return new AgentError(code, `Device ${path} cannot be opened: ${err?.message ?? String(error)}`);
  }
}

/** A failed read of a device, with the range, so that a failing disk can be located. */
export function deviceReadError(path: string, offset: number, length: number, error: unknown): AgentError {
  const code = (error as NodeJS.ErrnoException)?.code ?? 'EIO';
  return new AgentError(code, DEVICE_ERRORS.IO_READ_ERROR.message(path, offset, length, systemErrorText(error)));
}

/**
 * A failed write or flush of a device (`what`: "Flush of /dev/sdb1"), as the agent reports it; the
 * device takes no more writes after it (device.ts).
 */
export function deviceWriteError(what: string, error: unknown): AgentError {
  const err = error as NodeJS.ErrnoException;
  const code = err?.code ?? 'EIO';
  const text = SYSTEM_ERROR_TEXT[code];
  const reason = text ? `${text} (${code})` : (err?.message ?? String(error));
  return new AgentError(code, (code === 'ENOSPC' ? DEVICE_ERRORS.IO_NO_SPACE : DEVICE_ERRORS.IO_ERROR).message(what, reason));
}

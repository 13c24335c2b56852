// The errors of the files basyn keeps (bitmap, checkpoint, changes file, any state file), by their code
// in docs/errors.md. A bitmap or state file that does not fit the run is exit 1 (nothing written yet);
// a failed read or write of one during the run is exit 2. `fix` is what to do, which the caller knows
// (delete it, --update-bitmap, ...). Raise one with basynError(CODE, ...) from errors.ts.

/** The prefix of every "this bitmap is not for this run" message (bitmap-format.md §3 step 4). */
const doesNotFit = (path: string, what: string, fix: string) => `Bitmap ${path} does not fit this run: ${what}; ${fix}`;

/**
 * What did not match between a version 2 bitmap's header and the run, as the verbose line of an
 * --update-bitmap run says it (findMismatch in bitmap.ts); the BITMAP_ rows of the same name say it
 * in the refusal.
 */
export const BITMAP_MISMATCH = {
  BITMAP_DEVICE_SIZE: (expected: number, got: number) => `device size mismatch: expected ${expected}, got in bitmap ${got}`,
  BITMAP_BUFFER_SIZE: (expected: number, got: number) => `buffer size mismatch: expected ${expected}, got in bitmap ${got}`,
  BITMAP_CHUNK_SIZE: (expected: string, got: string) => `chunk size mismatch: expected ${expected}, got in bitmap ${got}`,
  BITMAP_HASH: (expected: string, got: string) => `hash function mismatch: expected ${expected}, got in bitmap ${got}`,
  BITMAP_OTHER_DESTINATION: (was: string, now: string) => `it describes ${was}, but this run's destination is ${now}`,
  BITMAP_DESTINATION_RESIZED: (was: number, now: number) => `destination size changed: ${was} bytes when the bitmap was made, ${now} now`,
  BITMAP_DESTINATION_REPLACED: (now: bigint | string, was: bigint | string) => `the destination file was replaced (inode ${now}, the bitmap was made for inode ${was})`,
} as const;
export type BitmapMismatchCode = keyof typeof BITMAP_MISMATCH;

const M = BITMAP_MISMATCH;

export const BITMAP_ERRORS = {
  // A version 2 file (bitmap.ts), damaged or not a bitmap.
  BITMAP_EMPTY: { code: 'EBITMAPCORRUPT', kind: 'bitmap', message: (path: string, fix: string) => `Bitmap file ${path} is empty; ${fix}` },
  BITMAP_NOT_A_BITMAP: { code: 'EBITMAPCORRUPT', kind: 'bitmap', message: (path: string, fix: string) => `Invalid bitmap file ${path}: bad magic number (not a basyn bitmap); ${fix}` },
  BITMAP_TOO_SHORT: { code: 'EBITMAPCORRUPT', kind: 'bitmap', message: (path: string, n: number, m: number, fix: string) => `Bitmap file ${path} is too short to contain header (${n} bytes, header is ${m}); ${fix}` },
  BITMAP_UNSUPPORTED_VERSION: { code: 'EBITMAPVERSION', kind: 'bitmap', message: (path: string, n: number, fix: string) => `Bitmap file ${path} has unsupported format version ${n} (this basyn reads 1 and 2); ${fix}` },
  BITMAP_DAMAGED: { code: 'EBITMAPCORRUPT', kind: 'bitmap', message: (path: string, what: string, fix: string) => `Bitmap file ${path} is damaged: ${what}; ${fix}` },

  // A version 2 file made for another run (bitmap-store.ts, from findMismatch).
  BITMAP_DEVICE_SIZE: { code: 'EBITMAPMISMATCH', kind: 'bitmap', message: (path: string, n: number, m: number, fix: string) => doesNotFit(path, M.BITMAP_DEVICE_SIZE(n, m), fix) },
  BITMAP_BUFFER_SIZE: { code: 'EBITMAPMISMATCH', kind: 'bitmap', message: (path: string, n: number, m: number, fix: string) => doesNotFit(path, M.BITMAP_BUFFER_SIZE(n, m), fix) },
  BITMAP_CHUNK_SIZE: { code: 'EBITMAPMISMATCH', kind: 'bitmap', message: (path: string, n: string, m: string, fix: string) => doesNotFit(path, M.BITMAP_CHUNK_SIZE(n, m), fix) },
  BITMAP_HASH: { code: 'EBITMAPMISMATCH', kind: 'bitmap', message: (path: string, name: string, stored: string, fix: string) => doesNotFit(path, M.BITMAP_HASH(name, stored), fix) },
  BITMAP_OTHER_DESTINATION: { code: 'EBITMAPMISMATCH', kind: 'bitmap', message: (path: string, destination: string, now: string, fix: string) => doesNotFit(path, M.BITMAP_OTHER_DESTINATION(destination, now), fix) },
  BITMAP_DESTINATION_RESIZED: { code: 'EBITMAPMISMATCH', kind: 'bitmap', message: (path: string, n: number, m: number, fix: string) => doesNotFit(path, M.BITMAP_DESTINATION_RESIZED(n, m), fix) },
  BITMAP_DESTINATION_REPLACED: { code: 'EBITMAPMISMATCH', kind: 'bitmap', message: (path: string, n: bigint | string, m: bigint | string, fix: string) => doesNotFit(path, M.BITMAP_DESTINATION_REPLACED(n, m), fix) },

  // Python basyn's version 1 file (bitmap-v1.ts).
  BITMAP_V1_TOO_SMALL: { code: 'EBITMAPCORRUPT', kind: 'bitmap', message: (path: string, n: number, fix: string) => `Bitmap file ${path} is too small to contain header (${n} bytes); ${fix}` },
  /** `advice`: "; FIX", or " (use --buffer 64, or FIX)". */
  BITMAP_V1_MISMATCH: { code: 'EBITMAPMISMATCH', kind: 'bitmap', message: (path: string, what: string, a: number | string, b: bigint | string, advice: string) => `Bitmap ${path}: ${what} mismatch: expected ${a}, got in bitmap ${b}${advice}` },
  BITMAP_V1_DAMAGED: { code: 'EBITMAPCORRUPT', kind: 'bitmap', message: (path: string, n: number, m: number, what: string, fix: string) => `Bitmap ${path} is damaged: ${n} bytes, expected ${m} (${what}); ${fix}` },

  // The lock file beside the bitmap (bitmap-lock.ts).
  BITMAP_IN_USE: { code: 'EBITMAPLOCK', kind: 'bitmap', message: (path: string, pid: number, lock: string) => `Bitmap ${path} is in use by another basyn run (pid ${pid}); wait for it to end (lock file ${lock})` },
  BITMAP_IN_USE_ELSEWHERE: { code: 'EBITMAPLOCK', kind: 'bitmap', message: (path: string, pid: number, host: string, lock: string) => `Bitmap ${path} is in use by basyn pid ${pid} on host ${host} (lock ${lock}); if no basyn runs there any more, delete the lock file` },
  BITMAP_LOCK_NOT_OURS: { code: 'EBITMAPLOCK', kind: 'bitmap', message: (lock: string) => `Bitmap lock file ${lock} is not a lock basyn wrote; move it away if no basyn run uses the bitmap` },
  /** `what`: "a symbolic link", "not a regular file". */
  BITMAP_LOCK_NOT_A_FILE: { code: 'EBITMAPLOCK', kind: 'bitmap', message: (lock: string, what: string) => `Bitmap lock file ${lock} is not a lock basyn wrote (${what}); remove it if no basyn run uses the bitmap` },
  BITMAP_LOCK_UNREADABLE: { code: 'EBITMAPLOCK', kind: 'bitmap', message: (lock: string, reason: string) => `Bitmap lock file ${lock}: ${reason}` },
  BITMAP_LOCK_FAILED: { code: 'EBITMAPLOCK', kind: 'bitmap', message: (path: string, lock: string) => `Bitmap ${path}: could not take the lock file ${lock}; delete it if no basyn run uses the bitmap` },

  // What a run needs of a bitmap (session-checks.ts, verify-bitmap.ts, session-recheck.ts).
  BITMAP_MISSING_FOR_RECHECK: { code: 'EBITMAPMISSING', kind: 'bitmap', message: (path: string) => `Bitmap ${path} does not exist (or was not made for this run): --recheck -b without -m only invalidates entries of an existing bitmap` },
  BITMAP_MISSING_FOR_VERIFY: { code: 'EBITMAP', kind: 'bitmap', message: (path: string) => `Bitmap file ${path}: no such file or device` },
  BITMAP_V1_NOT_VERIFIABLE: { code: 'EBITMAPVERSION', kind: 'bitmap', message: (path: string) => `Bitmap file ${path} is a Python basyn (version 1) bitmap: it holds no destination to verify; run a SYNC with it first (it is upgraded)` },
  /** `found`: describeDifferences; `unchecked`: " (2 buffers with no known entry not checked)" or ''; `invalidated`: invalidationText. */
  BITMAP_VERIFY_MISMATCH: { code: 'EMISMATCH', kind: 'mismatch', message: (found: string, unchecked: string, invalidated: string) => `Destination does NOT MATCH the bitmap: ${found}${unchecked}; ${invalidated}` },
  BITMAP_DESTINATION_SMALLER: { code: 'ESIZE', message: (path: string, n: number, m: number) => `Destination ${path} (${n} bytes) is smaller than the source the bitmap describes (${m} bytes)` },
  /** A read, write or flush of the bitmap failed during the run (exit 2: nothing is claimed that was not flushed). */
  BITMAP_IO: { code: 'EBITMAPIO', message: (path: string, reason: string) => `Bitmap file ${path}: ${reason}` },
  CHANGES_FILE_IO: { code: 'ECHANGESIO', message: (path: string, reason: string) => `Changes file ${path}: ${reason}` },

  // Any file basyn keeps (state-file.ts); `file` names its kind: Bitmap, Checkpoint, Changes file, ...
  /** `why`: "is a directory", "exists and is not a file basyn wrote (12 bytes)"; `hint`: the kind's advice. */
  STATE_FILE_REFUSED: { code: 'ESTATEFILE', kind: 'state', message: (file: string, path: string, why: string, hint: string) => `${file} ${path} ${why}: refusing to replace it (nothing was written); ${hint}` },
  STATE_FILE_UNREADABLE: { code: 'ESTATEFILE', kind: 'state', message: (file: string, path: string, reason: string) => `${file} ${path}: ${reason}` },
  STATE_FILE_NO_DIRECTORY: { code: 'ESTATEFILE', kind: 'state', message: (file: string, path: string, directory: string, reason: string) => `${file} ${path}: directory ${directory}: ${reason}` },
  STATE_FILE_SYMLINK_LOOP: { code: 'ESTATEFILE', kind: 'state', message: (file: string, path: string) => `${file} ${path}: too many levels of symbolic links` },
  /** `place`: "the destination", "the source" (with its path). */
  STATE_FILE_IS_DEVICE: { code: 'ESTATEFILE', kind: 'state', message: (file: string, path: string, place: string, device: string) => `${file} ${path} is ${place} (${device}): refusing to write it; choose another file` },
  STATE_FILE_NO_TEMPORARY: { code: 'ESTATEFILE', kind: 'state', message: (path: string) => `${path}: could not create a temporary file beside it` },
  STATE_DIRECTORY: { code: 'ESTATEFILE', kind: 'state', message: (directory: string, reason: string) => `State directory ${directory}: ${reason}; set XDG_STATE_HOME to a directory basyn can write, or use -b` },
  CHECKPOINT_IO: { code: 'ECHECKPOINT', message: (path: string, reason: string) => `Checkpoint ${path}: ${reason}` },
} as const;

// The errors of patch files: writing one (--diff) and applying one (`basyn patch`), by their code in
// docs/errors.md. A patch that is damaged or does not fit its target is exit 2 with nothing written
// (everything is checked before the first write). Raise one with basynError(CODE, ...) from errors.ts.

export const PATCH_ERRORS = {
  // Reading a patch (patch-format.ts, bdsync-format.ts, chunked-decoder.ts, remote/patch-reader.ts).
  PATCH_EMPTY: { code: 'EPATCH', kind: 'patch', message: () => 'the patch is empty (0 bytes)' },
  PATCH_NOT_A_PATCH: { code: 'EPATCH', kind: 'patch', message: () => 'not a patch: neither a basyn patch (BASYNPAT) nor a bdsync one (BDSYNC 0.3)' },
  /** `where`: "record-data" and the like, the part of the format the file ends in. */
  PATCH_CUT_SHORT: { code: 'EPATCH', kind: 'patch', message: (n: number, where: string) => `the patch is cut short: it ends at byte ${n}, in ${where}` },
  /**
   * The first byte that breaks the format (patch-format.md, bdsync's format), `what` saying how in the
   * codec's words ("unknown patch version 2 (this basyn reads version 1)", "the bdsync patch is cut
   * short (12 bytes)", "trailing bytes after the trailer", ...).
   */
  PATCH_MALFORMED: { code: 'EPATCH', kind: 'patch', message: (what: string, n: number) => `${what} at byte ${n}` },
  PATCH_RECORD_DAMAGED: { code: 'EPATCH', kind: 'patch', message: (offset: number) => `record at ${offset}: its data does not match its digest: the file is damaged` },
  /** `reason`: why its DEFLATE data does not inflate (PROTOCOL_CORRUPT_BLOCK, PROTOCOL_INFLATED_SIZE). */
  PATCH_RECORD_CORRUPT: { code: 'EPATCH', kind: 'patch', message: (offset: number, reason: string) => `record at ${offset}: ${reason}` },

  // Applying one (remote/patch-apply.ts, patch-spool.ts, patch-journal.ts).
  PATCH_TARGET_UNREADABLE: { code: 'EPATCH', kind: 'patch', message: (target: string, reason: string) => `${target}: ${reason}` },
  PATCH_WRONG_TARGET_SIZE: { code: 'EPATCH', kind: 'patch', message: (target: string, n: number, m: number) => `wrong target: ${target} is ${n} bytes, the patch was made for a ${m}-byte target; nothing written` },
  /** `range`: "range 0+4096 holds neither the patch's pre-image nor its result". */
  PATCH_WRONG_TARGET: { code: 'EPATCH', kind: 'patch', message: (range: string) => `wrong target: ${range}; nothing written` },
  PATCH_SIZE_STRICT: { code: 'EPATCH', kind: 'patch', message: (target: string, n: number, m: number) => `${target} is ${n} bytes, the patch makes ${m}: pass --diffsize resize (image files) or --diffsize minsize; nothing written` },
  PATCH_RESIZE_NOT_A_FILE: { code: 'EPATCH', kind: 'patch', message: (target: string) => `--diffsize resize needs an image file, ${target} is not a regular file; nothing written` },
  PATCH_RESIZE_SHRINKS: { code: 'EPATCH', kind: 'patch', message: (target: string, n: number, m: number) => `--diffsize resize only grows a target (${target} is ${n} bytes, the patch makes ${m}); use --diffsize minsize; nothing written` },
  PATCH_OTHER_APPLY_JOURNALLED: {
    code: 'EPATCH', kind: 'patch',
    message: (target: string, journal: string) => `an unfinished apply of another patch to ${target} is journalled in ${journal}: finish it with that patch, or undo it with basyn patch --rollback ${target}`,
  },
  PATCH_NOTHING_TO_ROLL_BACK: { code: 'EPATCH', kind: 'patch', message: (target: string, journal: string) => `no unfinished apply to ${target} is journalled (looked for ${journal}): nothing to roll back` },
  PATCH_JOURNAL_EXISTS: { code: 'EPATCH', kind: 'patch', message: (journal: string) => `${journal} exists: another apply is journalled there; basyn never replaces a file it did not create` },
  PATCH_JOURNAL_NOT_OURS: { code: 'EPATCH', kind: 'patch', message: (journal: string) => `${journal} is not a basyn undo journal, or its header is damaged; it was left alone` },
  PATCH_SPOOL_FULL: {
    code: 'EPATCH', kind: 'patch',
    message: (dir: string, free: number, spooled: number, coming: number, margin: number) => `not enough free space in ${dir} to spool the patch (${free} bytes free, ${spooled} spooled, ${coming} more coming, ${margin} kept free); pass --spool-dir; nothing written to the target`,
  },
  /** A system error nothing below named (e.g. ENOSPC while spooling). */
  PATCH_SYSTEM_ERROR: { code: 'EPATCH', kind: 'patch', message: (reason: string) => `basyn patch: ${reason}` },
  PATCH_REMOTE_OUTCOME: { code: 'ESYNC', message: (outcome: string) => `remote agent answered '${outcome}'` },

  // Writing one (local/patch-writer.ts, session-diff.ts).
  PATCH_FILE_EXISTS: { code: 'EUSAGE', kind: 'usage', message: (file: string) => `--diff ${file}: the file exists; basyn never replaces a file it did not create (remove it or name another)` },
  PATCH_FILE_UNWRITABLE: { code: 'EUSAGE', kind: 'usage', message: (file: string, reason: string) => `--diff ${file}: ${reason}` },
  PATCH_SIZES_DIFFER: { code: 'ESIZE', message: (n: number, m: number) => `The source is ${n} bytes and the destination ${m}: pass --diffsize resize or --diffsize minsize` },
  PATCH_BITMAP_SIZES_DIFFER: { code: 'EUSAGE', kind: 'usage', message: () => '--diff with a bitmap needs a source and a destination of one size' },
} as const;

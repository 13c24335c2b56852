// The command-line errors (exit 1: nothing was opened for writing, nothing changed), by their code in
// docs/errors.md. Each row builds the message from its parameters; the parameter names are the doc's
// placeholders (`<option>`), which test/errors-table.test.ts uses to check every row against the doc.
// Raise one with basynError(code, ...) from errors.ts. Python basyn's texts are kept to the letter
// (marked "Python basyn"): scripts written for it match them.

const FORM_HINT = 'use either `basyn [options] SOURCE TARGET` or `basyn -l DEVICE -r DEVICE [-h HOST] -a PUSH|PULL -m SYNC|COPY`';

export const USAGE_ERRORS = {
  // The SOURCE TARGET form (endpoint-options.ts).
  USAGE_TOO_MANY_ENDPOINTS: (n: number) => `Too many arguments: basyn [options] SOURCE TARGET takes two, got ${n}`,
  USAGE_FORMS_MIXED: (options: string) => `SOURCE TARGET and ${options} are two forms that do not mix: ${FORM_HINT}`,
  USAGE_TARGET_MISSING: (source: string) => `TARGET is missing: basyn [options] SOURCE TARGET (got only '${source}')`,
  USAGE_SAME_ENDPOINT: (source: string, target: string) => `SOURCE and TARGET are the same file (${source} and ${target})`,
  USAGE_SAME_REMOTE_ENDPOINT: (endpoint: string) => `SOURCE and TARGET are the same remote file (${endpoint})`,
  USAGE_NEEDS_REMOTE_ENDPOINT: (options: string) => `${options}: only for remote endpoints (host:PATH, ssh://host/PATH); SOURCE and TARGET are both on this machine`,
  USAGE_SIDE_RSH_LOCAL: (side: string, SIDE: string, endpoint: string) => `--${side}-rsh: only for a remote ${SIDE} (host:PATH, ssh://host/PATH); ${SIDE} '${endpoint}' is on this machine`,
  USAGE_ENDPOINT_FORM_ONLY: (option: string) => `${option} is for the SOURCE TARGET form: ${FORM_HINT}`,
  USAGE_BAD_ENDPOINT: (SIDE: string, endpoint: string, reason: string) => `${SIDE} '${endpoint}': ${reason}`,
  USAGE_UNKNOWN_SCHEME: (scheme: string, endpoint: string, known: string) => `Unknown endpoint scheme '${scheme}://' in '${endpoint}' (known: ${known}; a local path containing '://' can be written ./${endpoint})`,
  USAGE_TARGET_LARGER: (target: string, n: number, source: string, m: number) => `TARGET ${target} (${n} bytes) is larger than SOURCE ${source} (${m} bytes): pass -f/--force to sync the first ${m} bytes and leave the rest as it is`,
  USAGE_NOT_CONFIRMED: () => 'Not confirmed: nothing was written',
  USAGE_EMPTY_WRAP: (side: string) => `--${side}-wrap needs a command, e.g. --${side}-wrap "sudo -n"`,

  // Python basyn's -l/-r form (options.ts).
  USAGE_DEVICE_MISSING: (option: string) => `Option must be provided: ${option}`, // Python basyn
  USAGE_UNKNOWN_ACTION: (action: string) => `Unknown action - '${action}'`, // Python basyn
  USAGE_MODE_MISSING: () => 'Option -m/--mode must be provided with -a/--action', // Python basyn
  USAGE_UNKNOWN_MODE: (mode: string, action: string) => `Unknown mode - '${mode}' for action '${action}'`, // Python basyn
  USAGE_MODE_WITHOUT_ACTION: () => 'Option -m/--mode can be only used with -a/--action', // Python basyn
  USAGE_NEEDS_HOST: (option: string) => `Option ${option} can be only used with -h/--host`, // Python basyn
  USAGE_SAME_DEVICE: (local: string, remote: string) => `-l/--local and -r/--remote are the same file (${local} and ${remote})`,
  USAGE_HOST_EMPTY: () => '-h/--host is empty: give a host name or address, or leave -h out to sync on this machine',
  USAGE_HOST_DASH: (host: string) => `-h/--host '${host}': a host name cannot start with '-' (it would be read as an option)`,
  USAGE_BAD_HOST: (host: string) => `-h/--host '${host}' is not a host name or address`,
  USAGE_BAD_USER: (user: string) => `-u/--user '${user}' is not a user name`,

  // Values of options.
  USAGE_NOT_A_NUMBER: (option: string, value: string) => `Argument conversion error: ${option} must be a whole number, got '${value}'`, // Python basyn
  USAGE_OUT_OF_RANGE: (option: string, min: number, max: number, value: number) => `${option} must be between ${min} and ${max}, got ${value}`,
  USAGE_NOT_A_SIZE: (option: string, units: string, value: string) => `${option} expects a size such as 10M or 500kB (units ${units}), got '${value}'`,
  USAGE_SIZE_TOO_LARGE: (option: string, value: string) => `${option}: ${value} is too large`,
  USAGE_BLOCK_SIZE: (option: string, max: number, size: string) => `${option} must be a whole number of KiB from 1K to ${max}M, got '${size}'`,
  USAGE_BUFFER_TWICE: (options: string) => `${options} all set the buffer size: give one`,
  USAGE_CHUNK_ABOVE_BUFFER: () => "--chunk can't be greater than --buffer", // Python basyn
  USAGE_BWLIMIT_TOO_LOW: (rate: string) => `--bwlimit must be at least 1K (1024 bytes per second), or 0 for no limit; got '${rate}'`,
  USAGE_HASH_TWICE: () => '--hash and --algo are the same option: give one',
  USAGE_UNKNOWN_HASH: (name: string, names: string) => `Unsupported hash function: ${name} (one of ${names})`, // Python basyn's start
  USAGE_PROGRESS_TWICE: () => '--progress given twice',
  USAGE_PROGRESS_STYLE: (style: string) => `--progress= must be none, dot or full, got '${style}'`,
  USAGE_SSH_OPTION_SYNTAX: (value: string) => `-o expects KEY=VALUE, got '${value}'`,

  // SSH settings (transport/ssh-config.ts, transport/rsh.ts).
  USAGE_SSH_OPTION_UNSUPPORTED: (key: string) => `-o ${key} is not supported by the built-in SSH client; use --rsh "ssh -o ${key}=..." for it`,
  USAGE_SSH_CONFIG_MISSING: (file: string) => `ssh config file ${file} not found`,
  USAGE_SSH_CONFIG_VALUE: (keyword: string, what: string, value: string) => `ssh config: ${keyword} must be ${what}, got '${value}'`,
  USAGE_RSH_EMPTY: () => '--rsh needs a command, e.g. --rsh "ssh -i key"',
  USAGE_RSH_QUOTE: (quote: string, command: string) => `--rsh: unterminated ${quote} in: ${command}`,
  USAGE_RSH_BACKSLASH: (command: string) => `--rsh: trailing \\ in: ${command}`,

  // Combinations (options.ts).
  USAGE_REPAIR_NEEDS_RECHECK: () => '--repair can be only used with --recheck',
  USAGE_REPAIR_NEEDS_ACTION: () => '--repair needs -a/--action: it says which device is the source',
  USAGE_RECHECK_NEEDS_BOTH: () => '--recheck needs both devices: -l/--local and -r/--remote',
  USAGE_VERIFY_BITMAP_NEEDS: () => '--verify-bitmap needs -a/--action and -b/--bitmap (-a PUSH -r DEST -b FILE, or -a PULL -l DEST -b FILE)',
  USAGE_VERIFY_BITMAP_WITH_MODE: () => '--verify-bitmap syncs nothing: it cannot be used with -m/--mode',
  USAGE_VERIFY_BITMAP_WITH_RECHECK: () => '--verify-bitmap and --recheck cannot be used together (--recheck reads both devices)',
  USAGE_VERIFY_BITMAP_WITH_CHANGES: () => '--verify-bitmap cannot be used with --changes',
  USAGE_VERIFY_BITMAP_DESTINATION: (option: string) => `--verify-bitmap needs the destination device: ${option}`,
  USAGE_PASSES_NEEDS_SYNC: () => '--passes needs a sync that writes a destination (-a and -m, not --diff nor bitmap-only mode)',
  USAGE_BITMAP_NEEDS_SYNC: () => '--bitmap can be used with --mode==SYNC only', // Python basyn
  USAGE_SALTED_HASH_WITH_BITMAP: (name: string) => `--hash ${name} is salted for each run and cannot be stored in a bitmap; use SHA1 or another basyn hash`,
  USAGE_WEAK_HASH_WITH_BITMAP: (name: string) => `--algo ${name} is a 32-bit digest and is never stored in a bitmap; use SHA1 or another basyn hash`,
  USAGE_BITMAP_OPTION_NEEDS_BITMAP: (option: string) => `${option} can be only used with -b/--bitmap`,
  USAGE_BITMAP_OPTION_NEEDS_SYNC: (option: string) => `${option} can be only used with -m SYNC`,
  USAGE_RESET_AND_UPDATE: () => '--reset-bitmap and --update-bitmap cannot be used together',
  USAGE_UPDATE_NEEDS_DESTINATION: () => '--update-bitmap needs the destination device (it reads it)',
  USAGE_CHANGES_NEEDS_BITMAP_ONLY: () => '--changes can be only used in bitmap-only mode (-b without a destination device)',

  // --diff (options.ts) and `basyn patch` (patch-command.ts).
  USAGE_DIFF_FORMAT: (format: string) => `--diff-format must be basyn or bdsync, got '${format}'`,
  USAGE_DIFF_SIZE_MODE: (mode: string) => `--diffsize must be strict, resize or minsize, got '${mode}'`,
  USAGE_DIFF_NEEDS_SYNC: () => '--diff can be used with -m SYNC only',
  USAGE_DIFF_WITH_RECHECK: () => '--diff and --recheck cannot be used together (the destination is not written)',
  USAGE_DIFF_STDOUT_WITH_JSON: () => '--diff - and --json cannot be used together: both would write to stdout',
  USAGE_DIFF_WITH_BITMAP_REWRITE: () => '--diff cannot be used with --update-bitmap or --reset-bitmap',
  USAGE_DIFF_BITMAP_ONLY: () => '--diff in bitmap-only mode needs --diff-advances-bitmap: the bitmap then stands for the target once this patch is applied, so every patch must be applied, in order',
  USAGE_DIFF_FAST_BITMAP: (hash: string) => `--diff with -b puts the bitmap's digests in the patch, which cannot hold ${hash} digests: use a bitmap with SHA1 or another cryptographic --hash`,
  USAGE_DIFF_BDSYNC_NEEDS_DESTINATION: () => '--diff-format bdsync needs the destination (-r for PUSH, -l for PULL): it names it',
  USAGE_DIFF_OPTION_NEEDS_DIFF: () => '--diff-format, --diff-advances-bitmap and --diffsize can be only used with --diff',
  USAGE_DIFF_ADVANCES_NEEDS_BITMAP: () => '--diff-advances-bitmap can be only used with -b/--bitmap',
  USAGE_PATCH_ARGUMENTS: () => 'usage: basyn patch [options] FILE|- DEST',
  USAGE_ROLLBACK_ARGUMENTS: () => 'usage: basyn patch --rollback [FILE] DEST',
  USAGE_ROLLBACK_DIFFSIZE: () => '--diffsize has no meaning with --rollback',
  USAGE_PATCH_FILE: (path: string, reason: string) => `${path}: ${reason}`,

  // `basyn completion` (completion.ts).
  USAGE_COMPLETION_SHELL: (shell: string) => `basyn completion: no completion for '${shell}' (only bash)`,
  USAGE_COMPLETION_ARGUMENTS: () => 'usage: basyn completion bash',
} as const;

export type UsageCode = keyof typeof USAGE_ERRORS;

/**
 * The rows of docs/errors.md whose message is commander's own (it prints them itself, before any of
 * basyn's code runs): they are in the doc, not in a table here.
 */
export const COMMANDER_ERRORS = ['USAGE_UNKNOWN_OPTION', 'USAGE_OPTION_VALUE_MISSING', 'USAGE_TOO_MANY_ARGUMENTS', 'USAGE_ARGUMENT_MISSING'] as const;

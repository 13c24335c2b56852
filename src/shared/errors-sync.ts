// The errors of a run that has started (exit 2: the destination may be partly written; a rerun
// converges), by their code in docs/errors.md. Each row: the stable `code` a --json end event and a
// task failure carry, and the message built from its parameters (named as the doc's placeholders,
// which test/errors-table.test.ts checks). Raise one with basynError(code, ...) from errors.ts. The
// device errors the agent raises are DEVICE_ERRORS (errors.ts). `kind` (errors.ts): default sync, exit 2.

export const SYNC_ERRORS = {
  DEVICE_EMPTY: { code: 'EEMPTY', message: () => 'One of the devices is size 0. There is nothing to sync.' }, // Python basyn
  SIZE_TARGET_SMALLER: { code: 'ESIZE', message: (target: string, n: number, source: string, m: number) => `TARGET ${target} (${n} bytes) is smaller than SOURCE ${source} (${m} bytes): nothing was written` },
  SIZE_PUSH_DESTINATION_SMALLER: { code: 'ESIZE', message: (remote: number, local: number) => `Cannot PUSH because remote device size (${remote}) is smaller than local (${local})` }, // Python basyn
  SIZE_PULL_DESTINATION_SMALLER: { code: 'ESIZE', message: (remote: number, local: number) => `Cannot PULL because remote device size (${remote}) is greater than local (${local})` }, // Python basyn
  /** `found`: "3 of 10 buffers (...) differ, in ..." (describeDifferences); `note`: what happened to the bitmap. */
  RECHECK_MISMATCH: { code: 'EMISMATCH', kind: 'mismatch', message: (found: string, note = '') => `Local and remote hashes does NOT MATCH: ${found}${note}` }, // Python basyn's start
  /** `sent`: bytes; `found`: as RECHECK_MISMATCH's. */
  RECHECK_REPAIR_FAILED: {
    code: 'EMISMATCH', kind: 'mismatch',
    message: (sent: number, found: string, note = '') => `Repair failed: after sending ${sent} bytes and a flush, ${found}${note} (is something else writing to the destination, or the source changing?)`,
  },
  /** SIGINT is "by user", as Python basyn says; the others by their name. */
  INTERRUPTED: { code: 'EINTR', message: (signal: string) => (signal === 'SIGINT' ? 'Interrupted by user' : `Interrupted by ${signal}`) },
  LINK_AGENT_ENDED: { code: 'ELINK', message: (role: string, link: string, how: string) => `${role} agent (${link}) ended unexpectedly (${how})` },
  /** `said`: the last lines of its stderr, if any. */
  WRAPPER_FAILED: { code: 'EWRAP', message: (command: string, host: string, how: string, said = '') => `the wrapper '${command}' on ${host} ${how} before the agent started${said ? `: ${said}` : ''}` },
  /** `at`: " at PATH" when --remote-node was given. */
  REMOTE_NODE_MISSING: { code: 'ENONODE', message: (major: number, host: string, at = '') => `node >= ${major} not found on ${host}${at}; install it or pass --remote-node PATH` },
  /** `said`: the loader's words, "node 16.1 is too old, need >= 18". */
  REMOTE_NODE_TOO_OLD: { code: 'ENONODE', message: (major: number, host: string, at: string, said: string) => `node >= ${major} not found on ${host}${at} (${said}); install it or pass --remote-node PATH` },
  REMOTE_UPLOAD_CORRUPTED: { code: 'EUPLOAD', message: (host: string) => `the agent upload to ${host} arrived corrupted` },
  REMOTE_AGENT_START_TIMEOUT: { code: 'ESTART', message: (host: string, seconds: string) => `the remote agent on ${host} did not start within ${seconds}` },
  REMOTE_AGENT_START_FAILED: { code: 'ESTART', message: (host: string, how: string, said = '') => `the remote agent on ${host} ${how} before starting${said ? `: ${said}` : ''}` },
  /** An error no code of basyn's raised on purpose: a bug, or a system error nothing below caught. */
  UNEXPECTED: { code: 'EUNEXPECTED', message: (reason: string) => `Unexpected error: ${reason}` },
} as const;

export type SyncCode = keyof typeof SYNC_ERRORS;

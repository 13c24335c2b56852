// The errors of reaching a remote host (transport/ssh.ts, ssh-auth.ts, known-hosts.ts, ssh-config.ts,
// rsh.ts), by their code in docs/errors.md: exit 2 for a connection that fails (nothing was written),
// exit 1 for an ssh config that cannot be used. Raise one with basynError(CODE, ...) from errors.ts.

export const SSH_ERRORS = {
  // The TCP connection (ssh.ts): `reason` is "connection refused", "no route to host" or node's text.
  SSH_CONNECT: { code: 'ECONNECT', message: (host: string, port: number, reason: string) => `ssh: cannot connect to ${host} port ${port}: ${reason}` },
  SSH_RESOLVE: { code: 'ECONNECT', message: (host: string) => `ssh: could not resolve hostname ${host}` },
  /** `after`: " after 10 s" when basyn's own ConnectTimeout ran out, '' for the system's. */
  SSH_CONNECT_TIMEOUT: { code: 'ECONNECT', message: (host: string, port: number, after = '') => `ssh: connect to ${host} port ${port}: timed out${after}` },
  SSH_CONNECTION_RESET: { code: 'ECONNECT', message: (host: string, port: number) => `ssh: connection to ${host} port ${port} was reset` },
  SSH_HANDSHAKE_TIMEOUT: { code: 'ECONNECT', message: (host: string, seconds: string) => `ssh: ${host}: no answer to the SSH handshake within ${seconds}` },
  SSH_HANDSHAKE_CLOSED: { code: 'ECONNECT', message: (host: string) => `ssh: ${host} closed the connection during the handshake` },
  /** Any other failure ssh2 reports during the handshake, in its words. */
  SSH_FAILED: { code: 'ECONNECT', message: (host: string, reason: string) => `ssh: ${host}: ${reason}` },
  SSH_JUMP_UNREACHABLE: { code: 'ECONNECT', message: (jump: string, host: string, port: number, reason: string) => `ssh: jump host ${jump} cannot reach ${host} port ${port}: ${reason}` },
  SSH_JUMP_TIMEOUT: { code: 'ECONNECT', message: (jump: string, host: string, port: number, seconds: string) => `ssh: jump host ${jump}: connect to ${host} port ${port}: timed out after ${seconds}` },
  SSH_EXEC_FAILED: { code: 'ECONNECT', message: (host: string, reason: string) => `ssh: ${host}: cannot run the agent: ${reason}` },
  SSH_EXEC_TIMEOUT: { code: 'ECONNECT', message: (host: string, seconds: string) => `ssh: ${host}: the exec channel for the agent did not open within ${seconds}` },

  // The host key (known-hosts.ts): never accepted silently.
  /** `command`: "ssh-keyscan -p 2222 host", `file`: the known_hosts file it would go to. */
  SSH_HOST_KEY_UNKNOWN: {
    code: 'EHOSTKEY_UNKNOWN',
    message: (host: string, key: string, command: string, file: string) => `Host key for ${host} is not known; the server offered ${key}: if that is right, rerun with --accept-new to record it, or add it with: ${command} >> ${file}`,
  },
  SSH_HOST_KEY_NO_FILE: { code: 'EHOSTKEY_UNKNOWN', message: (host: string) => `Host key for ${host} is not known and there is no known hosts file to record it in` },
  SSH_HOST_KEY_CHANGED: {
    code: 'EHOSTKEY_CHANGED',
    message: (host: string, key: string, file: string, line: number) => `WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED for ${host}: it offered ${key}, ` +
      `which differs from the key in ${file}:${line}; someone could be eavesdropping (man-in-the-middle), ` +
      `or the host key was replaced: check, then remove the old key with ssh-keygen -R '${host}' -f ${file}`,
  },
  SSH_HOST_KEY_REKEYED: {
    code: 'EHOSTKEY_CHANGED',
    message: (host: string, key: string, accepted: string) => `Host key for ${host} changed during the connection (key re-exchange): it offered ${key} ` +
      `after ${accepted}; refusing to continue (man-in-the-middle?)`,
  },
  /** `types`: the key types known for the host; `where`: their FILE:LINE; `command`: the ssh-keyscan line. */
  SSH_HOST_KEY_NEW_TYPE: {
    code: 'EHOSTKEY_TYPE',
    message: (host: string, types: string, where: string, key: string, command: string) => `Host key for ${host} is known only as ${types} (${where}), ` +
      `but the server offered ${key}: a key of a new type is not recorded for a known host, even with ` +
      `--accept-new or StrictHostKeyChecking=accept-new/no (a server that no longer shows its known key ` +
      `may be a man-in-the-middle); if the host really changed its keys, check the fingerprint and add it with: ${command}`,
  },
  SSH_HOST_KEY_REVOKED: { code: 'EHOSTKEY', message: (host: string, key: string, file: string, line: number) => `Host key for ${host} (${key}) is marked as revoked in ${file}:${line}; refusing to connect` },
  SSH_KNOWN_HOSTS_UNREADABLE: { code: 'EHOSTKEY', message: (file: string, reason: string) => `cannot read known hosts file ${file}: ${reason}` },
  SSH_KNOWN_HOSTS_UNWRITABLE: { code: 'EHOSTKEY', message: (file: string, reason: string) => `cannot record the host key in ${file}: ${reason}` },

  // Authentication (ssh-auth.ts).
  /** `what`: "tried KEY, ...", or "no key to offer (none found, no ssh-agent)", then notes on keys that could not be used. */
  SSH_AUTH_FAILED: { code: 'EAUTH', message: (user: string, host: string, what: string) => `Authentication failed for ${user}@${host}: ${what}` },
  SSH_NO_TERMINAL: { code: 'EAUTH', message: () => 'cannot ask for a passphrase: standard input is not a terminal' },
  SSH_PASSPHRASE_INTERRUPTED: { code: 'EINTR', message: () => 'interrupted at the passphrase prompt' },

  // --rsh (rsh.ts): the command exited 255, ssh's own failure.
  SSH_RSH_FAILED: { code: 'ECONNECT', message: (command: string, host: string, reason: string) => `--rsh ${command} to ${host} failed: ${reason}` },

  // The ssh config (ssh-config.ts): exit 1, nothing was opened.
  SSH_CONFIG_UNREADABLE: { code: 'EUSAGE', kind: 'usage', message: (file: string, reason: string) => `cannot parse ssh config ${file}: ${reason}` },
  SSH_CONFIG_INCLUDE_DEPTH: { code: 'EUSAGE', kind: 'usage', message: (file: string) => `ssh config: Include nested too deeply at ${file}` },
  SSH_CONFIG_JUMP_HOST: { code: 'EUSAGE', kind: 'usage', message: (spec: string) => `ssh config: bad ProxyJump host '${spec}'` },
  SSH_CONFIG_JUMP_PORT: { code: 'EUSAGE', kind: 'usage', message: (value: string) => `ssh config: ProxyJump port must be a number from 1 to 65535, got '${value}'` },
} as const;

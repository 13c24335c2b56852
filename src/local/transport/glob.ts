// OpenSSH's wildcard patterns (ssh_config(5), "PATTERNS"): `*` matches any run of characters, `?`
// exactly one; everything else is literal. Used for known_hosts host patterns and for Include file
// names in the ssh config (ssh-config's own Host matching is the library's).

/** Whether `text` matches the whole of `pattern`. */
export function globMatches(pattern: string, text: string): boolean {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`).test(text);
}

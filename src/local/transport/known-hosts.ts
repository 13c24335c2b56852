// Host key verification the way OpenSSH does it, against known_hosts files.
//
// One line of a known_hosts file (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT"):
//   [@marker] hostpatterns keytype base64-key [comment]
//   marker        @revoked (this key is never accepted) or @cert-authority (ignored: no host certificates here)
//   hostpatterns  comma list of names with * and ? wildcards and ! negation; `[host]:port` when port != 22;
//                 or one hashed name `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`
// A key blob (RFC 4253 6.6) starts with its type:  u32 length | type name | type-specific fields.
import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SyncError, basynError } from '../../shared/errors';
import { globMatches } from './glob';

export interface KnownHostEntry {
  readonly file: string;
  readonly line: number;
  readonly marker?: 'revoked' | 'cert-authority';
  /** Plain patterns (lowercased), or one hashed name. */
  readonly patterns: string[];
  readonly keyType: string;
  readonly key: Buffer;
}

/** The name known_hosts files use for a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port: number): string {
  const name = host.toLowerCase();
  return port === 22 ? name : `[${name}]:${port}`;
}

/** The SHA256 fingerprint of a key blob, as OpenSSH prints it. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The type name a key blob starts with ("ssh-ed25519", "ssh-rsa", ...), or undefined if malformed. */
export function keyBlobType(key: Buffer): string | undefined {
  if (key.length < 4) return undefined;
  const length = key.readUInt32BE(0);
  if (length === 0 || length > 64 || 4 + length > key.length) return undefined;
  return key.subarray(4, 4 + length).toString('latin1');
}

/** How OpenSSH names a key type in messages: ED25519, ECDSA, RSA, DSA. */
function keyKind(keyType: string): string {
  if (keyType.includes('ed25519')) return 'ED25519';
  if (keyType.includes('ecdsa')) return 'ECDSA';
  if (keyType.includes('rsa')) return 'RSA';
  if (keyType.includes('dss')) return 'DSA';
  return keyType;
}

export function parseKnownHosts(text: string, file: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, index) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === '' || fields[0].startsWith('#')) return;
    let marker: KnownHostEntry['marker'];
    if (fields[0].startsWith('@')) {
      const name = fields.shift();
      if (name === '@revoked') marker = 'revoked';
      else if (name === '@cert-authority') marker = 'cert-authority';
      else return;
    }
    if (fields.length < 3) return;
    const [hosts, keyType, base64] = fields;
    const key = Buffer.from(base64, 'base64');
    if (keyBlobType(key) !== keyType) return; // a damaged line: OpenSSH skips it too
    const patterns = hosts.startsWith('|') ? [hosts] : hosts.toLowerCase().split(',').filter(Boolean);
    entries.push({ file, line: index + 1, marker, patterns, keyType, key });
  });
  return entries;
}

/** Entries of the files that exist; a missing file is just empty, an unreadable one is an error. */
export function readKnownHosts(files: readonly string[]): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw basynError('SSH_KNOWN_HOSTS_UNREADABLE', file, (error as Error).message);
    }
    entries.push(...parseKnownHosts(text, file));
  }
  return entries;
}

function hashedMatches(hashed: string, name: string): boolean {
  const parts = hashed.split('|'); // ['', '1', salt, hash]
  if (parts.length !== 4 || parts[1] !== '1') return false;
  const salt = Buffer.from(parts[2], 'base64');
  const expected = Buffer.from(parts[3], 'base64');
  return createHmac('sha1', salt).update(name).digest().equals(expected);
}

/** Whether an entry's host patterns cover `name` (a negated match excludes the line). */
export function entryMatches(entry: KnownHostEntry, name: string): boolean {
  if (entry.patterns.length === 1 && entry.patterns[0].startsWith('|')) return hashedMatches(entry.patterns[0], name);
  let matched = false;
  for (const pattern of entry.patterns) {
    const negated = pattern.startsWith('!');
    if (!globMatches(negated ? pattern.slice(1) : pattern, name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

export type HostKeyStatus =
  | { status: 'known'; entry: KnownHostEntry }
  /** `otherTypes`: key types already on file for the host (another key type offered: a possible downgrade). */
  | { status: 'unknown'; otherTypes: string[] }
  | { status: 'changed'; entry: KnownHostEntry }
  | { status: 'revoked'; entry: KnownHostEntry };

/** Looks `key` up for `name`: OpenSSH's answer, without its prompts. */
export function checkHostKey(entries: readonly KnownHostEntry[], name: string, key: Buffer): HostKeyStatus {
  const keyType = keyBlobType(key);
  const revoked = entries.find((entry) => entry.marker === 'revoked' && entry.key.equals(key));
  if (revoked) return { status: 'revoked', entry: revoked };
  const forHost = entries.filter((entry) => entry.marker === undefined && entryMatches(entry, name));
  const same = forHost.find((entry) => entry.key.equals(key));
  if (same) return { status: 'known', entry: same };
  const changed = forHost.find((entry) => entry.keyType === keyType);
  if (changed) return { status: 'changed', entry: changed };
  return { status: 'unknown', otherTypes: [...new Set(forHost.map((entry) => entry.keyType))] };
}

/** The ssh2 host key algorithm names that a known_hosts key type stands for. */
function algorithmsOf(keyType: string): string[] {
  return keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [keyType];
}

/**
 * Host key algorithms to offer, those already known for `name` first: like OpenSSH, so a server with
 * several host keys shows the one we have on file rather than looking "unknown".
 */
export function preferredHostKeyAlgorithms(entries: readonly KnownHostEntry[], name: string, defaults: readonly string[]): string[] {
  const known = entries
    .filter((entry) => entry.marker === undefined && entryMatches(entry, name))
    .flatMap((entry) => algorithmsOf(entry.keyType))
    .filter((algorithm) => defaults.includes(algorithm));
  return [...new Set([...known, ...defaults])];
}

/**
 * Appends `name keytype base64` to `file`, creating it (0600) and its directory (0700) if missing.
 * A file that already has that key for that name (another run recorded it meanwhile) is left as it is.
 */
export function appendKnownHost(file: string, name: string, key: Buffer): void {
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    closeSync(openSync(file, 'a', 0o600));
    const existing = readFileSync(file, 'utf8');
    const recorded = parseKnownHosts(existing, file).some((entry) => entry.marker === undefined && entry.key.equals(key) && entryMatches(entry, name));
    if (recorded) return;
    const separator = existing.length > 0 && !existing.endsWith('\n') ? '\n' : '';
    appendFileSync(file, `${separator}${name} ${keyBlobType(key)} ${key.toString('base64')}\n`);
  } catch (error) {
    throw basynError('SSH_KNOWN_HOSTS_UNWRITABLE', file, (error as Error).message);
  }
}

export type StrictHostKeyChecking = 'yes' | 'accept-new' | 'no';

export interface HostKeyPolicy {
  /** The host connected to, and its port. */
  readonly host: string;
  readonly port: number;
  /** HostKeyAlias: the name to look up instead of `[host]:port`. */
  readonly alias?: string;
  /** Every file to check; the first is where accepted keys are recorded. */
  readonly files: readonly string[];
  /**
   * `yes`: unknown hosts are refused; `accept-new`/`no`: recorded. A changed key is always refused,
   * and so is a key of a new type for a host known with other key types (a downgrade).
   */
  readonly strict: StrictHostKeyChecking;
}

/**
 * Verifies one connection's host key (ssh2's `hostVerifier` hands over the raw key blob). A refusal
 * is kept in `failure` as a one-line SyncError, since ssh2 itself only reports "verification failed".
 */
export class HostKeyVerifier {
  readonly name: string;
  private readonly entries: KnownHostEntry[];
  failure?: SyncError;
  /** Set once a key has been recorded, for a note to the user. */
  recorded?: string;
  /** The key this connection accepted: every later key exchange (rekey) must show the same one. */
  private accepted?: Buffer;

  constructor(private readonly policy: HostKeyPolicy) {
    this.name = policy.alias?.toLowerCase() ?? knownHostName(policy.host, policy.port);
    this.entries = readKnownHosts(policy.files);
  }

  hostKeyAlgorithms(defaults: readonly string[]): string[] {
    return preferredHostKeyAlgorithms(this.entries, this.name, defaults);
  }

  verify(key: Buffer): boolean {
    if (this.accepted) {
      if (this.accepted.equals(key)) return true;
      this.failure = basynError('SSH_HOST_KEY_REKEYED', this.name, `${keyKind(keyBlobType(key) ?? 'unknown')} key ${fingerprint(key)}`, fingerprint(this.accepted));
      return false;
    }
    const accepted = this.check(key);
    if (accepted) this.accepted = key;
    return accepted;
  }

  private check(key: Buffer): boolean {
    const result = checkHostKey(this.entries, this.name, key);
    const kind = keyKind(keyBlobType(key) ?? 'unknown');
    const shown = `${kind} key ${fingerprint(key)}`;
    const where = (entry: KnownHostEntry): string => `${entry.file}:${entry.line}`;
    const keyscan = `ssh-keyscan${this.policy.port === 22 ? '' : ` -p ${this.policy.port}`} ${this.policy.host}`;
    switch (result.status) {
      case 'known':
        return true;
      case 'revoked':
        this.failure = basynError('SSH_HOST_KEY_REVOKED', this.name, shown, result.entry.file, result.entry.line);
        return false;
      case 'changed':
        this.failure = basynError('SSH_HOST_KEY_CHANGED', this.name, shown, result.entry.file, result.entry.line);
        return false;
      case 'unknown': {
        if (result.otherTypes.length > 0) {
          // Stricter than OpenSSH, which records it: a man in the middle without the known key would
          // offer exactly this, another key type, and hope to have it recorded.
          const known = this.entries.filter((entry) => entry.marker === undefined && entryMatches(entry, this.name));
          const command = `${keyscan.replace('ssh-keyscan', `ssh-keyscan -t ${kind.toLowerCase()}`)} >> ${known[0]?.file ?? this.policy.files[0]}`;
          this.failure = basynError('SSH_HOST_KEY_NEW_TYPE', this.name, result.otherTypes.join(', '), known.map(where).join(', '), shown, command);
          return false;
        }
        if (this.policy.strict === 'yes') {
          this.failure = basynError('SSH_HOST_KEY_UNKNOWN', this.name, shown, keyscan, this.policy.files[0] ?? '~/.ssh/known_hosts');
          return false;
        }
        const file = this.policy.files[0];
        if (file === undefined) {
          this.failure = basynError('SSH_HOST_KEY_NO_FILE', this.name);
          return false;
        }
        try {
          appendKnownHost(file, this.name, key);
          this.entries.push({ file, line: 0, patterns: [this.name], keyType: keyBlobType(key) ?? '', key });
        } catch (error) {
          this.failure = error as SyncError;
          return false;
        }
        this.recorded = `Permanently added '${this.name}' (${shown}) to the list of known hosts (${file})`;
        return true;
      }
    }
  }
}

// `iscsi://PORTAL[:PORT]/IQN[?lun=N&chap=FILE]`: what the spelling means (pure, no I/O). Spec:
// docs/iscsi.md. PORTAL is a host name, an IPv4 address or a bracketed IPv6 address; PORT defaults to
// 3260 (iSCSI's port); IQN is the target's name (iqn., eui. or naa. form); the LUN defaults to 0;
// FILE holds CHAP credentials (mode 0600, read when the resource is acquired, never on a command line).
import { UsageError, basynError } from '../../shared/errors';

export const ISCSI_DEFAULT_PORT = 3260;
/** udev's by-path names give LUNs below 256 in decimal and larger ones as 0x… (see byPathName). */
const MAX_LUN = 16383;

export interface IscsiSpec {
  /** As written, for messages. */
  readonly spec: string;
  /** Host name or address, without brackets. */
  readonly host: string;
  readonly port: number;
  readonly iqn: string;
  readonly lun: number;
  readonly chapFile?: string;
}

const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;
/**
 * RFC 3720 §3.2.6.3 names: iqn.YYYY-MM.reversed.domain[:anything], eui.<16 hex>, naa.<16 or 32 hex>.
 * The part after ':' is kept to letters, digits and . : - _ (what targets use in practice): the name
 * goes into iscsiadm's argv and into a udev link name, and must never start an option.
 */
const IQN = /^(?:iqn\.\d{4}-\d{2}\.[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[A-Za-z0-9.:_-]+)?|eui\.[0-9A-Fa-f]{16}|naa\.[0-9A-Fa-f]{16}(?:[0-9A-Fa-f]{16})?)$/;
const MAX_IQN_BYTES = 223;

function bad(spec: string, why: string): UsageError {
  return basynError('ISCSI_URL', spec, why);
}

/** Reads `rest` (what follows `iscsi://`); UsageError (exit 1) when it is not an iSCSI endpoint. */
export function parseIscsiSpec(rest: string, spec = `iscsi://${rest}`): IscsiSpec {
  const [location, query = ''] = rest.split(/\?(.*)/s, 2);
  const slash = location.indexOf('/', location.startsWith('[') ? location.indexOf(']') : 0);
  if (slash < 0) throw bad(spec, 'no target name (IQN) after the portal');
  const authority = location.slice(0, slash);
  const iqn = location.slice(slash + 1);

  const match = /^\[([^\]]*)\](?::(\d+))?$/.exec(authority) ?? /^([^:[\]]*)(?::(\d+))?$/.exec(authority);
  if (!match || match[1] === '') throw bad(spec, `'${authority}' is not a portal (host, IPv4 address or [IPv6 address], then an optional :PORT)`);
  const host = match[1];
  const bracketed = authority.startsWith('[');
  if (bracketed ? !IPV6.test(host) || !host.includes(':') : !HOST_NAME.test(host)) {
    throw bad(spec, `'${host}' is not a host name or ${bracketed ? 'IPv6 ' : ''}address`);
  }
  const port = match[2] === undefined ? ISCSI_DEFAULT_PORT : Number(match[2]);
  if (!(port >= 1 && port <= 65535)) throw bad(spec, `port ${match[2]} is not from 1 to 65535`);

  if (iqn === '') throw bad(spec, 'no target name (IQN) after the portal');
  if (!IQN.test(iqn) || Buffer.byteLength(iqn) > MAX_IQN_BYTES) {
    throw bad(spec, `'${iqn}' is not an iSCSI name (iqn.YYYY-MM.domain[:name], eui.<16 hex digits> or naa.<16 or 32 hex digits>)`);
  }

  let lun = 0;
  let chapFile: string | undefined;
  for (const pair of query === '' ? [] : query.split('&')) {
    const [key, raw = ''] = pair.split(/=(.*)/s, 2);
    let value: string;
    try {
      value = decodeURIComponent(raw);
    } catch {
      throw bad(spec, `'${raw}' is not a valid %-encoded value`);
    }
    if (key === 'lun') {
      if (!/^\d+$/.test(value) || Number(value) > MAX_LUN) throw bad(spec, `lun must be a number from 0 to ${MAX_LUN}, got '${value}'`);
      lun = Number(value);
    } else if (key === 'chap') {
      if (value === '') throw bad(spec, 'chap= needs the path of a credentials file');
      chapFile = value;
    } else {
      throw bad(spec, `unknown parameter '${key}' (lun and chap are known)`);
    }
  }
  return { spec, host, port, iqn, lun, ...(chapFile !== undefined ? { chapFile } : {}) };
}

/** The portal as iscsiadm's -p takes it: `host:port`, `[v6]:port`; with `,tpgt` for a new node record. */
export function portalArgument(spec: Pick<IscsiSpec, 'host' | 'port'>, tpgt?: number): string {
  const host = spec.host.includes(':') ? `[${spec.host}]` : spec.host;
  return `${host}:${spec.port}${tpgt === undefined ? '' : `,${tpgt}`}`;
}

/**
 * The name udev gives the LUN's block device under /dev/disk/by-path (systemd's path_id builtin:
 * `ip-<connection address>:<port>-iscsi-<target>-lun-<n>`, the LUN in decimal below 256, else as
 * 0x<low 16 bits><next 16 bits>00000000).
 */
export function byPathName(address: string, port: number, iqn: string, lun: number): string {
  const lunText = lun < 256
    ? String(lun)
    : `0x${(lun & 0xffff).toString(16).padStart(4, '0')}${((lun >> 16) & 0xffff).toString(16).padStart(4, '0')}00000000`;
  return `ip-${address}:${port}-iscsi-${iqn}-lun-${lunText}`;
}

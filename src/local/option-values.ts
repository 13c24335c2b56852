// One option's value at a time: numbers, sizes, hosts, users, digests, -o pairs, as the sync
// (options.ts), the endpoint form (endpoint-options.ts) and the subcommands that reach a host
// (connection-cli.ts) all read them. Pure: no file is opened.
import { basynError } from '../shared/errors';
import { hashByName, HASH_NAMES, WEAK_HASH_NAMES, type HashAlgorithm } from '../shared/hash';
import { MAX_BUFFER_SIZE } from '../shared/protocol';
import { parseSize } from '../shared/size';
import { SIZE_MODE, type SizeMode } from '../shared/patch-format';

/** A whole number from `min` to `max`, or undefined when the option was not given. */
export function integer(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\s*\d+\s*$/.test(value)) throw basynError('USAGE_NOT_A_NUMBER', name, value);
  const number = Number(value);
  if (number < min || number > max) throw basynError('USAGE_OUT_OF_RANGE', name, min, max, number);
  return number;
}

/** -p/--port: 1-65535. */
export function parsePort(value: string | undefined): number | undefined {
  return integer(value, '-p/--port', 1, 65535);
}

/** -o KEY=VALUE (or `KEY VALUE`) pairs, keys lower-cased as OpenSSH reads them. */
export function sshOptions(pairs: string[] = []): Record<string, string> {
  const result: Record<string, string> = {};
  for (const pair of pairs) {
    const match = /^\s*([A-Za-z]+)\s*[= ]\s*(.+?)\s*$/.exec(pair);
    if (!match) throw basynError('USAGE_SSH_OPTION_SYNTAX', pair);
    result[match[1].toLowerCase()] = match[2];
  }
  return result;
}

/** --diffsize's names (bdsync's). */
export function parseSizeMode(value: string | undefined): SizeMode {
  const mode = (value ?? 'strict').toLowerCase();
  if (!(mode in SIZE_MODE)) throw basynError('USAGE_DIFF_SIZE_MODE', String(value));
  return mode as SizeMode;
}

/** Blanks and control characters: never part of a host or user name. */
// eslint-disable-next-line no-control-regex
const BLANK_OR_CONTROL = /[\s\x00-\x1f\x7f]/;

/** Control characters shown escaped in a message, so a bad argument cannot draw on the terminal. */
function printable(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}

/**
 * -h: a host name, an ssh config alias, an IPv4 or IPv6 address ([v6] too), optionally `user@` in
 * front (for --rsh). Empty (it used to run locally and exit 0) or starting with '-' (it would become an
 * option of the --rsh command) is a usage error, as is anything with blanks or shell characters.
 */
export function validateHost(host: string): void {
  if (host === '') throw basynError('USAGE_HOST_EMPTY');
  const at = host.lastIndexOf('@');
  const name = host.slice(at + 1);
  if (host.startsWith('-') || name.startsWith('-')) throw basynError('USAGE_HOST_DASH', printable(host));
  if (at === 0 || !/^[A-Za-z0-9._%:[\]-]+$/.test(name) || BLANK_OR_CONTROL.test(host)) throw basynError('USAGE_BAD_HOST', printable(host));
}

/** -u: no blanks, no control characters, not empty, not an option. */
export function validateUser(user: string): void {
  if (user === '' || user.startsWith('-') || BLANK_OR_CONTROL.test(user)) throw basynError('USAGE_BAD_USER', printable(user));
}

/**
 * The digest of a run without --hash/--algo. Without a bitmap the digests are compared within the run
 * only, so the salted XXH128 (4 x faster than SHA-1, a fresh seed per run) is invisible but for speed.
 * A bitmap stores its digests across runs, unsalted: SHA1, as Python basyn's bitmaps.
 */
export const DEFAULT_HASH = { withoutBitmap: 'XXH128', withBitmap: 'SHA1' } as const;

/** What --hash/--algo name (never both): the digest, and the warning a 32-bit one gets. */
export function chooseHash(hashOption: string | undefined, algoOption: string | undefined, warnings: string[], withBitmap: boolean): HashAlgorithm {
  if (hashOption !== undefined && algoOption !== undefined) throw basynError('USAGE_HASH_TWICE');
  const name = algoOption ?? hashOption ?? (withBitmap ? DEFAULT_HASH.withBitmap : DEFAULT_HASH.withoutBitmap);
  const hash = hashByName(name);
  if (!hash || (hash.weak && algoOption === undefined)) {
    const names = algoOption !== undefined ? [...HASH_NAMES, ...WEAK_HASH_NAMES] : HASH_NAMES;
    throw basynError('USAGE_UNKNOWN_HASH', name, names.join(', '));
  }
  if (hash.weak) warnings.push(`--algo ${name.toLowerCase()} is a 32-bit digest: a change can go unnoticed (about 1 in 4 billion per differing block); prefer the default (XXH128, or SHA1 with -b)`);
  return hash;
}

/** --buffer KB, or --block/--block-size SIZE (iblocksync's spelling, with units): one of them; bytes. */
export function bufferBytes(raw: { buffer?: string; block?: string; blockSize?: string }): number {
  const given = [raw.buffer !== undefined ? '--buffer' : '', raw.block !== undefined ? '--block' : '', raw.blockSize !== undefined ? '--block-size' : ''].filter(Boolean);
  if (given.length > 1) throw basynError('USAGE_BUFFER_TWICE', given.join(' and '));
  const block = raw.block ?? raw.blockSize;
  if (block === undefined) return (integer(raw.buffer, '--buffer', 1, MAX_BUFFER_SIZE / 1024) ?? 2048) * 1024;
  const name = raw.block !== undefined ? '--block' : '--block-size';
  const bytes = parseSize(block, name);
  if (bytes < 1024 || bytes > MAX_BUFFER_SIZE || bytes % 1024 !== 0) throw basynError('USAGE_BLOCK_SIZE', name, MAX_BUFFER_SIZE / 1024 / 1024, block);
  return bytes;
}

/** --bwlimit RATE: bytes per second, at least 1K; 0 (or not given) = no limit. */
export function bandwidthLimit(rate: string | undefined): number {
  if (rate === undefined) return 0;
  const bytes = parseSize(rate, '--bwlimit');
  if (bytes < 1024 && bytes !== 0) throw basynError('USAGE_BWLIMIT_TOO_LOW', rate);
  return bytes;
}

/** --progress, --progress=none|dot|full (the cli turns `--progress=X` into `style`). */
export function progressStyle(progress: boolean | undefined, style: string | undefined): 'none' | 'dot' | 'full' {
  if (style === undefined) return progress ? 'full' : 'none';
  if (progress) throw basynError('USAGE_PROGRESS_TWICE');
  const lower = style.toLowerCase();
  if (lower !== 'none' && lower !== 'dot' && lower !== 'full') throw basynError('USAGE_PROGRESS_STYLE', style);
  return lower;
}

// The one parser for sizes given on the command line or in config (--bwlimit, --block, snapshot sizes):
// a whole or decimal number with an optional unit. B, K, M, G, T are powers of 1024; kB, MB, GB, TB
// powers of 1000 (the brief's CLI grammar). No unit: bytes. Units are case-sensitive on purpose: "KB"
// and "mb" are refused rather than guessed. (--buffer and --chunk keep their KB numbers.)
import { basynError } from './errors';

const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  B: 1,
  K: 1024,
  M: 1024 ** 2,
  G: 1024 ** 3,
  T: 1024 ** 4,
  kB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
  TB: 1000 ** 4,
};

export const SIZE_UNITS_HELP = 'B, K, M, G, T (powers of 1024) or kB, MB, GB, TB (powers of 1000)';

/** Bytes of `text` (e.g. "10M", "1.5GB", "4096"); UsageError naming `option` when it is not a size. */
export function parseSize(text: string, option: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(text);
  const factor = match ? UNITS[match[2]] : undefined;
  if (!match || factor === undefined) {
    throw basynError('USAGE_NOT_A_SIZE', option, SIZE_UNITS_HELP, text);
  }
  const bytes = Math.round(Number(match[1]) * factor);
  if (!Number.isSafeInteger(bytes)) throw basynError('USAGE_SIZE_TOO_LARGE', option, text);
  return bytes;
}

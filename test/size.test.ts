// The one size parser (src/shared/size.ts): B, K, M, G, T = powers of 1024; kB, MB, GB, TB = powers of 1000.
import test from 'ava';
import { parseSize } from '../src/shared/size';

const cases: Array<[string, number]> = [
  ['0', 0],
  ['4096', 4096],
  ['12B', 12],
  ['1K', 1024],
  ['1M', 1048576],
  ['2G', 2 * 1073741824],
  ['1T', 1099511627776],
  ['1kB', 1000],
  ['10MB', 10_000_000],
  ['3GB', 3_000_000_000],
  ['1TB', 1_000_000_000_000],
  ['1.5M', 1572864],
  [' 512 K ', 524288],
  ['0.5kB', 500],
];
for (const [text, bytes] of cases) {
  test(`parseSize('${text}') is ${bytes}`, (t) => {
    t.is(parseSize(text, '--bwlimit'), bytes);
  });
}

for (const bad of ['', 'M', '-1M', '1KB', '1mb', '1k', '1 MiB', '1e6', '1,5M', '10M/s', '99999999999T']) {
  test(`parseSize('${bad}') is refused with a usage error naming the option`, (t) => {
    const error = t.throws(() => parseSize(bad, '--bwlimit'));
    t.is((error as { exitCode?: number }).exitCode, 1);
    t.regex(error?.message ?? '', /^--bwlimit/);
  });
}

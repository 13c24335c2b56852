// --bwlimit RATE: the bytes over the link to the remote agent (Rx + Tx of --stat) never go faster than
// RATE per second. Only an upper bound on speed is checked here (a loaded machine can only be slower);
// how close to the limit it runs is measured by the bench (docs/benchmarks.md, case bwlimit).
import test from 'ava';
import { basyn, STAT_LINE } from './helpers/cli';
import { assertSynced, devices, random, run } from './helpers/scenario';

const SIZE = 1024 * 1024 + 4321;
const LIMIT = 256 * 1024;

for (const action of ['PUSH', 'PULL'] as const) {
  test(`${action} COPY --bwlimit 256K: the link carries at most 256 KiB per second, and the copy is exact`, async (t) => {
    const source = random(SIZE);
    const where = devices(t, action, source, random(SIZE));
    const started = Date.now();
    const result = await run(t, [...where.args, '-a', action, '-m', 'COPY', '--buffer', '64', '--zlevel', '0', '--bwlimit', '256K', '--stat']);
    const wall = (Date.now() - started) / 1000;
    const match = STAT_LINE.exec(result.stdout);
    if (!match) return t.fail(result.stdout);
    const both = Number(match[4]);
    const seconds = Number(/Time: (\d+\.\d+)s/.exec(result.stdout)?.[1]);
    t.true(both > SIZE, `the data crossed the link: ${both}`);
    // The pacer lets about a tenth of a second's worth through at once.
    t.true(both <= LIMIT * (seconds + 0.2), `${both} bytes in ${seconds} s is faster than ${LIMIT} B/s`);
    t.true(wall >= SIZE / LIMIT - 0.2, `a ${SIZE}-byte copy at ${LIMIT} B/s took only ${wall} s`);
    await assertSynced(t, where, source);
  });
}

test('--bwlimit takes the sizes of the CLI grammar and refuses others (exit 1, nothing written)', async (t) => {
  const source = random(64 * 1024);
  const destination = random(64 * 1024);
  const where = devices(t, 'PUSH', source, destination);
  for (const [value, message] of [
    ['10x', "--bwlimit expects a size such as 10M or 500kB (units B, K, M, G, T (powers of 1024) or kB, MB, GB, TB (powers of 1000)), got '10x'"],
    ['1KB', "--bwlimit expects a size such as 10M or 500kB (units B, K, M, G, T (powers of 1024) or kB, MB, GB, TB (powers of 1000)), got '1KB'"],
    ['100', "--bwlimit must be at least 1K (1024 bytes per second), or 0 for no limit; got '100'"],
  ]) {
    const result = await basyn([...where.args, '-a', 'PUSH', '-m', 'COPY', '--bwlimit', value]);
    t.is(result.code, 1);
    t.is(result.stderr, `${message}\n`);
  }
  await assertSynced(t, where, source, destination);
  await run(t, [...where.args, '-a', 'PUSH', '-m', 'COPY', '--bwlimit', '10MB']);
  await assertSynced(t, where, source);
});

// --progress: a cli-progress bar (percent, rate, ETA, changed bytes) when stderr is a terminal, plain lines otherwise.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { etaText } from '../src/local/progress';
import { BASYN, basyn } from './helpers/cli';
import { sha256File, tempDir, writeRandom } from './helpers/images';

const SIZE = 4 * 1024 * 1024 + 123;

test('without a terminal, --progress prints plain lines ending at 100% on stderr, nothing on stdout', async (t) => {
  const temp = tempDir();
  t.teardown(temp.cleanup);
  writeRandom(temp.path('a'), SIZE);
  writeRandom(temp.path('b'), SIZE);
  const result = await basyn(['-l', temp.path('a'), '-r', temp.path('b'), '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64', '--progress']);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, '');
  t.regex(result.stderr, new RegExp(`^SYNC progress: 100\\.00% \\(${SIZE} of ${SIZE} bytes, \\d+\\.\\d MB/s, ETA 0s, ${SIZE} bytes changed\\)$`, 'm'));
  t.is(await sha256File(temp.path('a')), await sha256File(temp.path('b')));
});

/** script(1) (util-linux) gives basyn a pseudo-terminal; without it the bar cannot be tested. */
const NO_SCRIPT = spawnSync('script', ['--version']).error ? 'util-linux script(1) is missing: no pseudo-terminal to test with' : undefined;

(NO_SCRIPT ? test.skip : test)(`on a terminal, --progress draws a bar with percent, rate, ETA and the changed bytes found so far${NO_SCRIPT ? ` (skipped: ${NO_SCRIPT})` : ''}`, async (t) => {
  const temp = tempDir();
  t.teardown(temp.cleanup);
  writeRandom(temp.path('a'), SIZE);
  writeRandom(temp.path('b'), SIZE);
  const command = [process.execPath, BASYN, '-l', temp.path('a'), '-r', temp.path('b'), '-a', 'PUSH', '-m', 'COPY', '--buffer', '64', '--progress']
    .map((word) => `'${word}'`)
    .join(' ');
  // script(1) gives the command a pseudo-terminal and copies what it draws to our stdout.
  const result = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', timeout: 60_000 });
  t.is(result.status, 0, result.stdout);
  t.regex(result.stdout, /COPY \[[=-]+\] 100% \| \d+\.\d MB\/s \| ETA \d+s \| changed 4\.0 MiB/);
  // Before anything is done the ETA is '?', never cli-progress's "INF"/"NF" or NaN.
  t.notRegex(result.stdout, /ETA (?![?\d])/);
  t.is(await sha256File(temp.path('a')), await sha256File(temp.path('b')));
});

test('the ETA reads as time: seconds, then minutes, then hours; ? before there is a rate', (t) => {
  t.is(etaText(0, 0), '?');
  t.is(etaText(Infinity, 10), '?');
  t.is(etaText(0, 10), '0s');
  t.is(etaText(42.2, 10), '43s');
  t.is(etaText(725, 10), '12m05s');
  t.is(etaText(10_920, 10), '3h02m');
});

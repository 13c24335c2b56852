// --stat prints Python basyn's line exactly (matched by regex, Both = Rx + Tx, ratio = Both / size);
// --verbose talks on stdout, --progress on stderr, and neither disturbs the sync.
import test from 'ava';
import { parseStat, STAT_LINE } from './helpers/cli';
import { assertSynced, devices, edited, random, run, type Action } from './helpers/scenario';

const BUFFER = 64 * 1024;
const SIZE = 6 * BUFFER + 10;

for (const action of ['PUSH', 'PULL'] as Action[]) {
  for (const mode of ['SYNC', 'COPY']) {
    test(`${action} ${mode} --stat: basyn's line, with consistent numbers`, async (t) => {
      const source = random(SIZE);
      const where = devices(t, action, source, edited(source, [0, 3 * BUFFER]));
      const result = await run(t, [...where.args, '-a', action, '-m', mode, '--buffer', '64', '--stat']);
      const lines = result.stdout.split('\n').filter((line) => line !== '');
      t.is(lines.length, 1, 'only the STAT line on stdout');
      t.regex(lines[0] ?? '', STAT_LINE);
      const stat = parseStat(result.stdout);
      t.is(stat.size, SIZE);
      t.is(stat.ratio, ((100 * stat.both) / SIZE).toFixed(4));
      t.true(stat.rx > 0 && stat.tx > 0);
      await assertSynced(t, where, source);
    });
  }
}

test('PULL --stat reports the source (remote) size when the local destination is larger', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PULL', source, random(SIZE + 5000));
  const stat = parseStat((await run(t, [...where.args, '-a', 'PULL', '-m', 'SYNC', '--buffer', '64', '--stat'])).stdout);
  t.is(stat.size, SIZE);
});

test('PUSH --stat reports the source (local) size when the remote destination is larger', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, random(SIZE + 5000));
  const stat = parseStat((await run(t, [...where.args, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64', '--stat'])).stdout);
  t.is(stat.size, SIZE);
});

test('without --stat there is no STAT line and stdout is empty', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, random(SIZE));
  const result = await run(t, [...where.args, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64']);
  t.is(result.stdout, '');
  t.is(result.stderr, '');
});

test('--stat with --recheck alone (no -a) still prints a well-formed line', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, source);
  const result = await run(t, [...where.args, '--recheck', '--stat']);
  t.regex(result.stdout, STAT_LINE);
});

test('--verbose narrates on stdout, with Python basyn timestamps', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, random(SIZE));
  const result = await run(t, [...where.args, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64', '--verbose']);
  t.regex(result.stdout, /^\d\d\/\d\d\/\d\d \d\d:\d\d:\d\d: /m);
  t.regex(result.stdout, /Local device .* size is 393226B/);
  await assertSynced(t, where, source);
});

test('--progress without a TTY prints plain progress lines on stderr, ending at 100%', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PULL', source, random(SIZE));
  const result = await run(t, [...where.args, '-a', 'PULL', '-m', 'SYNC', '--buffer', '64', '--progress', '--recheck']);
  t.regex(result.stderr, /SYNC progress: 100\.00% \(393226 of 393226 bytes/);
  t.regex(result.stderr, /RECHECK progress: 100\.00%/);
  t.is(result.stdout, '');
  await assertSynced(t, where, source);
});

test('--debug adds detail on stderr without breaking the sync', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, edited(source, [100]));
  const result = await run(t, [...where.args, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64', '--debug']);
  t.regex(result.stderr, /debug: /);
  await assertSynced(t, where, source);
});

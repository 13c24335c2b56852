// Text from the other side (agent stderr, LOG and ERROR messages) reaches the terminal escaped and
// bounded: an agent side that prints ANSI escapes, carriage-return tricks, bidi overrides or
// megabytes cannot drive the terminal or flood the log. The agent side is the real agent behind
// test/helpers/tamper-agent.ts, met through the real controller path (--rsh).
import test from 'ava';
import { basyn, hasStackTrace } from './helpers/cli';
import { assertSynced, devices, random } from './helpers/scenario';
import { tamperCommand } from './helpers/tamper';

const SIZE = 1024 * 1024;
/** Bytes that let text drive a terminal: C0 controls but tab and newline, DEL, C1, bidi overrides. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

test('agent stderr with escapes and 3 MiB of text: shown escaped, cut, at most about 16 KiB; the sync itself is unaffected', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, random(SIZE));
  const result = await basyn([...where.args, '-h', 'noisy', '--rsh', tamperCommand('noisy-stderr'), '-a', 'PUSH', '-m', 'SYNC'], { timeoutMs: 240_000 });
  t.is(result.code, 0, result.stderr.slice(0, 2000));
  await assertSynced(t, where, source);
  t.false(CONTROL.test(result.stderr), 'no control character reaches the terminal');
  t.true(result.stderr.length < 20_000, `stderr is bounded (${result.stderr.length} characters)`);
  t.true(result.stderr.includes('remote: warning: \\x1b[31;1mRED\\x1b[0m\\x1b]0;owned\\x07\\x1b[2J colours\n'), 'escapes are shown, not obeyed');
  t.true(result.stderr.includes('remote: fake prompt\\x0dHIDDEN BY CR \\u202egnp.exe\n'), 'a carriage return and a bidi override are shown');
  t.regex(result.stderr, /^remote: x{1000}\.\.\. \(2096152 more characters\)$/m, 'a 2 MiB line is cut to 1000 characters');
  t.regex(result.stderr, /^remote: \.\.\. more output from the remote side not shown/m);
});

test('LOG messages with escapes and 60 000 characters are escaped and cut under --debug', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, random(SIZE));
  const result = await basyn([...where.args, '-h', 'noisy', '--rsh', tamperCommand('noisy-log'), '-a', 'PUSH', '-m', 'SYNC', '--debug'], { timeoutMs: 240_000 });
  t.is(result.code, 0, result.stderr.slice(0, 2000));
  await assertSynced(t, where, source);
  t.false(CONTROL.test(result.stderr));
  t.true(result.stderr.includes('debug: remote agent: remote says \\x1b[31;1mRED'));
  t.regex(result.stderr, /^debug: remote agent: z{1000}\.\.\. \(59000 more characters\)$/m);
});

test('an ERROR reply with escapes and 60 000 characters: one escaped line of bounded length, exit 2', async (t) => {
  const destination = random(SIZE);
  const where = devices(t, 'PUSH', random(SIZE), destination);
  const result = await basyn([...where.args, '-h', 'noisy', '--rsh', tamperCommand('noisy-error'), '-a', 'PUSH', '-m', 'SYNC'], { timeoutMs: 240_000 });
  t.is(result.code, 2);
  t.false(CONTROL.test(result.stderr));
  t.false(hasStackTrace(result.stderr));
  t.regex(result.stderr, /^cannot open \\x1b\[31;1mRED\\x1b\[0m\\x1b\]0;owned\\x07\\x1b\[2Jy+\.\.\. \(\d+ more characters\)\n$/);
  t.true(result.stderr.length < 1200, `one bounded line (${result.stderr.length} characters)`);
});

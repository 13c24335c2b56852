// A reader that goes away must change nothing about the sync: `basyn ... --verbose | head -1` (stdout
// closed after one line) and the same for stderr (--debug --progress piped into head). Real shell
// pipelines; the destination is compared byte for byte afterwards. And a reader that is merely slow
// still gets every line, the last ones (the error message, the --stat line) included.
import test from 'ava';
import { spawn } from 'node:child_process';
import { basyn, BASYN } from './helpers/cli';
import { assertSynced, devices, edited, random } from './helpers/scenario';

const SIZE = 16 * 1024 * 1024;

/** Runs `pipeline` in bash with $BASYN set; resolves with the exit code of basyn (the pipeline's first command). */
function pipeline(command: string): Promise<{ basynCode: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `${command}; echo "basyn exit: \${PIPESTATUS[0]}"`], {
      env: { ...process.env, BASYN: `${process.execPath} ${BASYN}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => { output += text; });
    child.stderr.setEncoding('utf8').on('data', (text: string) => { output += text; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`timed out: ${command}\n${output}`)); }, 240_000);
    child.once('close', () => {
      clearTimeout(timer);
      const match = /basyn exit: (\d+)\n/.exec(output);
      if (!match) reject(new Error(`no exit code in: ${output}`));
      else resolve({ basynCode: Number(match[1]), output });
    });
  });
}

test('stdout closed after the first line (--verbose | head -1): no crash, exit 0, the destination equals the source', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, edited(source, [0, SIZE / 2, SIZE - 1]));
  const { basynCode, output } = await pipeline(`$BASYN ${where.args.join(' ')} -a PUSH -m COPY --verbose --stat | head -1`);
  t.regex(output, /^\S+ \S+: Using pipeline connection\n/, 'head got the first line');
  t.notRegex(output, /EPIPE|Unhandled|^\s+at /m, output);
  t.is(basynCode, 0, output);
  await assertSynced(t, where, source);
});

test('stderr closed after the first line (--debug --progress 2>&1 >/dev/null | head -1): exit 0, the destination equals the source', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PULL', source, edited(source, [1, SIZE / 3]));
  const { basynCode, output } = await pipeline(`$BASYN ${where.args.join(' ')} -a PULL -m SYNC --buffer 64 --debug --progress 2>&1 >/dev/null | head -1`);
  t.notRegex(output, /EPIPE|Unhandled|^\s+at /m, output);
  t.is(basynCode, 0, output);
  await assertSynced(t, where, source);
});

test('a slow reader still gets the last lines: basyn exits only once stdout and stderr have drained', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PUSH', source, random(SIZE));
  // --debug writes two lines per 4 KiB buffer (about 480 KiB): far more than the pipe and the
  // reader's buffer hold while nobody reads (128 KiB).
  const result = await basyn([...where.args, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '4', '--debug', '--verbose', '--stat'], { pauseOutputMs: 5000, timeoutMs: 240_000 });
  t.is(result.code, 0, result.stderr.slice(-2000));
  await assertSynced(t, where, source);
  t.true(result.stderr.length > 256 * 1024, `enough output to fill the pipe (${result.stderr.length} characters)`);
  t.regex(result.stderr, /debug: local agent: peak RSS/, 'the last lines of stderr arrived');
  t.regex(result.stderr, /debug: remote agent: peak RSS/);
  t.regex(result.stdout, /\nSTAT\. Device size:16777216B\. .*\n$/, 'the last line of stdout arrived');
});

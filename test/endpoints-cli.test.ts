// `basyn [options] SOURCE TARGET` on this machine (the local pipe): the two forms kept apart, a missing
// TARGET created sparse, the size rules (smaller: exit 2; larger: a prompt on a terminal, exit 1
// without one unless -f), local wrappers, and iblocksync's spellings (--block, --algo, --progress=dot,
// -v/-vv). Over SSH, --rsh and remote to remote: test/endpoints-ssh.test.ts. Every sync is checked by
// comparing both files whole.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { basename } from 'node:path';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basyn, BASYN, type RunResult } from './helpers/cli';
import { patch, sha256File, sha256Prefix, tempDir, writeRandom, writeSparse } from './helpers/images';

const scratch = tempDir('basyn-endpoints-cli-');
test.after.always(() => scratch.cleanup());
const MB = 1024 * 1024;

let count = 0;
/** A source and an edited copy of it (or a target of `targetSize` zeros). */
function pair(size = 3 * MB, targetSize?: number): { source: string; target: string } {
  const id = count++;
  const source = scratch.path(`src-${id}.img`);
  const target = scratch.path(`dst-${id}.img`);
  writeRandom(source, size);
  if (targetSize !== undefined) writeSparse(target, targetSize);
  else {
    writeFileSync(target, readFileSync(source));
    patch(target, 100_000, Buffer.alloc(5000, 7));
  }
  return { source, target };
}

function ok(t: import('ava').ExecutionContext, result: RunResult): void {
  t.is(result.code, 0, `exit ${result.code}: ${result.stderr}`);
}

function usage(t: import('ava').ExecutionContext, result: RunResult, pattern: RegExp): void {
  t.is(result.code, 1, `stdout: ${result.stdout} stderr: ${result.stderr}`);
  t.regex(result.stderr.trim(), pattern);
  t.is(result.stderr.trim().split('\n').length, 1, 'one line');
}

test('SOURCE TARGET syncs SOURCE into TARGET (SYNC), and -m COPY copies', async (t) => {
  const { source, target } = pair();
  ok(t, await basyn([source, target, '--stat']));
  t.is(await sha256File(target), await sha256File(source));
  patch(target, 2 * MB, Buffer.alloc(100, 1));
  ok(t, await basyn(['-m', 'COPY', source, target]));
  t.is(await sha256File(target), await sha256File(source));
});

test('file://PATH and a relative path are local endpoints', async (t) => {
  const { source, target } = pair();
  ok(t, await basyn([`file://${source}`, basename(target)], { cwd: scratch.dir }));
  t.is(await sha256File(target), await sha256File(source));
});

test('a missing TARGET file is created at the source size, sparse and 0600', async (t) => {
  const source = scratch.path('sparse-src.img');
  writeSparse(source, 8 * MB, [{ offset: 3 * MB, data: Buffer.alloc(4096, 9) }]);
  const target = scratch.path('created.img');
  ok(t, await basyn([source, target]));
  t.is(await sha256File(target), await sha256File(source));
  const stat = statSync(target);
  t.is(stat.size, 8 * MB);
  t.is(stat.mode & 0o777, 0o600);
  t.true(stat.blocks * 512 < 1 * MB, `sparse: ${stat.blocks * 512} bytes allocated`);
});

test('a missing TARGET under /dev is an error (exit 2), nothing created', async (t) => {
  const { source } = pair(MB, 0);
  const result = await basyn([source, '/dev/basyn-test-missing-device']);
  t.is(result.code, 2, result.stderr);
  t.regex(result.stderr, /\/dev\/basyn-test-missing-device is not found \(a missing path under \/dev is not created/);
  t.false(existsSync('/dev/basyn-test-missing-device'));
});

test('a missing TARGET in a missing folder is an error (exit 2)', async (t) => {
  const { source } = pair(MB, 0);
  const result = await basyn([source, scratch.path('no/such/dir.img')]);
  t.is(result.code, 2, result.stderr);
  t.regex(result.stderr, /is not found/);
});

test('a TARGET smaller than the SOURCE is exit 2 and left as it was', async (t) => {
  const { source, target } = pair(2 * MB, MB);
  const before = await sha256File(target);
  const result = await basyn([source, target]);
  t.is(result.code, 2, result.stderr);
  t.regex(result.stderr, /^TARGET .* \(1048576 bytes\) is smaller than SOURCE .* \(2097152 bytes\)/m);
  t.is(await sha256File(target), before);
});

test('a TARGET larger than the SOURCE: exit 1 without a terminal, -f syncs the prefix and keeps the tail', async (t) => {
  const { source, target } = pair(2 * MB, 3 * MB);
  patch(target, 2 * MB + 10, Buffer.from('tail stays'));
  const before = await sha256File(target);
  usage(t, await basyn([source, target]), /is larger than SOURCE .*pass -f\/--force/);
  t.is(await sha256File(target), before, 'nothing written');
  ok(t, await basyn(['-f', source, target]));
  t.is(sha256Prefix(target, 2 * MB), await sha256File(source));
  t.is(readFileSync(target).subarray(2 * MB + 10, 2 * MB + 20).toString(), 'tail stays');
  ok(t, await basyn(['--force', source, target]));
});

/** Runs basyn on a pseudo-terminal (util-linux `script`), typing `answer` once the prompt is shown. */
function onTerminal(args: string[], answer: string): { code: number | null; output: string } {
  const command = [BASYN, ...args].map((word) => `'${word}'`).join(' ');
  const result = spawnSync('script', ['-qec', `${command}; echo "exit=$?"`, '/dev/null'], {
    input: answer, encoding: 'utf8', timeout: 60_000,
  });
  const code = /exit=(\d+)/.exec(result.stdout ?? '');
  return { code: code ? Number(code[1]) : null, output: result.stdout ?? '' };
}

const noScript = spawnSync('script', ['--version']).error ? 'util-linux script is missing' : undefined;
(noScript ? test.skip : test)('a TARGET larger than the SOURCE asks on a terminal: n leaves it, y syncs', async (t) => {
  const { source, target } = pair(MB, 2 * MB);
  const before = await sha256File(target);
  const no = onTerminal([source, target], 'n\r');
  t.regex(no.output, /Source is 1\.00 MiB, target 2\.00 MiB; proceed\? \[y\/N\]/);
  t.regex(no.output, /Not confirmed: nothing was written/);
  t.is(no.code, 1);
  t.is(await sha256File(target), before);
  const yes = onTerminal([source, target], 'y\r');
  t.is(yes.code, 0, yes.output);
  t.is(sha256Prefix(target, MB), await sha256File(source));
});

test('the two forms do not mix, and SOURCE TARGET takes exactly two endpoints (exit 1 naming the form)', async (t) => {
  const { source, target } = pair(MB);
  const before = await sha256File(target);
  for (const extra of [['-a', 'PUSH'], ['-l', source], ['-r', target], ['-h', 'localhost']]) {
    usage(t, await basyn([...extra, source, target]), /two forms that do not mix: use either `basyn \[options\] SOURCE TARGET` or `basyn -l DEVICE -r DEVICE/);
  }
  usage(t, await basyn([source]), /TARGET is missing/);
  usage(t, await basyn([source, target, target]), /too many arguments|Too many arguments/i);
  usage(t, await basyn([source, source]), /SOURCE and TARGET are the same file/);
  t.is(await sha256File(target), before);
});

test('subcommand words are not endpoints; ./patch is a file', async (t) => {
  const { source } = pair(MB, 0);
  for (const word of ['tasks', 'completion', 'check-host']) {
    usage(t, await basyn([source, word], { cwd: scratch.dir }), new RegExp(`'${word}' is a subcommand .*\\./${word}`));
  }
  ok(t, await basyn([source, './patch'], { cwd: scratch.dir }));
  t.is(await sha256File(scratch.path('patch')), await sha256File(source));
});

test('options of the SOURCE TARGET form are refused in the -l/-r form, and BASYN_* variables ignored there', async (t) => {
  const { source, target } = pair(MB);
  usage(t, await basyn(['-l', source, '-r', target, '-a', 'PUSH', '-m', 'SYNC', '-f']), /-f\/--force is for the SOURCE TARGET form/);
  usage(t, await basyn(['-l', source, '-r', target, '-a', 'PUSH', '-m', 'SYNC', '--target-wrap', 'true']), /--target-wrap is for the SOURCE TARGET form/);
  const env = { ...process.env, BASYN_SOURCE_WRAP: 'false', BASYN_TARGET_WRAP: 'false' };
  ok(t, await basyn(['-l', source, '-r', target, '-a', 'PUSH', '-m', 'SYNC'], { env }));
  t.is(await sha256File(target), await sha256File(source));
});

test('-u, -p, --rsh and --source-rsh need a remote endpoint', async (t) => {
  const { source, target } = pair(MB);
  usage(t, await basyn(['-u', 'root', source, target]), /^-u\/--user: only for remote endpoints/);
  usage(t, await basyn(['-p', '22', '--rsh', 'ssh', source, target]), /^-p\/--port, --rsh: only for remote endpoints/);
  usage(t, await basyn(['--source-rsh', 'ssh', source, target]), /^--source-rsh: only for a remote SOURCE/);
});

/** A wrapper script: records its arguments' first word and the endpoint side, then runs them. */
function recordingWrapper(name: string): { path: string; log: string } {
  const path = scratch.path(`${name}.sh`);
  const log = scratch.path(`${name}.log`);
  writeFileSync(path, `#!/bin/sh\necho "$0 ran $(basename "$1")" >> '${log}'\nexec "$@"\n`);
  chmodSync(path, 0o755);
  return { path, log };
}

test('--source-wrap / --target-wrap (and BASYN_*_WRAP) run each local agent under the wrapper', async (t) => {
  const { source, target } = pair(MB);
  const sourceWrap = recordingWrapper('source-wrap');
  const targetWrap = recordingWrapper('target-wrap');
  ok(t, await basyn(['--source-wrap', sourceWrap.path, '--target-wrap', `${targetWrap.path}`, source, target]));
  t.is(await sha256File(target), await sha256File(source));
  t.regex(readFileSync(sourceWrap.log, 'utf8'), /source-wrap\.sh ran node/);
  t.regex(readFileSync(targetWrap.log, 'utf8'), /target-wrap\.sh ran node/);
  patch(target, 0, Buffer.alloc(10, 3));
  ok(t, await basyn([source, target], { env: { ...process.env, BASYN_TARGET_WRAP: targetWrap.path } }));
  t.is(await sha256File(target), await sha256File(source));
  t.is(readFileSync(targetWrap.log, 'utf8').split('\n').filter(Boolean).length, 2);
});

test('a wrapper that fails before the agent starts: exit 2 with its stderr, the target untouched', async (t) => {
  const { source, target } = pair(MB);
  const before = await sha256File(target);
  const failing = scratch.path('failing-wrap.sh');
  writeFileSync(failing, '#!/bin/sh\necho "lvcreate: volume group vg0 not found" >&2\nexit 5\n');
  chmodSync(failing, 0o755);
  const result = await basyn(['--target-wrap', failing, source, target]);
  t.is(result.code, 2, result.stderr);
  t.regex(result.stderr, /the wrapper '.*failing-wrap\.sh' on this host exited with code 5 before the agent started: lvcreate: volume group vg0 not found/);
  t.notRegex(result.stderr, /\n\s+at /, 'no stack trace');
  t.is(await sha256File(target), before);
  const missing = await basyn([source, target], { env: { ...process.env, BASYN_SOURCE_WRAP: '/nonexistent/wrapper' } });
  t.is(missing.code, 2, missing.stderr);
  t.regex(missing.stderr, /could not run \/nonexistent\/wrapper: not found/);
});

test('--progress=dot prints a dot per buffer; a bare --progress takes no value', async (t) => {
  const { source, target } = pair(3 * MB);
  const dots = await basyn(['--progress=dot', '--block', '1M', source, target]);
  ok(t, dots);
  t.is(dots.stderr, '...\n');
  const none = await basyn(['--progress=none', source, target]);
  ok(t, none);
  t.is(none.stderr, '');
  patch(target, 0, Buffer.alloc(10, 3));
  const bare = await basyn(['--progress', source, target]);
  ok(t, bare);
  t.regex(bare.stderr, /SYNC progress: 100\.00%/);
  t.is(await sha256File(target), await sha256File(source));
  usage(t, await basyn(['--progress=bar', source, target]), /--progress= must be none, dot or full/);
});

test('--block/--block-size take sizes with units; one of them or --buffer', async (t) => {
  const { source, target } = pair(2 * MB);
  for (const option of ['--block', '--block-size']) {
    const result = await basyn(['-v', option, '512K', source, target]);
    ok(t, result);
    t.regex(result.stdout, /buffer size 524288B/);
  }
  t.is(await sha256File(target), await sha256File(source));
  usage(t, await basyn(['--block', '1.5K', source, target]), /--block must be a whole number of KiB/);
  usage(t, await basyn(['--block', '1mb', source, target]), /--block expects a size such as 10M/);
  usage(t, await basyn(['--block', '1M', '--buffer', '1024', source, target]), /--buffer and --block all set the buffer size: give one/);
});

test('--algo: the --hash names, and adler32/crc32 with a one-line warning, never with -b', async (t) => {
  const { source, target } = pair(2 * MB);
  for (const algo of ['crc32', 'adler32']) {
    patch(target, 1_500_000, Buffer.alloc(100, 5));
    const result = await basyn(['--algo', algo, source, target]);
    ok(t, result);
    t.is(result.stderr, `warning: --algo ${algo} is a 32-bit digest: a change can go unnoticed (about 1 in 4 billion per differing block); prefer the default (XXH128, or SHA1 with -b)\n`);
    t.is(await sha256File(target), await sha256File(source));
  }
  patch(target, 0, Buffer.alloc(100, 5));
  ok(t, await basyn(['--algo', 'sha256', source, target]));
  t.is(await sha256File(target), await sha256File(source));
  usage(t, await basyn(['--algo', 'crc32', '-b', scratch.path('crc.bitmap'), source, target]), /32-bit digest and is never stored in a bitmap/);
  t.false(existsSync(scratch.path('crc.bitmap')));
  usage(t, await basyn(['--hash', 'crc32', source, target]), /Unsupported hash function: crc32/);
  usage(t, await basyn(['--hash', 'md5', '--algo', 'md5', source, target]), /same option/);
});

test('-v is --verbose, -vv adds --debug', async (t) => {
  const { source, target } = pair(MB);
  const verbose = await basyn(['-v', source, target]);
  ok(t, verbose);
  t.regex(verbose.stdout, /Starting to PUSH \/ SYNC/);
  t.notRegex(verbose.stderr, /debug:/);
  const debug = await basyn(['-vv', source, target]);
  ok(t, debug);
  t.regex(debug.stdout, /Starting to PUSH \/ SYNC/);
  t.regex(debug.stderr, /debug:/);
});

test('a bitmap works in the SOURCE TARGET form (the second run reads only the source)', async (t) => {
  const { source, target } = pair(2 * MB);
  const bitmap = scratch.path('form.bitmap');
  ok(t, await basyn(['-b', bitmap, source, target]));
  t.is(await sha256File(target), await sha256File(source));
  patch(source, 1000, Buffer.alloc(10, 4));
  const second = await basyn(['-v', '-b', bitmap, source, target]);
  ok(t, second);
  t.is(await sha256File(target), await sha256File(source));
});

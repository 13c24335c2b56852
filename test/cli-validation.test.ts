// Every command-line error: exit 1, exactly one line on stderr (Python basyn's wording where it has
// one), nothing on stdout, no stack trace, and nothing changed on disk (no device, no bitmap written).
import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { basyn, hasStackTrace } from './helpers/cli';
import { sha256File, tempDir, writeRandom } from './helpers/images';
import { PROTOCOL_VERSION } from '../src/shared/protocol';

/** `L`, `R` and `B` in the cases stand for a local image, a remote image and a (missing) bitmap path. */
const CASES: Array<{ name: string; args: string[]; message: string | RegExp }> = [
  { name: 'unknown action', args: ['-l', 'L', '-r', 'R', '-a', 'SEND', '-m', 'SYNC'], message: "Unknown action - 'SEND'" },
  { name: 'unknown mode', args: ['-l', 'L', '-r', 'R', '-a', 'PUSH', '-m', 'MIRROR'], message: "Unknown mode - 'MIRROR' for action 'PUSH'" },
  { name: '-m without -a', args: ['-l', 'L', '-r', 'R', '-m', 'SYNC'], message: 'Option -m/--mode can be only used with -a/--action' },
  { name: '-a without -m', args: ['-l', 'L', '-r', 'R', '-a', 'PUSH'], message: 'Option -m/--mode must be provided with -a/--action' },
  { name: '-u without -h', args: ['-l', 'L', '-r', 'R', '-a', 'PUSH', '-m', 'SYNC', '-u', 'root'], message: 'Option -u/--user can be only used with -h/--host' },
  { name: '-p without -h', args: ['-l', 'L', '-r', 'R', '-a', 'PUSH', '-m', 'SYNC', '-p', '2222'], message: 'Option -p/--port can be only used with -h/--host' },
  { name: '--chunk greater than --buffer', args: ['-l', 'L', '-r', 'R', '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64', '--chunk', '65'], message: "--chunk can't be greater than --buffer" },
  { name: '--chunk greater than the default buffer', args: ['-l', 'L', '-r', 'R', '-a', 'PUSH', '-m', 'SYNC', '--chunk', '4096'], message: "--chunk can't be greater than --buffer" },
  { name: '--bitmap with COPY', args: ['-l', 'L', '-r', 'R', '-a', 'PUSH', '-m', 'COPY', '-b', 'B'], message: '--bitmap can be used with --mode==SYNC only' },
  { name: '--bitmap without -a', args: ['-l', 'L', '-r', 'R', '-b', 'B'], message: '--bitmap can be used with --mode==SYNC only' },
  { name: '--reset-bitmap without -b', args: ['-l', 'L', '-r', 'R', '-a', 'PUSH', '-m', 'SYNC', '--reset-bitmap'], message: '--reset-bitmap can be only used with -b/--bitmap' },
  { name: '--update-bitmap without -b', args: ['-l', 'L', '-r', 'R', '-a', 'PUSH', '-m', 'SYNC', '--update-bitmap'], message: '--update-bitmap can be only used with -b/--bitmap' },
  {
    name: '--reset-bitmap and --update-bitmap together',
    args: ['-l', 'L', '-r', 'R', '-a', 'PUSH', '-m', 'SYNC', '-b', 'B', '--reset-bitmap', '--update-bitmap'],
    message: '--reset-bitmap and --update-bitmap cannot be used together',
  },
  {
    name: '--update-bitmap in bitmap-only mode (no destination to read)',
    args: ['-l', 'L', '-a', 'PUSH', '-m', 'SYNC', '-b', 'B', '--update-bitmap'],
    message: /^--update-bitmap needs the destination device/,
  },
  { name: 'missing -l', args: ['-r', 'R', '-a', 'PUSH', '-m', 'SYNC'], message: 'Option must be provided: -l/--local' },
  { name: 'missing -r', args: ['-l', 'L', '-a', 'PULL', '-m', 'SYNC'], message: 'Option must be provided: -r/--remote' },
  { name: 'missing -l with no action', args: ['-r', 'R'], message: 'Option must be provided: -l/--local' },
  { name: 'missing -r with no action', args: ['-l', 'L'], message: 'Option must be provided: -r/--remote' },
  { name: 'nothing at all', args: [], message: 'Option must be provided: -l/--local' },
  { name: 'PUSH with a bitmap still needs its source -l', args: ['-r', 'R', '-a', 'PUSH', '-m', 'SYNC', '-b', 'B'], message: 'Option must be provided: -l/--local' },
  { name: 'PULL with a bitmap still needs its source -r', args: ['-l', 'L', '-a', 'PULL', '-m', 'SYNC', '-b', 'B'], message: 'Option must be provided: -r/--remote' },
  {
    name: '--recheck in bitmap-only mode (one device)',
    args: ['-l', 'L', '-a', 'PUSH', '-m', 'SYNC', '-b', 'B', '--recheck'],
    message: '--recheck needs both devices: -l/--local and -r/--remote',
  },
  {
    name: '--changes outside bitmap-only mode',
    args: ['-l', 'L', '-r', 'R', '-a', 'PUSH', '-m', 'SYNC', '-b', 'B', '--changes', 'B'],
    message: '--changes can be only used in bitmap-only mode (-b without a destination device)',
  },
  { name: 'a salted hash with a bitmap', args: ['-l', 'L', '-r', 'R', '-a', 'PUSH', '-m', 'SYNC', '-b', 'B', '--hash', 'xxh128'], message: /^--hash XXH128 is salted for each run and cannot be stored in a bitmap/ },
  { name: '--rsh without -h', args: ['-l', 'L', '-r', 'R', '--rsh', 'ssh'], message: 'Option --rsh can be only used with -h/--host' },
  { name: '--buffer abc', args: ['-l', 'L', '-r', 'R', '-a', 'PUSH', '-m', 'SYNC', '--buffer', 'abc'], message: "Argument conversion error: --buffer must be a whole number, got 'abc'" },
  { name: '--buffer 1.5', args: ['-l', 'L', '-r', 'R', '-a', 'PUSH', '-m', 'SYNC', '--buffer', '1.5'], message: "Argument conversion error: --buffer must be a whole number, got '1.5'" },
  { name: '--buffer 0', args: ['-l', 'L', '-r', 'R', '-a', 'PUSH', '-m', 'SYNC', '--buffer', '0'], message: /^--buffer must be between 1 and \d+, got 0$/ },
  { name: '--buffer above the maximum', args: ['-l', 'L', '-r', 'R', '-a', 'PUSH', '-m', 'SYNC', '--buffer', '99999999'], message: /^--buffer must be between 1 and \d+, got 99999999$/ },
  { name: '--chunk -1', args: ['-l', 'L', '-r', 'R', '-a', 'PUSH', '-m', 'SYNC', '--chunk=-1'], message: "Argument conversion error: --chunk must be a whole number, got '-1'" },
  { name: '--zlevel 10', args: ['-l', 'L', '-r', 'R', '-a', 'PUSH', '-m', 'COPY', '--zlevel', '10'], message: '--zlevel must be between 0 and 9, got 10' },
  { name: '--zlevel x', args: ['-l', 'L', '-r', 'R', '-a', 'PUSH', '-m', 'COPY', '--zlevel', 'x'], message: "Argument conversion error: --zlevel must be a whole number, got 'x'" },
  { name: 'unsupported hash', args: ['-l', 'L', '-r', 'R', '-a', 'PUSH', '-m', 'SYNC', '--hash', 'CRC32'], message: /^Unsupported hash function: CRC32 \(one of SHA1, SHA224, SHA256, SHA384, SHA512, BLAKE2B, BLAKE2S, MD5\b/ },
  { name: 'unknown option', args: ['-l', 'L', '-r', 'R', '--frobnicate'], message: "error: unknown option '--frobnicate'" },
  { name: 'unknown short option', args: ['-l', 'L', '-r', 'R', '-z'], message: "error: unknown option '-z'" },
  { name: 'a stray argument (an endpoint word with -l/-r)', args: ['-l', 'L', '-r', 'R', 'extra'], message: /^SOURCE TARGET and -l\/--local, -r\/--remote are two forms that do not mix/ },
  { name: 'an option without its value', args: ['-l', 'L', '-r'], message: /^error: option '-r, --remote <device>' argument missing$/ },
  { name: '-h is the host and needs a value (help is --help only)', args: ['-h'], message: /^error: option '-h, --host <host>' argument missing$/ },
];

for (const { name, args, message } of CASES) {
  test(`usage error: ${name}`, async (t) => {
    const dir = tempDir();
    t.teardown(() => dir.cleanup());
    const paths: Record<string, string> = { L: dir.path('local.img'), R: dir.path('remote.img'), B: dir.path('bitmap') };
    writeRandom(paths.L, 100_000);
    writeRandom(paths.R, 100_000);
    const before = [await sha256File(paths.L), await sha256File(paths.R)];

    const result = await basyn(args.map((arg) => paths[arg] ?? arg));
    t.is(result.code, 1, result.stderr);
    t.is(result.stdout, '');
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    t.is(lines.length, 1, `one line on stderr: ${JSON.stringify(result.stderr)}`);
    if (typeof message === 'string') t.is(lines[0], message);
    else t.regex(lines[0] ?? '', message);
    t.false(hasStackTrace(result.stderr));
    t.deepEqual([await sha256File(paths.L), await sha256File(paths.R)], before, 'nothing written');
    t.false(existsSync(paths.B), 'no bitmap created');
  });
}

test('--help exits 0 and documents -h/--host and every basyn option', async (t) => {
  const result = await basyn(['--help']);
  t.is(result.code, 0);
  for (const option of ['-h, --host', '-l, --local', '-r, --remote', '-a, --action', '-m, --mode', '-b, --bitmap', '--buffer', '--chunk', '--hash', '--zlevel', '--recheck', '--stat', '--reset-bitmap', '--update-bitmap']) {
    t.true(result.stdout.includes(option), `--help mentions ${option}`);
  }
});

test('--version exits 0 and prints the package version, the build id and the protocol version', async (t) => {
  const { version } = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
  const agentBuild = /"(\d+\.\d+\.\d+[^"]*\+[0-9a-f]{12})"/.exec(readFileSync(join(__dirname, '..', 'dist', 'agent.js'), 'utf8'))?.[1] ?? 'none in dist/agent.js';
  const result = await basyn(['--version']);
  t.is(result.code, 0);
  const match = /^basyn (\S+) \(build (\S+), protocol (\d+), node (v\d+\.\d+\.\d+)\)$/.exec(result.stdout.trim());
  if (!match) return t.fail(`unexpected --version: ${result.stdout}`);
  t.is(match[1], version);
  t.is(match[2], agentBuild, 'the build id the agent bundle carries');
  t.is(Number(match[3]), PROTOCOL_VERSION);
  t.is(match[4], process.version);
});

test('--debug on a usage error may add detail but still exits 1', async (t) => {
  const result = await basyn(['-l', 'x', '-r', 'y', '-a', 'SEND', '-m', 'SYNC', '--debug']);
  t.is(result.code, 1);
  t.true(result.stderr.startsWith("Unknown action - 'SEND'\n"));
});

test('a valid bitmap-only command line is not a usage error (PULL: -r and -b, no -l)', async (t) => {
  const dir = tempDir();
  t.teardown(() => dir.cleanup());
  writeFileSync(dir.path('remote.img'), Buffer.alloc(1000, 7));
  const result = await basyn(['-r', dir.path('remote.img'), '-a', 'PULL', '-m', 'SYNC', '-b', dir.path('bitmap')]);
  t.is(result.code, 0, result.stderr);
  t.true(existsSync(dir.path('bitmap')));
});

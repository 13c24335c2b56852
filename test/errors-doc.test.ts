// docs/errors.md is checked here: every row of its table (code, exit code, message) is produced by at
// least one real invocation below, and every invocation belongs to a row, so the table cannot drift
// from the code. Each invocation is one bad input (at least 40 in all): it must exit with the row's
// code and print exactly one line on stderr, matching the row's message, with no stack trace.
// Invocations needing root (mounts, another user) or an sshd are skipped, with the reason, elsewhere.
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, closeSync, constants as fsConstants, copyFileSync, existsSync, openSync, mkdirSync, readFileSync, renameSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { checkpointPath } from '../src/local/checkpoint';
import { main } from '../src/local/cli';
import { InProcessTransport } from '../src/local/transport/in-process';
import { BASYN, basyn, hasStackTrace, NOBODY, type RunOptions, type RunResult } from './helpers/cli';
import { fakeNode, loopDevice, rootFaultsUnavailable, tmpfs, waitFor } from './helpers/faults';
import { bitmapV1 } from './helpers/bitmap-golden';
import { patch, writeRandom, writeSparse } from './helpers/images';
import { PowerLossFs, powerLossUnavailable } from './helpers/powerloss/mount';
import { keygen } from './helpers/sshd';
import { SKIP_SSH, sshFixture } from './helpers/ssh-test';
import { FakeIscsi, IQN, PORTAL } from './helpers/fake-iscsi';
import { messagePattern } from './helpers/errors-doc';

// ---------------------------------------------------------------------------------------------
// The table

interface Row {
  readonly code: string;
  readonly exit: number;
  readonly message: string;
}

/** The rows between the errors:begin/end markers of docs/errors.md. */
function readTable(): Row[] {
  const text = readFileSync(join(__dirname, '..', 'docs', 'errors.md'), 'utf8');
  const table = /<!-- errors:begin -->\n([\s\S]*?)<!-- errors:end -->/.exec(text)?.[1];
  if (!table) throw new Error('docs/errors.md has no errors:begin/end markers');
  return table.split('\n').filter((line) => line.startsWith('| `')).map((line) => {
    const cells = line.split(' | ').map((cell) => cell.replace(/^\|\s*|\s*\|$/g, '').trim());
    const unquote = (cell: string) => /^`(.*)`$/.exec(cell)?.[1] ?? cell;
    return { code: unquote(cells[0]), exit: Number(cells[1]), message: unquote(cells[2]).replace(/\\\|/g, '|') };
  });
}


// ---------------------------------------------------------------------------------------------
// What the invocations share

const MiB = 1024 * 1024;
const SIZE = 4 * 64 * 1024 + 333;
const { scratch, env, sshd } = sshFixture('basyn-errors-doc-');

/** A fresh directory with a random source `a.img` and a different random destination `b.img`. */
interface Place {
  readonly dir: string;
  path(name: string): string;
  readonly a: string;
  readonly b: string;
}

let places = 0;
function place(): Place {
  const dir = scratch.path(`case-${places++}`);
  mkdirSync(dir);
  const path = (name: string) => join(dir, name);
  writeRandom(path('a.img'), SIZE);
  writeRandom(path('b.img'), SIZE);
  return { dir, path, a: path('a.img'), b: path('b.img') };
}

function run(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return basyn(args, { env, timeoutMs: 300_000, ...options });
}

const PUSH = ['-a', 'PUSH', '-m', 'SYNC'];

/**
 * A command-line error needs no agent and no second process: basyn's main() runs in this process (from
 * source, as test/sync-in-process.test.ts runs it) and what it writes on stderr is what a user sees.
 * Most rows are exit-1 errors found before anything is opened; spawning node for each cost seconds.
 */
async function usage(args: string[]): Promise<RunResult> {
  let stderr = '';
  const io = { stdout: () => undefined, stderr: (text: string) => { stderr += text; } };
  const code = await main(args, { io, env, transports: () => new InProcessTransport() });
  return { code, signal: null, stdout: '', stderr };
}

/** -h, -p, -u, then -i and --known-hosts of the private sshd unless given (`key: ''`: none). */
function ssh(options: { key?: string; knownHosts?: string; port?: number } = {}, ...extra: string[]): string[] {
  const key = options.key ?? sshd.keyPath;
  return [
    '-h', sshd.host, '-p', String(options.port ?? sshd.port), '-u', sshd.user, ...(key ? ['-i', key] : []),
    '--known-hosts', options.knownHosts ?? sshd.knownHostsPath, ...extra,
  ];
}

/** Makes a bitmap for a PUSH of `p.a` to `p.b` with basyn itself; returns its path. */
async function bitmapOf(p: Place, extra: string[] = []): Promise<string> {
  const bitmap = p.path('bitmap');
  const result = await run(['-l', p.a, '-r', p.b, ...PUSH, '--buffer', '64', '-b', bitmap, ...extra]);
  if (result.code !== 0) throw new Error(`making the bitmap failed: ${result.stderr}`);
  return bitmap;
}

/** The PUSH with the bitmap made by bitmapOf (same buffer size unless `extra` says otherwise). */
function pushWith(p: Place, bitmap: string, extra: string[] = ['--buffer', '64']): Promise<RunResult> {
  return run(['-l', p.a, '-r', p.b, ...PUSH, '-b', bitmap, ...extra]);
}

/** A remote "node": the real one with a preload script (e.g. to report an old version). */
function nodeWithPreload(p: Place, name: string, preload: string): string {
  writeFileSync(p.path(`${name}.js`), preload);
  return fakeNode(p.dir, name, `exec ${process.execPath} --require ${p.path(`${name}.js`)} "$@"`);
}

/** Runs basyn until it says (with --verbose) that the agents are on-line, then sends `signal`. */
function interruptedRun(args: string[], signal: NodeJS.Signals): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BASYN, ...args, '--verbose'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      if (!sent && stdout.includes('agents are on-line')) {
        sent = true;
        setTimeout(() => child.kill(signal), 200);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('no exit after the signal')); }, 300_000);
    child.once('close', (code, exitSignal) => { clearTimeout(timer); resolve({ code, signal: exitSignal, stdout: '', stderr }); });
  });
}

const IS_ROOT = process.getuid?.() === 0;
/** Whether `nobody` can run bin/basyn here (the checkout must be reachable for it). */
const NOBODY_RUNS = IS_ROOT && spawnSync(process.execPath, [BASYN, '--version'], { ...NOBODY, stdio: 'ignore' }).status === 0;

// ---------------------------------------------------------------------------------------------
// The invocations, by code

interface Invocation {
  readonly input: string;
  /** Why this cannot run here, or undefined. */
  readonly skip?: string;
  /** A known bug, fixed by another branch not landed yet: the test is `test.failing` until then. */
  readonly knownBug?: string;
  run(p: Place, t: ExecutionContext): Promise<RunResult>;
}

const needsSsh = SKIP_SSH ? `needs sshd: ${SKIP_SSH}` : undefined;
const needsRoot = rootFaultsUnavailable();
const needsNobody = !IS_ROOT ? undefined : NOBODY_RUNS ? undefined : 'running as root and `nobody` cannot run bin/basyn here';
/** As root, the run switches to `nobody` so that permission bits apply; the directory is opened for it. */
const unprivileged = (p: Place): RunOptions => {
  if (!IS_ROOT) return {};
  for (const dir of [scratch.dir, p.dir]) chmodSync(dir, 0o755);
  for (const image of [p.a, p.b]) chmodSync(image, 0o644);
  return NOBODY;
};

/** A `basyn tasks` config in the case's folder (its paths relative to it); returns its path. */
function taskConfig(p: Place, text: string): string {
  writeFileSync(p.path('tasks.conf'), text);
  return p.path('tasks.conf');
}

const INVOCATIONS: Record<string, Invocation[]> = {
  USAGE_UNKNOWN_OPTION: [{ input: 'an unknown option', run: (p) => usage(['-l', p.a, '-r', p.b, '--frobnicate']) }],
  USAGE_OPTION_VALUE_MISSING: [
    { input: '-r with no device', run: (p) => usage(['-l', p.a, '-r']) },
    { input: '-h alone (help is --help)', run: () => usage(['-h']) },
  ],
  USAGE_TOO_MANY_ARGUMENTS: [
    { input: 'check-host with a third word', run: (p) => usage(['check-host', 'localhost', p.a, p.b]) },
  ],
  USAGE_ARGUMENT_MISSING: [{ input: 'check-host without HOST', run: () => usage(['check-host']) }],
  USAGE_COMPLETION_SHELL: [{ input: 'completion for zsh', run: () => usage(['completion', 'zsh']) }],
  USAGE_COMPLETION_ARGUMENTS: [{ input: 'completion without a shell', run: () => usage(['completion']) }],
  USAGE_TOO_MANY_ENDPOINTS: [{ input: 'three endpoint words', run: (p) => usage([p.a, p.b, p.a]) }],
  USAGE_FORMS_MIXED: [
    { input: 'a device without -l/-r', run: (p) => usage(['-l', p.a, '-r', p.b, p.a]) },
    { input: 'SOURCE TARGET with -a', run: (p) => usage(['-a', 'PUSH', p.a, p.b]) },
  ],
  USAGE_TARGET_MISSING: [{ input: 'one endpoint word', run: (p) => usage([p.a]) }],
  USAGE_BAD_ENDPOINT: [
    { input: 'host: without a path', run: (p) => usage([p.a, 'backup:']) },
    { input: 'a subcommand word as TARGET', run: (p) => run([p.a, 'tasks'], { cwd: p.dir }) },
    { input: 'ssh:// with port 0', run: (p) => run(['ssh://backup:0/x', p.b]) },
  ],
  USAGE_UNKNOWN_SCHEME: [{ input: 'nfs://', run: (p) => usage(['nfs://server/x', p.b]) }],
  USAGE_SAME_ENDPOINT: [{ input: 'the same file as SOURCE and TARGET', run: (p) => usage([p.a, p.a]) }],
  USAGE_NEEDS_REMOTE_ENDPOINT: [
    { input: '-u with two local endpoints', run: (p) => usage(['-u', 'backup', p.a, p.b]) },
    { input: '--rsh with two local endpoints', run: (p) => usage(['--rsh', 'ssh', p.a, p.b]) },
  ],
  USAGE_SIDE_RSH_LOCAL: [{ input: '--target-rsh for a local TARGET', run: (p) => usage(['--target-rsh', 'ssh', p.a, p.b]) }],
  USAGE_ENDPOINT_FORM_ONLY: [{ input: '-f in the -l/-r form', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '-f']) }],
  USAGE_TARGET_LARGER: [{
    input: 'a larger TARGET, no terminal, no -f',
    run: (p) => {
      writeSparse(p.path('larger.img'), SIZE + 4096);
      return usage([p.a, p.path('larger.img')]);
    },
  }],
  USAGE_NOT_CONFIRMED: [{
    input: 'a larger TARGET, "n" on a terminal',
    skip: spawnSync('script', ['--version']).error ? 'util-linux script is missing' : undefined,
    run: async (p) => {
      writeSparse(p.path('larger.img'), SIZE + 4096);
      // On a pseudo-terminal (script): everything arrives merged; the lines after the prompt are basyn's stderr.
      const command = [BASYN, p.a, p.path('larger.img')].map((word) => `'${word}'`).join(' ');
      const result = spawnSync('script', ['-qec', `${command}; echo "exit=$?"`, '/dev/null'], { input: 'n\r', encoding: 'utf8', timeout: 120_000 });
      const output = (result.stdout ?? '').replace(/\r/g, '');
      const after = output.slice(output.indexOf('[y/N]')).split('\n').slice(1).filter((line) => line && !line.startsWith('exit='));
      return { code: Number(/exit=(\d+)/.exec(output)?.[1] ?? NaN), signal: null, stdout: '', stderr: `${after.join('\n')}\n` };
    },
  }],
  USAGE_WEAK_HASH_WITH_BITMAP: [{ input: '--algo crc32 with -b', run: (p) => usage(['--algo', 'crc32', '-b', p.path('bitmap'), p.a, p.b]) }],
  USAGE_HASH_TWICE: [{ input: '--hash and --algo', run: (p) => usage(['--hash', 'MD5', '--algo', 'MD5', p.a, p.b]) }],
  USAGE_BLOCK_SIZE: [{ input: '--block 1.5K', run: (p) => usage(['--block', '1.5K', p.a, p.b]) }],
  USAGE_BUFFER_TWICE: [{ input: '--block with --buffer', run: (p) => usage(['--block', '1M', '--buffer', '1024', p.a, p.b]) }],
  USAGE_PROGRESS_STYLE: [{ input: '--progress=bar', run: (p) => usage(['--progress=bar', p.a, p.b]) }],
  USAGE_EMPTY_WRAP: [{ input: 'an empty --source-wrap', run: (p) => usage(['--source-wrap', ' ', p.a, p.b]) }],
  USAGE_DEVICE_MISSING: [
    { input: 'no options at all', run: () => usage([]) },
    { input: 'PULL with a bitmap but no source -r', run: (p) => usage(['-l', p.a, '-a', 'PULL', '-m', 'SYNC', '-b', p.path('bitmap')]) },
  ],
  USAGE_UNKNOWN_ACTION: [{ input: '-a SEND', run: (p) => usage(['-l', p.a, '-r', p.b, '-a', 'SEND', '-m', 'SYNC']) }],
  USAGE_MODE_MISSING: [{ input: '-a without -m', run: (p) => usage(['-l', p.a, '-r', p.b, '-a', 'PUSH']) }],
  USAGE_UNKNOWN_MODE: [{ input: '-m FAST', run: (p) => usage(['-l', p.a, '-r', p.b, '-a', 'PUSH', '-m', 'FAST']) }],
  USAGE_MODE_WITHOUT_ACTION: [{ input: '-m without -a', run: (p) => usage(['-l', p.a, '-r', p.b, '-m', 'SYNC']) }],
  USAGE_NEEDS_HOST: [
    { input: '-u without -h', run: (p) => usage(['-l', p.a, '-r', p.b, '-u', 'backup']) },
    { input: '--rsh without -h', run: (p) => usage(['-l', p.a, '-r', p.b, '--rsh', 'ssh']) },
  ],
  USAGE_NOT_A_NUMBER: [
    { input: '--buffer 1.5', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '--buffer', '1.5']) },
    { input: '--chunk=-1', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '--chunk=-1']) },
  ],
  USAGE_OUT_OF_RANGE: [
    { input: '--zlevel 10', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '--zlevel', '10']) },
    { input: '-p 70000', run: (p) => usage(['-l', p.a, '-r', p.b, '-h', 'backup', '-p', '70000']) },
    { input: '--buffer 0', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '--buffer', '0']) },
    { input: '--passes 0', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '--passes', '0']) },
  ],
  USAGE_CHUNK_ABOVE_BUFFER: [{ input: '--chunk 128 --buffer 64', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '--buffer', '64', '--chunk', '128']) }],
  USAGE_UNKNOWN_HASH: [{ input: '--hash CRC32', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '--hash', 'CRC32']) }],
  USAGE_SALTED_HASH_WITH_BITMAP: [{ input: '--hash XXH128 with -b', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '--hash', 'XXH128', '-b', p.path('bitmap')]) }],
  USAGE_BITMAP_NEEDS_SYNC: [{ input: '-b with -m COPY', run: (p) => usage(['-l', p.a, '-r', p.b, '-a', 'PUSH', '-m', 'COPY', '-b', p.path('bitmap')]) }],
  USAGE_BITMAP_OPTION_NEEDS_BITMAP: [{ input: '--reset-bitmap without -b', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '--reset-bitmap']) }],
  USAGE_RESET_AND_UPDATE: [{ input: '--reset-bitmap --update-bitmap', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '-b', p.path('bitmap'), '--reset-bitmap', '--update-bitmap']) }],
  USAGE_UPDATE_NEEDS_DESTINATION: [{ input: '--update-bitmap in bitmap-only mode', run: (p) => usage(['-l', p.a, ...PUSH, '-b', p.path('bitmap'), '--update-bitmap']) }],
  USAGE_CHANGES_NEEDS_BITMAP_ONLY: [{ input: '--changes with a destination', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '-b', p.path('bitmap'), '--changes', p.path('changes')]) }],
  USAGE_PASSES_NEEDS_SYNC: [{ input: '--recheck --passes 2', run: (p) => usage(['-l', p.a, '-r', p.b, '--recheck', '--passes', '2']) }],
  STATE_FILE_REFUSED: [{
    input: 'a foreign file where the checkpoint of a run without -b goes',
    run: (p) => {
      // The runs' HOME is the fixture's: their state directory is under it.
      const checkpoint = checkpointPath({ destination: p.b, destinationHost: '' }, { XDG_STATE_HOME: env.XDG_STATE_HOME || join(env.HOME as string, '.local', 'state') });
      mkdirSync(dirname(checkpoint), { recursive: true });
      writeFileSync(checkpoint, 'precious\n');
      return run(['-l', p.a, '-r', p.b, ...PUSH]);
    },
  }, { input: '-b naming a directory', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '-b', p.dir]) }],
  USAGE_RECHECK_NEEDS_BOTH: [{ input: '--recheck in bitmap-only mode', run: (p) => usage(['-l', p.a, ...PUSH, '-b', p.path('bitmap'), '--recheck']) }],
  USAGE_SAME_DEVICE: [
    { input: 'the same file twice', run: (p) => usage(['-l', p.a, '-r', p.a, ...PUSH]) },
    {
      input: 'a file and a symlink to it',
      run: (p) => {
        symlinkSync(p.a, p.path('link.img'));
        return usage(['-l', p.a, '-r', p.path('link.img'), ...PUSH]);
      },
    },
  ],
  USAGE_SAME_REMOTE_ENDPOINT: [{ input: 'one remote path twice', run: () => usage(['backup:/srv/a.img', 'backup:/srv/a.img']) }],
  USAGE_HOST_EMPTY: [{ input: "-h ''", run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '-h', '']) }],
  USAGE_HOST_DASH: [{ input: 'a host starting with -', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '-h', '-oProxyCommand=x']) }],
  USAGE_BAD_HOST: [{ input: 'a host with a blank', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '-h', 'back up']) }],
  USAGE_BAD_USER: [{ input: 'a user with a blank', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '-h', 'backup', '-u', 'a b']) }],
  USAGE_NOT_A_SIZE: [{ input: '--bwlimit 10mb (units are case-sensitive)', run: (p) => usage(['--bwlimit', '10mb', p.a, p.b]) }],
  USAGE_SIZE_TOO_LARGE: [{ input: '--bwlimit 99999999T', run: (p) => usage(['--bwlimit', '99999999T', p.a, p.b]) }],
  USAGE_BWLIMIT_TOO_LOW: [{ input: '--bwlimit 100', run: (p) => usage(['--bwlimit', '100', p.a, p.b]) }],
  USAGE_PROGRESS_TWICE: [{ input: '--progress and --progress=dot', run: (p) => usage(['--progress', '--progress=dot', p.a, p.b]) }],
  USAGE_REPAIR_NEEDS_RECHECK: [{ input: '--repair alone', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '--repair']) }],
  USAGE_REPAIR_NEEDS_ACTION: [{ input: '--recheck --repair without -a', run: (p) => usage(['-l', p.a, '-r', p.b, '--recheck', '--repair']) }],
  USAGE_VERIFY_BITMAP_NEEDS: [{ input: '--verify-bitmap without -b', run: (p) => usage(['-l', p.a, '-r', p.b, '-a', 'PUSH', '--verify-bitmap']) }],
  USAGE_VERIFY_BITMAP_WITH_MODE: [{ input: '--verify-bitmap with -m', run: (p) => usage(['-r', p.b, ...PUSH, '-b', p.path('bitmap'), '--verify-bitmap']) }],
  USAGE_VERIFY_BITMAP_WITH_RECHECK: [{ input: '--verify-bitmap --recheck', run: (p) => usage(['-l', p.a, '-r', p.b, '-a', 'PUSH', '-b', p.path('bitmap'), '--verify-bitmap', '--recheck']) }],
  USAGE_VERIFY_BITMAP_WITH_CHANGES: [{ input: '--verify-bitmap --changes', run: (p) => usage(['-r', p.b, '-a', 'PUSH', '-b', p.path('bitmap'), '--verify-bitmap', '--changes', p.path('changes')]) }],
  USAGE_VERIFY_BITMAP_DESTINATION: [{ input: '--verify-bitmap of a PUSH without -r', run: (p) => usage(['-l', p.a, '-a', 'PUSH', '-b', p.path('bitmap'), '--verify-bitmap']) }],
  USAGE_BITMAP_OPTION_NEEDS_SYNC: [{ input: '--reset-bitmap with --recheck and no -m', run: (p) => usage(['-l', p.a, '-r', p.b, '-a', 'PUSH', '--recheck', '-b', p.path('bitmap'), '--reset-bitmap']) }],
  USAGE_DIFF_FORMAT: [{ input: '--diff-format xdelta', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '--diff', p.path('patch'), '--diff-format', 'xdelta']) }],
  USAGE_DIFF_SIZE_MODE: [{ input: '--diffsize grow', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '--diff', p.path('patch'), '--diffsize', 'grow']) }],
  USAGE_DIFF_NEEDS_SYNC: [{ input: '--diff with -m COPY', run: (p) => usage(['-l', p.a, '-r', p.b, '-a', 'PUSH', '-m', 'COPY', '--diff', p.path('patch')]) }],
  USAGE_DIFF_WITH_RECHECK: [{ input: '--diff --recheck', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '--diff', p.path('patch'), '--recheck']) }],
  USAGE_DIFF_STDOUT_WITH_JSON: [{ input: '--diff - --json', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '--diff', '-', '--json']) }],
  USAGE_DIFF_WITH_BITMAP_REWRITE: [{ input: '--diff --reset-bitmap', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '-b', p.path('bitmap'), '--diff', p.path('patch'), '--reset-bitmap']) }],
  USAGE_DIFF_BITMAP_ONLY: [{ input: '--diff in bitmap-only mode', run: (p) => usage(['-l', p.a, ...PUSH, '-b', p.path('bitmap'), '--diff', p.path('patch')]) }],
  USAGE_DIFF_FAST_BITMAP: [{ input: '--diff with an XXH3 bitmap', run: (p) => usage(['-l', p.a, ...PUSH, '-b', p.path('bitmap'), '--hash', 'XXH3', '--diff', p.path('patch'), '--diff-advances-bitmap']) }],
  USAGE_DIFF_BDSYNC_NEEDS_DESTINATION: [{ input: 'a bdsync patch in bitmap-only mode', run: (p) => usage(['-l', p.a, ...PUSH, '-b', p.path('bitmap'), '--diff', p.path('patch'), '--diff-advances-bitmap', '--diff-format', 'bdsync']) }],
  USAGE_DIFF_OPTION_NEEDS_DIFF: [{ input: '--diffsize without --diff', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '--diffsize', 'resize']) }],
  USAGE_DIFF_ADVANCES_NEEDS_BITMAP: [{ input: '--diff-advances-bitmap without -b', run: (p) => usage(['-l', p.a, '-r', p.b, ...PUSH, '--diff', p.path('patch'), '--diff-advances-bitmap']) }],
  USAGE_PATCH_ARGUMENTS: [{ input: 'basyn patch with one word', run: (p) => run(['patch', p.b]) }],
  USAGE_ROLLBACK_ARGUMENTS: [{ input: 'basyn patch --rollback with three words', run: (p) => run(['patch', '--rollback', p.a, p.a, p.b]) }],
  USAGE_ROLLBACK_DIFFSIZE: [{ input: 'basyn patch --rollback --diffsize', run: (p) => run(['patch', '--rollback', '--diffsize', 'resize', p.b]) }],
  USAGE_PATCH_FILE: [{ input: 'basyn patch with a missing patch file', run: (p) => run(['patch', p.path('missing.patch'), p.b]) }],
  USAGE_RSH_BACKSLASH: [{ input: '--rsh ending with a backslash', run: (p) => run(['-l', p.a, '-r', p.b, '-h', 'backup', ...PUSH, '--rsh', 'ssh \\']) }],
  USAGE_SSH_OPTION_SYNTAX: [{ input: '-o without =', run: (p) => usage(['-l', p.a, '-r', p.b, '-h', 'backup', '-o', 'BatchMode']) }],
  USAGE_SSH_OPTION_UNSUPPORTED: [{ input: '-o ControlMaster=auto', run: (p) => run(['-l', p.a, '-r', p.b, '-h', 'backup', ...PUSH, '-o', 'ControlMaster=auto']) }],
  USAGE_SSH_CONFIG_MISSING: [{ input: '-F naming no file', run: (p) => run(['-l', p.a, '-r', p.b, '-h', 'backup', ...PUSH, '-F', p.path('no-config')]) }],
  USAGE_SSH_CONFIG_VALUE: [
    { input: '-o ServerAliveInterval=abc', run: (p) => run(['-l', p.a, '-r', p.b, '-h', 'backup', ...PUSH, '-o', 'ServerAliveInterval=abc']) },
    { input: 'BatchMode maybe in the ssh config', run: (p) => {
      writeFileSync(p.path('config'), 'Host backup\n  BatchMode maybe\n');
      return run(['-l', p.a, '-r', p.b, '-h', 'backup', ...PUSH, '-F', p.path('config')]);
    } },
  ],
  USAGE_RSH_EMPTY: [{ input: "--rsh ''", run: (p) => run(['-l', p.a, '-r', p.b, '-h', 'backup', ...PUSH, '--rsh', '']) }],
  USAGE_RSH_QUOTE: [{ input: '--rsh with an open quote', run: (p) => run(['-l', p.a, '-r', p.b, '-h', 'backup', ...PUSH, '--rsh', "ssh -o 'Foo=bar"]) }],

  DEVICE_NOT_CREATED: [{ input: 'a missing TARGET under /dev', run: (p) => run([p.a, '/dev/basyn-errors-doc-missing']) }],
  DEVICE_NO_SUCH_USER: [{
    input: 'a remote TARGET under ~user of no such user (ssh2)', skip: needsSsh,
    run: (p) => run([...ssh({}).filter((word, index, all) => all[index - 1] !== '-h' && word !== '-h'), p.a, `${sshd.host}:~no-such-user-basyn/x.img`]),
  }],
  SIZE_TARGET_SMALLER: [{
    input: 'a smaller TARGET',
    run: (p) => {
      writeSparse(p.path('smaller.img'), 4096);
      return run([p.a, p.path('smaller.img')]);
    },
  }],
  WRAPPER_FAILED: [
    {
      input: 'a --target-wrap that fails',
      run: (p) => {
        writeFileSync(p.path('wrap.sh'), '#!/bin/sh\necho "no snapshot space" >&2\nexit 3\n');
        chmodSync(p.path('wrap.sh'), 0o755);
        return run(['--target-wrap', p.path('wrap.sh'), p.a, p.b]);
      },
    },
    { input: 'BASYN_SOURCE_WRAP naming a missing command', run: (p) => run([p.a, p.b], { env: { ...env, BASYN_SOURCE_WRAP: p.path('no-such-wrapper') } }) },
    {
      input: 'a remote --target-wrap that fails (ssh2)', skip: needsSsh,
      run: (p) => run([...ssh({}).filter((word, index, all) => all[index - 1] !== '-h' && word !== '-h'), '--target-wrap', 'false', p.a, `${sshd.host}:${p.b}`]),
    },
  ],
  DEVICE_NOT_FOUND: [
    { input: 'a missing source', run: (p) => run(['-l', p.path('missing.img'), '-r', p.b, ...PUSH]) },
    { input: 'check-host, a missing DEVICE', skip: needsSsh, run: (p) => run(['check-host', sshd.host, p.path('missing.img'), ...ssh().slice(2)]) },
    { input: 'a missing destination', run: (p) => run(['-l', p.a, '-r', p.path('missing.img'), ...PUSH]) },
    {
      input: 'a missing remote device whose path has spaces and quotes (arrives intact)',
      skip: needsSsh,
      run: (p) => run(['-l', p.a, '-r', p.path(`it's a "backup" copy.img`), ...ssh(), ...PUSH]),
    },
    {
      input: 'a missing remote device whose path has a newline (still one line)',
      skip: needsSsh,
      run: (p) => run(['-l', p.a, '-r', p.path('new\nline.img'), ...ssh(), ...PUSH]),
    },
  ],
  DEVICE_PATH_NOT_DIRECTORY: [{ input: 'a path through a regular file', run: (p) => run(['-l', `${p.a}/inside.img`, '-r', p.b, ...PUSH]) }],
  DEVICE_IS_DIRECTORY: [{ input: 'a directory as the destination', run: (p) => run(['-l', p.a, '-r', p.dir, ...PUSH]) }],
  DEVICE_IS_FIFO: [{ input: 'a FIFO as the source', run: (p) => {
    spawnSync('mkfifo', [p.path('fifo')]);
    return run(['-l', p.path('fifo'), '-r', p.b, ...PUSH]);
  } }],
  DEVICE_IS_CHARACTER_DEVICE: [
    { input: '/dev/zero as the source', run: (p) => run(['-l', '/dev/zero', '-r', p.b, ...PUSH]) },
    { input: '/dev/null as the destination', run: (p) => run(['-l', p.a, '-r', '/dev/null', ...PUSH]) },
  ],
  DEVICE_SYMLINK_LOOP: [{ input: 'two symlinks pointing at each other', run: (p) => {
    symlinkSync(p.path('loop-2'), p.path('loop-1'));
    symlinkSync(p.path('loop-1'), p.path('loop-2'));
    return run(['-l', p.path('loop-1'), '-r', p.b, ...PUSH]);
  } }],
  DEVICE_NOT_READABLE: [{ input: 'a source with mode 000', skip: needsNobody, run: (p) => {
    const options = unprivileged(p);
    chmodSync(p.a, 0o000);
    return run(['-l', p.a, '-r', p.b, ...PUSH], options);
  } }],
  DEVICE_NOT_WRITABLE: [
    { input: 'a destination with mode 444', skip: needsNobody, run: (p) => {
      const options = unprivileged(p);
      chmodSync(p.b, 0o444);
      return run(['-l', p.a, '-r', p.b, ...PUSH], options);
    } },
    {
      input: 'no permission on the remote device (immutable, chattr +i: refused even to root)',
      skip: needsSsh ?? (IS_ROOT ? undefined : 'chattr +i needs root'),
      run: async (p) => {
        if (spawnSync('chattr', ['+i', p.b]).status !== 0) throw new Error('chattr +i failed (file system without attributes?)');
        try {
          return await run(['-l', p.a, '-r', p.b, ...ssh(), ...PUSH]);
        } finally {
          spawnSync('chattr', ['-i', p.b]);
        }
      },
    },
  ],
  DEVICE_ON_READ_ONLY_FS: [{ input: 'a destination image on a tmpfs remounted read-only', skip: needsRoot, run: (p, t) => {
    const space = tmpfs(t, MiB);
    writeRandom(space.path('destination.img'), SIZE);
    execFileSync('mount', ['-o', 'remount,ro', space.dir]);
    return run(['-l', p.a, '-r', space.path('destination.img'), ...PUSH]);
  } }],
  DEVICE_BUSY: [
    { input: 'a destination loop device held open exclusively (O_EXCL) by the test', skip: needsRoot, run: (p, t) => {
      // Sizes in whole sectors: a loop device is as large as its file, rounded down to 512 bytes.
      writeRandom(p.path('source.img'), MiB);
      writeRandom(p.path('backing.img'), MiB);
      const device = loopDevice(t, p.path('backing.img'));
      const held = openSync(device, fsConstants.O_RDONLY | fsConstants.O_EXCL);
      t.teardown(() => closeSync(held));
      return run(['-l', p.path('source.img'), '-r', device, ...PUSH]);
    } },
    { input: 'check-host, a loop device held open exclusively (O_EXCL) by the test', skip: needsRoot ?? needsSsh, run: (p, t) => {
      writeRandom(p.path('backing.img'), MiB);
      const device = loopDevice(t, p.path('backing.img'));
      const held = openSync(device, fsConstants.O_RDONLY | fsConstants.O_EXCL);
      t.teardown(() => closeSync(held));
      return run(['check-host', sshd.host, device, ...ssh().slice(2)]);
    } },
  ],
  DEVICE_EMPTY: [{ input: 'an empty source image', run: (p) => {
    writeFileSync(p.a, '');
    return run(['-l', p.a, '-r', p.b, ...PUSH]);
  } }],
  SIZE_PUSH_DESTINATION_SMALLER: [{ input: 'PUSH to a smaller destination', run: (p) => {
    truncateSync(p.b, SIZE - 1);
    return run(['-l', p.a, '-r', p.b, ...PUSH]);
  } }],
  SIZE_PULL_DESTINATION_SMALLER: [{ input: 'PULL to a smaller local device', run: (p) => {
    truncateSync(p.a, SIZE - 1);
    return run(['-l', p.a, '-r', p.b, '-a', 'PULL', '-m', 'SYNC']);
  } }],
  RECHECK_MISMATCH: [{ input: '--recheck of two different devices', run: (p) => run(['-l', p.a, '-r', p.b, '--recheck']) }],
  IO_NO_SPACE: [{ input: 'a destination image on a full tmpfs', skip: needsRoot, run: (p, t) => {
    const space = tmpfs(t, MiB);
    writeSparse(space.path('destination.img'), 4 * MiB);
    writeRandom(p.path('big.img'), 4 * MiB);
    return run(['-l', p.path('big.img'), '-r', space.path('destination.img'), ...PUSH]);
  } }],
  IO_ERROR: [{ input: 'a loop device over a full tmpfs (EIO at flush)', skip: needsRoot, run: (p, t) => {
    const space = tmpfs(t, MiB);
    writeSparse(space.path('backing.img'), 8 * MiB);
    const device = loopDevice(t, space.path('backing.img'));
    writeRandom(p.path('big.img'), 4 * MiB);
    return run(['-l', p.path('big.img'), '-r', device, ...PUSH]);
  } }],
  IO_READ_ERROR: [{ input: 'a source whose reads fail part way through (FUSE)', skip: powerLossUnavailable(), run: async (p, t) => {
    const fs = await PowerLossFs.mount();
    t.teardown(() => fs.stop());
    await waitFor(() => existsSync(fs.path('.powerloss')), 10_000, 'the FUSE mount');
    writeRandom(fs.path('source.img'), SIZE);
    fs.failRead('source.img', 3 * 64 * 1024 + 100, 1);
    return run(['-l', fs.path('source.img'), '-r', p.b, ...PUSH, '--buffer', '64']);
  } }],
  INTERRUPTED: [
    { input: 'SIGTERM mid-run', run: (p) => {
      writeSparse(p.path('big-a.img'), 8 * 1024 * MiB);
      writeSparse(p.path('big-b.img'), 8 * 1024 * MiB);
      return interruptedRun(['-l', p.path('big-a.img'), '-r', p.path('big-b.img'), ...PUSH], 'SIGTERM');
    } },
    { input: 'SIGINT (Ctrl-C) mid-run', run: (p) => {
      writeSparse(p.path('big-a.img'), 8 * 1024 * MiB);
      writeSparse(p.path('big-b.img'), 8 * 1024 * MiB);
      return interruptedRun(['-l', p.path('big-a.img'), '-r', p.path('big-b.img'), ...PUSH], 'SIGINT');
    } },
  ],

  BITMAP_EMPTY: [{ input: 'an empty bitmap file', run: (p) => {
    writeFileSync(p.path('bitmap'), '');
    return pushWith(p, p.path('bitmap'));
  } }],
  BITMAP_NOT_A_BITMAP: [{ input: '-b naming a text file', run: (p) => {
    writeFileSync(p.path('notes.txt'), 'my notes, not a bitmap\n');
    return pushWith(p, p.path('notes.txt'));
  } }],
  BITMAP_TOO_SHORT: [{ input: 'a bitmap cut inside its header', run: async (p) => {
    const bitmap = await bitmapOf(p);
    truncateSync(bitmap, 40);
    return pushWith(p, bitmap);
  } }],
  BITMAP_UNSUPPORTED_VERSION: [{ input: 'a bitmap of format version 3', run: async (p) => {
    const bitmap = await bitmapOf(p);
    patch(bitmap, 8, Buffer.from([3, 0, 0, 0]));
    return pushWith(p, bitmap);
  } }],
  BITMAP_DAMAGED: [
    { input: 'both header copies corrupt (checksums fail)', run: async (p) => {
      const bitmap = await bitmapOf(p);
      const slotLength = readFileSync(bitmap).readUInt32LE(12);
      patch(bitmap, 16 + 8, Buffer.from([0xff]));
      patch(bitmap, 16 + slotLength + 8, Buffer.from([0xff]));
      return pushWith(p, bitmap);
    } },
    { input: 'a truncated bitmap', run: async (p) => {
      const bitmap = await bitmapOf(p);
      truncateSync(bitmap, readFileSync(bitmap).length - 1);
      return pushWith(p, bitmap);
    } },
    { input: 'a bitmap with trailing garbage', run: async (p) => {
      const bitmap = await bitmapOf(p);
      appendFileSync(bitmap, 'garbage');
      return pushWith(p, bitmap);
    } },
    { input: 'a bad header slot length', run: async (p) => {
      const bitmap = await bitmapOf(p);
      patch(bitmap, 12, Buffer.from([3, 0, 0, 0]));
      return pushWith(p, bitmap);
    } },
  ],
  BITMAP_DEVICE_SIZE: [{ input: 'the source grew since the bitmap was made', run: async (p) => {
    const bitmap = await bitmapOf(p);
    truncateSync(p.a, SIZE + 65536);
    truncateSync(p.b, SIZE + 65536);
    return pushWith(p, bitmap);
  } }],
  BITMAP_BUFFER_SIZE: [{ input: 'another --buffer', run: async (p) => pushWith(p, await bitmapOf(p), ['--buffer', '128']) }],
  BITMAP_CHUNK_SIZE: [{ input: 'another --chunk', run: async (p) => pushWith(p, await bitmapOf(p, ['--chunk', '16']), ['--buffer', '64', '--chunk', '32']) }],
  BITMAP_HASH: [{ input: 'another --hash', run: async (p) => pushWith(p, await bitmapOf(p), ['--buffer', '64', '--hash', 'MD5']) }],
  BITMAP_OTHER_DESTINATION: [{ input: 'the bitmap of another destination', run: async (p) => {
    const bitmap = await bitmapOf(p);
    copyFileSync(p.b, p.path('other.img'));
    return run(['-l', p.a, '-r', p.path('other.img'), ...PUSH, '--buffer', '64', '-b', bitmap]);
  } }],
  BITMAP_DESTINATION_RESIZED: [{ input: 'the destination grew since the bitmap was made', run: async (p) => {
    const bitmap = await bitmapOf(p);
    truncateSync(p.b, SIZE + 65536);
    return pushWith(p, bitmap);
  } }],
  BITMAP_DESTINATION_REPLACED: [{ input: 'the destination image replaced by a copy of itself', run: async (p) => {
    const bitmap = await bitmapOf(p);
    copyFileSync(p.b, p.path('copy.img'));
    renameSync(p.path('copy.img'), p.b);
    return pushWith(p, bitmap);
  } }],
  BITMAP_V1_TOO_SMALL: [{ input: 'a Python basyn bitmap cut inside its header', run: (p) => {
    writeFileSync(p.path('bitmap'), bitmapV1(SIZE, 64 * 1024, 0, []).subarray(0, 12));
    return pushWith(p, p.path('bitmap'));
  } }],
  BITMAP_V1_MISMATCH: [
    { input: 'a Python basyn bitmap of another device size', run: (p) => {
      writeFileSync(p.path('bitmap'), bitmapV1(SIZE + 1, 64 * 1024, 0, []));
      return pushWith(p, p.path('bitmap'));
    } },
    { input: 'a Python basyn bitmap of another buffer size', run: (p) => {
      writeFileSync(p.path('bitmap'), bitmapV1(SIZE, 128 * 1024, 0, []));
      return pushWith(p, p.path('bitmap'));
    } },
  ],
  BITMAP_V1_DAMAGED: [{ input: 'a Python basyn bitmap with its digests cut short', run: (p) => {
    writeFileSync(p.path('bitmap'), Buffer.concat([bitmapV1(SIZE, 64 * 1024, 0, []), Buffer.alloc(20 * 2)]));
    return pushWith(p, p.path('bitmap'));
  } }],
  BITMAP_IN_USE: [{ input: 'the lock of a live run on this host', run: (p) => {
    writeFileSync(p.path('bitmap.lock'), `${process.pid} ${hostname()}\n`);
    return pushWith(p, p.path('bitmap'));
  } }],
  BITMAP_IN_USE_ELSEWHERE: [{ input: 'the lock of a run on another host', run: (p) => {
    writeFileSync(p.path('bitmap.lock'), `4242 another-host.example 12345\n`);
    return pushWith(p, p.path('bitmap'));
  } }],

  SSH_CONNECT: [{ input: 'nothing listening on the port', skip: needsSsh, run: (p) => run(['-l', p.a, '-r', p.b, ...ssh({ port: 1 }), ...PUSH]) }],
  SSH_RESOLVE: [{ input: 'a host name that does not resolve', run: (p) => run(['-l', p.a, '-r', p.b, '-h', 'no-such-host.invalid', ...PUSH]) }],
  SSH_HOST_KEY_UNKNOWN: [
    { input: 'an unknown host', skip: needsSsh, run: (p) => {
      writeFileSync(p.path('known_hosts'), '');
      return run(['-l', p.a, '-r', p.b, ...ssh({ knownHosts: p.path('known_hosts') }), ...PUSH]);
    } },
    { input: 'check-host, an unknown host', skip: needsSsh, run: (p) => {
      writeFileSync(p.path('known_hosts'), '');
      return run(['check-host', sshd.host, ...ssh({ knownHosts: p.path('known_hosts') }).slice(2)]);
    } },
  ],
  SSH_HOST_KEY_CHANGED: [{ input: 'a changed host key', skip: needsSsh, run: (p) => {
    writeFileSync(p.path('known_hosts'), `[${sshd.host}]:${sshd.port} ${keygen(p.path('other_host_key'))}\n`);
    return run(['-l', p.a, '-r', p.b, ...ssh({ knownHosts: p.path('known_hosts') }), ...PUSH]);
  } }],
  SSH_HOST_KEY_REVOKED: [{ input: 'a host key marked @revoked', skip: needsSsh, run: (p) => {
    writeFileSync(p.path('known_hosts'), `@revoked ${sshd.hostKeyLine}\n${sshd.hostKeyLine}\n`);
    return run(['-l', p.a, '-r', p.b, ...ssh({ knownHosts: p.path('known_hosts') }), ...PUSH]);
  } }],
  SSH_AUTH_FAILED: [
    { input: 'a wrong key', skip: needsSsh, run: (p) => {
      keygen(p.path('wrong_key'));
      return run(['-l', p.a, '-r', p.b, ...ssh({ key: p.path('wrong_key') }), ...PUSH]);
    } },
    { input: 'no key and no ssh-agent', skip: needsSsh, run: (p) => run(['-l', p.a, '-r', p.b, ...ssh({ key: '' }), ...PUSH]) },
    { input: 'an encrypted key in batch mode (no terminal)', skip: needsSsh, run: (p) => {
      appendFileSync(join(sshd.dir, 'authorized_keys'), `${keygen(p.path('locked_key'), 'ed25519', 'secret words')}\n`);
      return run(['-l', p.a, '-r', p.b, ...ssh({ key: p.path('locked_key') }), ...PUSH]);
    } },
  ],
  SSH_RSH_FAILED: [{ input: '--rsh ssh with a wrong key', skip: needsSsh, run: (p) => {
    keygen(p.path('wrong_key'));
    const rsh = `ssh -i ${p.path('wrong_key')} -o IdentitiesOnly=yes -o UserKnownHostsFile=${sshd.knownHostsPath} -o BatchMode=yes`;
    return run(['-l', p.a, '-r', p.b, '-h', sshd.host, '-p', String(sshd.port), '-u', sshd.user, '--rsh', rsh, ...PUSH]);
  } }],
  REMOTE_NODE_MISSING: [{ input: '--remote-node naming nothing', skip: needsSsh, run: (p) => run(['-l', p.a, '-r', p.b, ...ssh({}, '--remote-node', p.path('no-node')), ...PUSH]) }],
  REMOTE_NODE_TOO_OLD: [{ input: 'a remote node reporting v16', skip: needsSsh, run: (p) => {
    const node = nodeWithPreload(p, 'node16', 'Object.defineProperty(process, "version", { value: "v16.20.0" });\nObject.defineProperty(process.versions, "node", { value: "16.20.0" });\n');
    return run(['-l', p.a, '-r', p.b, ...ssh({}, '--remote-node', node), ...PUSH]);
  } }],
  REMOTE_UPLOAD_CORRUPTED: [{ input: 'an upload whose SHA-256 does not match on arrival (a node whose digests are off by a bit)', skip: needsSsh, run: (p) => {
    const node = nodeWithPreload(p, 'node-bitflip', [
      'const crypto = require("crypto");', 'const createHash = crypto.createHash;',
      'crypto.createHash = (...args) => { const hash = createHash(...args); const digest = hash.digest.bind(hash);',
      '  hash.digest = (...rest) => { const out = digest(...rest); if (Buffer.isBuffer(out)) out[0] ^= 1; return out; }; return hash; };', '',
    ].join('\n'));
    return run(['-l', p.a, '-r', p.b, ...ssh({}, '--remote-node', node), ...PUSH]);
  } }],
  REMOTE_AGENT_START_FAILED: [
    { input: 'a remote node failing on a bad option', skip: needsSsh, run: (p) => {
      const node = fakeNode(p.dir, 'bad-node', `exec ${process.execPath} --no-such-flag "$@"`);
      return run(['-l', p.a, '-r', p.b, ...ssh({}, '--remote-node', node), ...PUSH]);
    } },
    { input: 'a remote node crashing (SIGSEGV) at start', skip: needsSsh, run: (p) => {
      const node = fakeNode(p.dir, 'segv-node', 'kill -SEGV $$');
      return run(['-l', p.a, '-r', p.b, ...ssh({}, '--remote-node', node), ...PUSH]);
    } },
  ],
  LINK_AGENT_ENDED: [{ input: 'the remote agent killed after it started', skip: needsSsh, run: (p) => {
    // SIGKILL 300 ms after the agent's first bytes (its HELLO): the 8 GiB sparse images keep it busy.
    const node = nodeWithPreload(p, 'doomed-node', [
      'const write = process.stdout.write.bind(process.stdout);',
      'let armed = false;',
      'process.stdout.write = (...args) => {',
      '  if (!armed) { armed = true; setTimeout(() => process.kill(process.pid, "SIGKILL"), 300); }',
      '  return write(...args);',
      '};',
    ].join('\n'));
    writeSparse(p.path('big-a.img'), 8 * 1024 * MiB);
    writeSparse(p.path('big-b.img'), 8 * 1024 * MiB);
    return run(['-l', p.path('big-a.img'), '-r', p.path('big-b.img'), ...ssh({}, '--remote-node', node), ...PUSH]);
  } }],
  TASKS_CONFIG_KEY: [
    { input: 'basyn tasks: zlevel = 12', run: (p) => run(['tasks', '--config', taskConfig(p, '[db]\nsource = a.img\ntarget = b.img\nzlevel = 12\n')]) },
    { input: 'basyn tasks: an LVM snapshot as the target', run: (p) => run(['tasks', '--config', taskConfig(p, '[db]\nsource = a.img\ntarget = lvm+snapshot://vg/db\n')]) },
  ],
  TASKS_CONFIG_UNKNOWN_KEY: [{ input: 'basyn tasks: a misspelt key', run: (p) => run(['tasks', '--config', taskConfig(p, '[DEFAULT]\nrechek = true\n[db]\nsource = a.img\ntarget = b.img\n')]) }],
  TASKS_CONFIG_SYNTAX: [{ input: 'basyn tasks: a line without =', run: (p) => run(['tasks', '--config', taskConfig(p, '[db]\nsource a.img\n')]) }],
  TASKS_CONFIG_MISSING: [{ input: 'basyn tasks with no config file', run: (p) => run(['tasks', '--config', p.path('none.conf')]) }],
  TASKS_UNKNOWN_TASK: [{ input: 'basyn tasks --task of no task', run: (p) => run(['tasks', '--config', taskConfig(p, '[db]\nsource = a.img\ntarget = b.img\n'), '--task', 'dbb']) }],
  TASKS_JOBS: [{ input: 'basyn tasks --jobs 0', run: (p) => run(['tasks', '--config', taskConfig(p, '[db]\nsource = a.img\ntarget = b.img\n'), '--jobs', '0']) }],
};

// iscsi:// endpoints, against the recording fake iscsiadm first on PATH (helpers/fake-iscsiadm.cjs).
const ISCSI_URL = `iscsi://${PORTAL}/${IQN}`;
/** A fake iSCSI portal whose LUN 0 is `p.a`, with `cues`; runs basyn with its environment. */
function iscsiRun(p: Place, t: ExecutionContext, args: string[], cues: Parameters<FakeIscsi['cue']>[0] = {}, extraEnv: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  const fake = new FakeIscsi(t, p.dir, { [IQN]: { luns: { 0: p.a } } }, extraEnv);
  fake.cue(cues);
  return basyn(args, { env: { ...fake.env, HOME: env.HOME }, timeoutMs: 300_000 });
}
const ISCSI_INVOCATIONS: Record<string, Invocation[]> = {
  ISCSI_URL: [
    { input: 'an iscsi:// endpoint without an IQN', run: (p) => run(['iscsi://10.0.0.10', p.b]) },
    { input: 'an iscsi:// endpoint with lun=x', run: (p) => run([p.a, `${ISCSI_URL}?lun=x`]) },
  ],
  ISCSI_CHAP_FILE: [{ input: 'a CHAP file readable by others', run: (p, t) => {
    writeFileSync(p.path('san.chap'), 'username = u\npassword = p\n', { mode: 0o644 });
    chmodSync(p.path('san.chap'), 0o644);
    return iscsiRun(p, t, [`${ISCSI_URL}?chap=${p.path('san.chap')}`, p.b]);
  } }],
  ISCSIADM_MISSING: [{ input: 'no iscsiadm on PATH', run: (p) => basyn([ISCSI_URL, p.b], { env: { ...env, PATH: p.path('empty-bin') }, timeoutMs: 300_000 }) }],
  ISCSI_PORTAL_NO_ANSWER: [{ input: 'a portal refusing discovery', run: (p, t) => iscsiRun(p, t, [ISCSI_URL, p.b], { discovery: 'refused' }) }],
  ISCSI_TARGET_NOT_OFFERED: [{ input: 'an IQN the portal does not offer', run: (p, t) => iscsiRun(p, t, [`iscsi://${PORTAL}/iqn.2026-11.test.basyn:typo`, p.b]) }],
  ISCSI_LOGIN_FAILED: [{ input: 'a login refused (authorization failure)', run: (p, t) => iscsiRun(p, t, [ISCSI_URL, p.b], { login: 'auth' }) }],
  ISCSI_LUN_MISSING: [{ input: 'a LUN that never appears', run: (p, t) => iscsiRun(p, t, [`${ISCSI_URL}?lun=3`, p.b], { noLun: true }, { BASYN_ISCSI_DEVICE_WAIT: '1' }) }],
  // -f: the loop device is a.img cut to whole 512-byte sectors, smaller than b.img.
  ISCSI_LOGOUT_FAILED: [{ input: 'a logout failing three times', skip: needsRoot, run: (p, t) => iscsiRun(p, t, ['-f', ISCSI_URL, p.b], { logoutFailures: 3 }) }],
  ISCSI_RUN_FOLDER: [{ input: 'a run folder under a regular file', run: (p, t) => iscsiRun(p, t, [ISCSI_URL, p.b], {}, { BASYN_ISCSI_RUN_DIR: join(p.a, 'run') }) }],
};
Object.assign(INVOCATIONS, ISCSI_INVOCATIONS);

// ---------------------------------------------------------------------------------------------
// The checks

const ROWS = readTable();

test('docs/errors.md: a table of 40+ messages, one code each, every code with an invocation and every invocation with a row', (t) => {
  t.true(ROWS.length >= 40, `${ROWS.length} rows`);
  const codes = ROWS.map((row) => row.code);
  t.deepEqual([...new Set(codes)], codes, 'codes are unique');
  for (const row of ROWS) {
    t.regex(row.code, /^[A-Z][A-Z0-9_]+$/, `code ${row.code}`);
    t.true(row.exit === 1 || row.exit === 2, `${row.code}: exit ${row.exit}`);
    t.true(row.message.length > 0, `${row.code}: a message`);
  }
  t.deepEqual(codes.filter((code) => !INVOCATIONS[code]), [], 'rows without an invocation');
  t.deepEqual(Object.keys(INVOCATIONS).filter((code) => !codes.includes(code)), [], 'invocations without a row');
  const inputs = Object.values(INVOCATIONS).flat().length;
  t.true(inputs >= 40, `${inputs} distinct bad inputs`);
});

test('messagePattern: <name> stands for any text, a final … for more text', (t) => {
  t.regex('Device /a b/c.img is not found', messagePattern('Device <path> is not found'));
  t.notRegex('Device /a is not found, or is it', messagePattern('Device <path> is not found'));
  t.regex('error: too many arguments. Expected 0', messagePattern('error: too many arguments…'));
  t.notRegex('error: too few arguments', messagePattern('error: too many arguments…'));
  t.notRegex('Device x is a directory', messagePattern('Device <path> is not found'));
});

for (const row of ROWS) {
  for (const invocation of INVOCATIONS[row.code] ?? []) {
    const title = `${row.code}: ${invocation.input}`;
    if (invocation.skip) {
      test.skip(`${title} (skipped: ${invocation.skip})`, () => undefined);
      continue;
    }
    (invocation.knownBug ? test.failing : test)(invocation.knownBug ? `${title} (known bug: ${invocation.knownBug})` : title, async (t) => {
      const p = place();
      const result = await invocation.run(p, t);
      const lines = result.stderr.split('\n').filter((line) => line !== '');
      t.log(lines.join(' / '));
      t.is(result.code, row.exit, `exit code; stderr: ${result.stderr}`);
      t.is(lines.length, 1, `one line on stderr: ${JSON.stringify(result.stderr)}`);
      t.regex(lines[0] ?? '', messagePattern(row.message));
      t.false(hasStackTrace(result.stderr), 'no stack trace');
      t.false(/Unexpected error/.test(result.stderr), 'a known error, not an unexpected one');
    });
  }
}

// `npm run bench [-- --size-mb N]`: times basyn against the ceilings of this machine and rewrites
// docs/benchmarks.md (issue 6). In one run, so that every ratio compares figures taken side by side:
//
//   1. a private build of the working tree (or of --commit REV) in a temp dir: dist/ is not touched;
//   2. test data in a temp dir: random, a copy with ~1 % of scattered 64 KiB regions changed, an
//      identical copy, a mostly-zero file; every file is read once so all of them are in the page cache;
//   3. ceilings: openssl sha1 / sha256, two openssl sha1 in parallel, cat, dd with fdatasync (disk write),
//      ssh -c aes128-gcm 'cat > /dev/null' through a private sshd, and the same through the delay proxy;
//   4. the cases over the local pipe, the sshd, the 50 ms and 200 ms RTT proxies and a 100 Mbit/s link (a
//      bandwidth-capped proxy), each checked by sha256 of both sides (--only REGEX runs some of them);
//   5. peak RSS on two 64 GiB sparse files; SIGTERM to exit (bench-signals.ts); the compression and digest
//      micro-benchmarks;
//   6. the report on stdout and in docs/benchmarks.md (between the bench markers; the rest is kept).
import { execFileSync } from 'node:child_process';
import { copyFileSync, closeSync, existsSync, fdatasyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { buildPrivateCopy } from './bench-build';
import { runCompressionBench, runDigestBench } from './bench-compress';
import { runSignalBench } from './bench-signals';
import { renderReport, signalSection, type CaseResult, type CeilingKind, type Ceilings, type Report, type TransportName } from './bench-report';
import { runLoadBench, type LoadResult } from './bench-load';
import { BasynRunner, bestOf, mustRun, timed, type BasynRun } from './bench-run';
import { startDelayProxy, type DelayProxy } from './delay-proxy';
import { patch, sha256File, tempDir, writeRandom, writeSparse } from '../test/helpers/images';
import { startSshd, sshdUnavailable, type Sshd } from '../test/helpers/sshd';
import { endpointsSection, runEndpointsBench, withEndpointsSection, type EndpointRow } from './bench-endpoints';
import { ensureRsync, runRsyncBench, type RsyncRow } from './bench-rsync';
import { hashThreadCount } from '../src/remote/hash-pool';

const ROOT = join(__dirname, '..');
const MiB = 1024 * 1024;
const REGION = 64 * 1024;
const ONE_WAY_DELAY_MS = 25;
/** The long-distance case (issue 15 target 6): 200 ms RTT. */
const LONG_ONE_WAY_DELAY_MS = 100;
/** The slow link (issue 15): 100 Mbit/s each way, 20 ms RTT. */
const SLOW_LINK_BITS_PER_SECOND = 100e6;
const SLOW_LINK_ONE_WAY_DELAY_MS = 10;
const LEGACY_HASHES = new Set(['SHA1', 'SHA224', 'SHA256', 'SHA384', 'SHA512', 'BLAKE2B', 'BLAKE2S', 'MD5']);

interface Args {
  sizeMb: number;
  sparseGb: number;
  /** Syncs at once in the load case (0 skips it). */
  loadRuns: number;
  /** Runs of each ceiling (the best counts). */
  ceilingRuns: number;
  out: string;
  commit?: string;
  fastHash?: string;
  keep: boolean;
  compression: boolean;
  signals: boolean;
  /** The comparison with rsync over the same sshd (installs rsync with apt when missing). */
  rsync: boolean;
  /** Only the signal case (a private build and sshd, no images, no report file). */
  signalsOnly: boolean;
  /** Only the remote-to-remote case (two sshds); writes its own section of the report file. */
  endpointsOnly: boolean;
  /** Only the cases whose id matches (the ceilings too; no other section; the report on stdout only). */
  only?: RegExp;
}

const USAGE = `usage: npm run bench -- [--size-mb N] [--sparse-gb N] [--load-runs N] [--ceiling-runs N] [--commit REV] [--fast-hash NAME]
                        [--out FILE] [--no-compression] [--no-signals] [--no-rsync] [--signals-only] [--endpoints-only]
                        [--only REGEX] [--keep]
  --size-mb N        size of the test images (default 1024, or $BASYN_BENCH_SIZE_MB)
  --sparse-gb N      size of the sparse images of the RSS check (default 64; 0 skips it)
  --load-runs N      syncs at once through one sshd in the load case (default 8; 0 skips it)
  --ceiling-runs N   runs of each ceiling, the best counts (default 3)
  --commit REV       bench a committed version (git archive REV) instead of the working tree
  --fast-hash NAME   the fast digest to time (default: the first --hash name basyn offers beyond basyn 1's)
  --out FILE         report file (default docs/benchmarks.md; "-" for stdout only)
  --no-compression   skip the compression and digest micro-benchmarks
  --no-signals       skip the signal case (SIGTERM to exit)
  --no-rsync         skip the comparison with rsync over the same sshd
  --signals-only     run the signal case alone and print it (docs/benchmarks.md is not touched)
  --endpoints-only   run the remote-to-remote case alone (two sshds) and write its section of the report file
  --only REGEX       run only the cases whose id matches (e.g. 'track|sync-identical$'), with their ceilings;
                     no other section, and the report goes to stdout (docs/benchmarks.md is not touched)
  --keep             keep the temp dir`;

function parseArgs(argv: string[]): Args {
  const args: Args = { sizeMb: Math.max(4, Number(process.env.BASYN_BENCH_SIZE_MB) || 1024), rsync: true, sparseGb: 64, loadRuns: 8, ceilingRuns: 3, out: join(ROOT, 'docs', 'benchmarks.md'), keep: false, compression: true, signals: true, signalsOnly: false, endpointsOnly: false };
  for (let index = 0; index < argv.length; index++) {
    const name = argv[index];
    const value = () => {
      const next = argv[++index];
      if (next === undefined) throw new Error(`${name} needs a value\n${USAGE}`);
      return next;
    };
    const count = () => {
      const number = Number(value());
      if (!Number.isInteger(number) || number < 0) throw new Error(`${name} needs a whole number\n${USAGE}`);
      return number;
    };
    switch (name) {
      case '--size-mb': args.sizeMb = Math.max(4, count()); break;
      case '--sparse-gb': args.sparseGb = count(); break;
      case '--load-runs': args.loadRuns = count(); break;
      case '--ceiling-runs': args.ceilingRuns = Math.max(1, count()); break;
      case '--commit': args.commit = value(); break;
      case '--fast-hash': args.fastHash = value().toUpperCase(); break;
      case '--out': args.out = value(); break;
      case '--no-compression': args.compression = false; break;
      case '--no-signals': args.signals = false; break;
      case '--no-rsync': args.rsync = false; break;
      case '--signals-only': args.signalsOnly = true; break;
      case '--endpoints-only': args.endpointsOnly = true; break;
      case '--only': args.only = new RegExp(value()); break;
      case '--keep': args.keep = true; break;
      case '--help': console.log(USAGE); process.exit(0); break;
      default: throw new Error(`unknown option ${name}\n${USAGE}`);
    }
  }
  return args;
}

/** A small deterministic PRNG (mulberry32), so the changed regions are the same on every run. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` distinct 64 KiB-aligned offsets in a file of `size` bytes. */
function scatteredRegions(size: number, count: number, seed: number): number[] {
  const random = prng(seed);
  const slots = Math.floor(size / REGION);
  const chosen = new Set<number>();
  while (chosen.size < Math.min(count, slots)) chosen.add(Math.floor(random() * slots));
  return [...chosen].sort((a, b) => a - b).map((slot) => slot * REGION);
}

function randomRegion(random: () => number): Buffer {
  const data = Buffer.allocUnsafe(REGION);
  for (let index = 0; index < REGION; index += 4) data.writeUInt32LE(Math.floor(random() * 4294967296), index);
  return data;
}

/** Copies a file and makes the copy durable, so its write-back does not run during the next timed case. */
function copyDurably(from: string, to: string): void {
  copyFileSync(from, to);
  const fd = openSync(to, 'r+');
  try {
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A mostly-zero image: real zero blocks (not holes, like a used disk), 1 % of it random 64 KiB regions. */
function writeMostlyZero(path: string, size: number, regions: number[], seed: number): void {
  const random = prng(seed);
  const fd = openSync(path, 'w');
  try {
    const zeros = Buffer.alloc(8 * MiB);
    for (let done = 0; done < size; done += zeros.length) writeSync(fd, zeros, 0, Math.min(zeros.length, size - done), done);
    for (const offset of regions) writeSync(fd, randomRegion(random), 0, REGION, offset);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * A text-like image (log lines with varying numbers and words, deflating to about a quarter): what a
 * slow link should carry faster than its raw rate. Deterministic from `seed`.
 */
function writeTextLike(path: string, size: number, seed: number): void {
  const random = prng(seed);
  const words = ['kernel', 'sshd', 'systemd', 'cron', 'accepted', 'session', 'opened', 'closed', 'for', 'user', 'root', 'backup', 'block', 'ok', 'error', 'retry'];
  const fd = openSync(path, 'w');
  try {
    for (let done = 0, line = 0; done < size;) {
      let chunk = '';
      while (chunk.length < MiB) {
        const word = () => words[Math.floor(random() * words.length)];
        chunk += `Nov 29 ${String(line % 24).padStart(2, '0')}:${String(Math.floor(random() * 60)).padStart(2, '0')} host${Math.floor(random() * 8)} ${word()}[${Math.floor(random() * 65536)}]: ${word()} ${word()} ${Math.floor(random() * 1e9)} ${word()}\n`;
        line++;
      }
      const bytes = Buffer.from(chunk, 'latin1').subarray(0, Math.min(MiB, size - done));
      writeSync(fd, bytes, 0, bytes.length, done);
      done += bytes.length;
    }
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The hash names after `--hash` in basyn's help, less basyn 1's: the fast digest option, if there is one. */
async function detectFastHash(controller: string): Promise<string | undefined> {
  const help = (await timed([process.execPath, controller, '--help'])).stdout;
  // commander wraps a long description: the option's text runs until the next line that starts an option.
  const lines = help.split('\n');
  const first = lines.findIndex((text) => /^\s*--hash\b/.test(text));
  if (first < 0) return undefined;
  const end = lines.findIndex((text, index) => index > first && /^\s*-/.test(text));
  const names = lines.slice(first, end < 0 ? undefined : end).join(' ').match(/\b[A-Z][A-Z0-9]{2,}\b/g) ?? [];
  return names.find((name) => !LEGACY_HASHES.has(name));
}

function gitDescription(commit?: string): string {
  const git = (...args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '';
    }
  };
  if (commit) return `commit ${git('rev-parse', '--short', commit) || commit}`;
  const head = git('rev-parse', '--short', 'HEAD');
  const dirty = git('status', '--porcelain', '--untracked-files=no', '--', 'src') !== '';
  return head ? `working tree at ${head}${dirty ? ' with uncommitted changes in src/' : ''}` : 'working tree';
}

/**
 * The time of the work itself: --stat's Time (from the devices being open to the end of the sync, last flush
 * included), measured inside the run; for a recheck alone, which has no such figure, the wall time less the
 * transport's startup.
 */
function netTime(run: BasynRun, startupSeconds = 0, syncs = true): number {
  return Math.max(0.001, syncs && run.statSeconds !== undefined ? run.statSeconds : run.wallSeconds - startupSeconds);
}

/** What a case is compared with (the proxy cases: the same case without the proxy, from the results). */
function ceilingKind(id: string, transport: TransportName): CeilingKind | undefined {
  if (transport === 'proxy' || transport === 'proxy200' || transport === 'slow' || id === 'bwlimit') return undefined; // --bwlimit: its own limit
  if (id === 'sync-bitmap' || id === 'sync-bitmap-xxh3' || id.startsWith('track')) return 'sha1';
  if (id === 'patch-apply') return undefined; // reads the patch twice and the changed ranges: no whole-image ceiling
  if (id.startsWith('copy-')) return transport === 'ssh' ? 'ssh' : 'write';
  return 'sha1Twice';
}

function log(text: string): void {
  process.stderr.write(`${text}\n`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.only) {
    // A subset is no full report: only the cases asked for, printed.
    Object.assign(args, { out: '-', sparseGb: 0, loadRuns: 0, rsync: false, signals: false, compression: false });
  }
  const size = args.sizeMb * MiB;
  const started = Date.now();
  const temp = tempDir('basyn-bench-');
  let sshd: Sshd | undefined;
  let proxy: DelayProxy | undefined;
  let proxy200: DelayProxy | undefined;
  let slowLink: DelayProxy | undefined;
  try {
    // 1. A private build.
    let tree = ROOT;
    if (args.commit) {
      tree = join(temp.dir, 'tree');
      mkdirSync(tree);
      await mustRun(`git -C '${ROOT}' archive '${args.commit}' src | tar -x -C '${tree}'`);
    }
    const build = await buildPrivateCopy(join(temp.dir, 'build'), tree);
    const runner = new BasynRunner(build.controller, temp.dir);
    const fastHash = args.fastHash ?? (await detectFastHash(build.controller));
    const code = `${gitDescription(args.commit)}, build ${build.buildId}`; // now: others may commit during the run
    log(`bench: ${code}, in ${temp.dir}`);
    const signalSetup = (server: Sshd | undefined) => ({
      controller: build.controller,
      path: (name: string) => join(temp.dir, name),
      sshArgs: server ? (port: number) => ['-h', server.host, '-p', String(port), '-u', server.user, '-i', server.keyPath, '--known-hosts', server.knownHostsPath] : undefined,
      sshPort: server?.port,
    });
    if (args.signalsOnly) {
      sshd = sshdUnavailable() ? undefined : await startSshd();
      const rows = await runSignalBench(signalSetup(sshd), log);
      console.log(signalSection(rows));
      if (rows.some((row) => row.error)) process.exitCode = 1;
      return;
    }

    // 2. Test data.
    const file = (name: string) => join(temp.dir, name);
    if (args.endpointsOnly) {
      await endpointsOnly(args, runner, file, code);
      return;
    }
    const [src, changed, same, zero, work, tinyA, tinyB, textImage] = ['src.img', 'changed.img', 'same.img', 'zero.img', 'work.img', 'tiny-a.img', 'tiny-b.img', 'text.img'].map(file);
    const regionCount = Math.max(1, Math.round((size * 0.01) / REGION));
    log(`bench: writing ${args.sizeMb} MiB test images (${regionCount} changed 64 KiB regions)...`);
    writeRandom(src, size);
    copyDurably(src, same);
    copyDurably(src, changed);
    const random = prng(1);
    for (const offset of scatteredRegions(size, regionCount, 2)) patch(changed, offset, randomRegion(random));
    writeMostlyZero(zero, size, scatteredRegions(size, regionCount, 3), 4);
    writeTextLike(textImage, size, 5);
    writeRandom(tinyA, MiB);
    copyFileSync(tinyA, tinyB);
    const digests = new Map<string, string>();
    for (const path of [src, changed, zero, textImage]) digests.set(path, await sha256File(path)); // also warms the page cache
    await mustRun(`cat '${same}' > /dev/null`);
    const cached = (await timed(['fincore', '--bytes', '--noheadings', '--output', 'RES,SIZE', src, changed, same, zero])).stdout.trim();

    // 3. The sshd, the proxy, the ceilings.
    const why = sshdUnavailable();
    if (!why) {
      sshd = await startSshd();
      proxy = await startDelayProxy({ targetPort: sshd.port, delayMs: ONE_WAY_DELAY_MS });
      writeFileSync(file('known_hosts_proxy'), `[${sshd.host}]:${proxy.port} ${sshd.hostPublicKey}\n`);
      proxy200 = await startDelayProxy({ targetPort: sshd.port, delayMs: LONG_ONE_WAY_DELAY_MS });
      writeFileSync(file('known_hosts_proxy200'), `[${sshd.host}]:${proxy200.port} ${sshd.hostPublicKey}\n`);
      // A router's worth of queue (4 MiB), not the default 64 MiB: TCP must see the link's rate.
      slowLink = await startDelayProxy({ targetPort: sshd.port, delayMs: SLOW_LINK_ONE_WAY_DELAY_MS, bitsPerSecond: SLOW_LINK_BITS_PER_SECOND, maxQueuedBytes: 4 * MiB });
      writeFileSync(file('known_hosts_slow'), `[${sshd.host}]:${slowLink.port} ${sshd.hostPublicKey}\n`);
    } else log(`bench: no private sshd (${why}): the ssh cases are skipped`);
    const sshArgs = (port: number, knownHosts: string) =>
      sshd ? ['-h', sshd.host, '-p', String(port), '-u', sshd.user, '-i', sshd.keyPath, '--known-hosts', knownHosts] : [];
    const opensshCommand = (port: number, knownHosts: string, remote: string) =>
      sshd
        ? `ssh -F /dev/null -c aes128-gcm@openssh.com -i '${sshd.keyPath}' -p ${port} -o UserKnownHostsFile='${knownHosts}' ` +
          `-o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes ${sshd.user}@${sshd.host} '${remote}'`
        : '';

    log('bench: ceilings...');
    const runs = args.ceilingRuns;
    const ceilingFile = file('ceiling.img');
    copyDurably(changed, ceilingFile);
    /** The ceilings a case can be compared with, as commands: measured at the start, and again next to each case. */
    const server = sshd;
    const sshLogin = sshd ? await bestOf(runs, opensshCommand(sshd.port, sshd.knownHostsPath, 'true')) : 0;
    const ceilingCommand: Record<CeilingKind, ((count: number) => Promise<number>) | undefined> = {
      sha1Twice: (count) => bestOf(count, `openssl dgst -sha1 '${src}' > /dev/null & openssl dgst -sha1 '${same}' > /dev/null & wait`),
      sha1: (count) => bestOf(count, ['openssl', 'dgst', '-sha1', src]),
      write: (count) => bestOf(count, ['dd', `if=${src}`, `of=${ceilingFile}`, 'bs=4M', 'conv=notrunc,fdatasync', 'status=none']),
      ssh: server ? (count) => bestOf(count, `${opensshCommand(server.port, server.knownHostsPath, 'cat > /dev/null')} < '${src}'`, sshLogin) : undefined,
    };
    const ceilings: Ceilings = {
      read: await bestOf(runs, `cat '${src}' > /dev/null`),
      sha1: await (ceilingCommand.sha1 as (count: number) => Promise<number>)(runs),
      sha256: await bestOf(runs, ['openssl', 'dgst', '-sha256', src]),
      sha1Twice: await (ceilingCommand.sha1Twice as (count: number) => Promise<number>)(runs),
      write: await (ceilingCommand.write as (count: number) => Promise<number>)(Math.min(runs, 2)),
      cached,
    };
    if (sshd && proxy) {
      ceilings.sshLogin = sshLogin;
      ceilings.ssh = await ceilingCommand.ssh?.(runs);
      const proxyLogin = await bestOf(1, opensshCommand(proxy.port, file('known_hosts_proxy'), 'true'));
      ceilings.sshProxyLogin = proxyLogin;
      ceilings.sshProxy = await bestOf(1, `${opensshCommand(proxy.port, file('known_hosts_proxy'), 'cat > /dev/null')} < '${src}'`, proxyLogin);
    }
    /** A case's ceiling is measured right before and right after it (under the same load), the better counts. */
    let lastCeiling: { kind: CeilingKind; seconds: number } | undefined;
    const adjacentCeiling = async (kind: CeilingKind): Promise<number | undefined> => {
      const measure = ceilingCommand[kind];
      if (!measure) return undefined;
      const seconds = await measure(1);
      lastCeiling = { kind, seconds };
      return seconds;
    };
    log(`bench: ceilings ${JSON.stringify(ceilings)}`);

    // Each transport's fixed cost (start, upload, handshake, close), from a recheck of two 1 MiB files.
    const transports: Array<{ name: TransportName; args: string[] }> = [{ name: 'pipe', args: [] }];
    if (sshd && proxy && proxy200 && slowLink) {
      transports.push({ name: 'ssh', args: sshArgs(sshd.port, sshd.knownHostsPath) });
      transports.push({ name: 'proxy', args: sshArgs(proxy.port, file('known_hosts_proxy')) });
      transports.push({ name: 'proxy200', args: sshArgs(proxy200.port, file('known_hosts_proxy200')) });
      transports.push({ name: 'slow', args: sshArgs(slowLink.port, file('known_hosts_slow')) });
    }
    const startup = new Map<string, number>();
    for (const transport of transports) {
      let best = Infinity;
      for (let run = 0; run < 3; run++) {
        const result = await runner.run(['-l', tinyA, '-r', tinyB, ...transport.args, '--recheck']);
        if (!result.ok) throw new Error(`basyn does not run over ${transport.name}: ${result.error}`);
        best = Math.min(best, result.wallSeconds);
      }
      startup.set(transport.name, best);
    }
    log(`bench: startup ${JSON.stringify(Object.fromEntries(startup))}`);
    const hashThreadsDefault = hashThreadCount();

    // 4. The cases.
    const results: CaseResult[] = [];
    const runCase = async (
      id: string, title: string, transport: { name: TransportName; args: string[] }, caseArgs: string[],
      check: { path: string; expect: string }, prepare?: () => void | Promise<void>, env: NodeJS.ProcessEnv = {},
    ): Promise<CaseResult | undefined> => {
      if (args.only && !args.only.test(id)) return undefined;
      log(`bench: ${transport.name} ${title}...`);
      const kind = ceilingKind(id, transport.name);
      let run: BasynRun;
      let ceilingSeconds: number | undefined;
      try {
        await prepare?.();
        const before = kind && (lastCeiling?.kind === kind ? lastCeiling.seconds : await adjacentCeiling(kind));
        run = await runner.run([...caseArgs, ...transport.args], env);
        const after = kind && (await adjacentCeiling(kind));
        if (before && after) ceilingSeconds = Math.min(before, after);
      } catch (failure) {
        run = { ok: false, code: null, wallSeconds: 0, error: (failure as Error).message };
      }
      let error = run.error;
      if (!error) {
        const got = await sha256File(check.path);
        const expect = digests.get(check.expect) as string;
        if (got !== expect) error = `WRONG RESULT: ${check.path} has sha256 ${got.slice(0, 16)}..., expected ${expect.slice(0, 16)}... (${check.expect})`;
      }
      const netSeconds = netTime(run, startup.get(transport.name), id !== 'recheck');
      const result: CaseResult = { id, title, transport: transport.name, run, netSeconds, size, error, ceiling: kind && ceilingSeconds ? { kind, seconds: ceilingSeconds } : undefined };
      results.push(result);
      log(`bench:   ${error ? `FAILED ${error}` : `${(size / MiB / netSeconds).toFixed(0)} MiB/s net, ${run.wallSeconds.toFixed(2)} s wall`}`);
      return result;
    };
    const push = (from: string, to: string, mode: 'SYNC' | 'COPY', ...extra: string[]) => ['-l', from, '-r', to, '-a', 'PUSH', '-m', mode, ...extra];
    const fresh = () => copyDurably(src, work);
    // The bitmap "of a previous run": work is a copy of src, and an untimed run over the same transport records
    // src's digests after comparing with it (a bitmap names its destination: path, host:port, inode).
    const freshBitmap = (transportArgs: string[], hash: string[] = []) => async () => {
      copyDurably(src, work);
      rmSync(file('bitmap'), { force: true });
      const setup = await runner.run([...push(src, work, 'SYNC', '-b', file('bitmap'), '--update-bitmap', ...hash), ...transportArgs]);
      if (!setup.ok) throw new Error(`cannot make the bitmap of a previous run: ${setup.error}`);
    };
    for (const transport of transports) {
      if (transport.name === 'slow') {
        // The slow link (issue 15): compressible data must cross it faster than the link's raw rate.
        await runCase('copy-text', 'COPY text-like data', transport, push(textImage, work, 'COPY'), { path: work, expect: textImage });
        continue;
      }
      const delayed = transport.name === 'proxy' || transport.name === 'proxy200';
      // SHA1, as issue 6 and target 3 name it (the default is XXH128 since issue 15 target 8: sync-default).
      await runCase('sync-identical', 'SYNC identical, --hash SHA1', transport, push(src, same, 'SYNC', '--hash', 'SHA1'), { path: same, expect: src });
      if (!delayed) await runCase('sync-default', 'SYNC identical, default options', transport, push(src, same, 'SYNC'), { path: same, expect: src });
      if (fastHash && !delayed) {
        await runCase('sync-identical-fast', `SYNC identical, --hash ${fastHash}`, transport, push(src, same, 'SYNC', '--hash', fastHash), { path: same, expect: src });
      }
      await runCase('sync-changed', 'SYNC 1 % changed, --hash SHA1', transport, push(changed, work, 'SYNC', '--hash', 'SHA1'), { path: work, expect: changed }, fresh);
      await runCase('sync-bitmap', 'SYNC 1 % changed, with bitmap', transport, push(changed, work, 'SYNC', '-b', file('bitmap')), { path: work, expect: changed }, freshBitmap(transport.args));
      if (delayed) continue;
      // Issue 15, target 5: the same with the unsalted fast digest a bitmap may store.
      await runCase('sync-bitmap-xxh3', 'SYNC 1 % changed, with bitmap, --hash XXH3', transport, push(changed, work, 'SYNC', '-b', file('bitmap'), '--hash', 'XXH3'), { path: work, expect: changed }, freshBitmap(transport.args, ['--hash', 'XXH3']));
      if (transport.name === 'pipe') {
        // Issue 15, target 4: one agent alone tracks changes (bitmap-only, SHA-1: reads the source only), with
        // the default number of hashing threads and with 1, 2 and 4 (BASYN_HASH_THREADS), against openssl sha1.
        const track = ['-l', src, '-a', 'PUSH', '-m', 'SYNC', '-b', file('track'), '--hash', 'SHA1'];
        const knownBitmap = async () => {
          if (existsSync(file('track'))) return;
          const setup = await runner.run(track);
          if (!setup.ok) throw new Error(`cannot make the tracking bitmap: ${setup.error}`);
        };
        await runCase('track', `bitmap-only tracking, SHA-1, ${hashThreadsDefault} hashing threads (the default)`, transport, track, { path: src, expect: src }, knownBitmap);
        for (const threads of [1, 2, 4]) {
          await runCase(`track-threads-${threads}`, `bitmap-only tracking, SHA-1, BASYN_HASH_THREADS=${threads}`, transport, track, { path: src, expect: src }, knownBitmap, { BASYN_HASH_THREADS: String(threads) });
        }
      }
      await runCase('copy-random', 'COPY random data', transport, push(src, work, 'COPY'), { path: work, expect: src });
      // Issue 15, target 9: a new bitmap (every entry unknown) against an existing, identical destination is a
      // SYNC, compared with the COPY above.
      await runCase('sync-bitmap-new', 'SYNC identical, new bitmap (entries unknown)', transport, push(src, same, 'SYNC', '-b', file('bitmap-new')), { path: same, expect: src }, () => rmSync(file('bitmap-new'), { force: true }));
      if (transport.name === 'ssh') {
        // --bwlimit set so that the copy should last 30 s: the rate over the link must be within 10 % of the limit.
        const limit = Math.round(size / 30);
        const limited = await runCase('bwlimit', `COPY random data, --bwlimit ${limit} (30 s)`, transport, push(src, work, 'COPY', '--bwlimit', String(limit)), { path: work, expect: src });
        if (limited && !limited.error) log(`bench:   --bwlimit: ${((100 * size) / limited.netSeconds / limit).toFixed(1)} % of the limit (target 90-110 %)`);
      }
      await runCase('copy-zero', 'COPY mostly-zero file', transport, push(zero, work, 'COPY'), { path: work, expect: zero });
      await runCase('recheck', 'recheck (identical)', transport, ['-l', src, '-r', same, '--recheck'], { path: same, expect: src });
    }

    // Patch files (README "Patch files"): make a 1 % patch (the destination is only read), then apply it
    // (checked first, journalled). The destination must still be the old image after the first case.
    const pipe = transports[0];
    const patchFile = file('bench.patch');
    await runCase('diff-make', 'SYNC 1 % changed, --diff FILE (make a patch)', pipe, push(changed, work, 'SYNC', '--diff', patchFile), { path: work, expect: src }, () => {
      copyDurably(src, work);
      rmSync(patchFile, { force: true });
    });
    await runCase('patch-apply', 'basyn patch FILE (apply that 1 % patch)', pipe, ['patch', '--state-dir', file('state'), patchFile, work], { path: work, expect: changed });

    // 5. Memory on large sparse images, then the micro-benchmarks.
    let sparse: CaseResult | undefined;
    if (args.sparseGb > 0) {
      // On tmpfs a hole reads as the shared zero page; on ext4 the kernel zero-fills a fresh page-cache page for
      // every hole read (~2.7 s of system time per GiB here), which would make this check take many minutes.
      const sparseDir = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/basyn-bench-') : temp.dir;
      const sparseSize = args.sparseGb * 1024 * MiB;
      const [sparseA, sparseB] = [join(sparseDir, 'sparse-a.img'), join(sparseDir, 'sparse-b.img')];
      try {
        writeSparse(sparseA, sparseSize);
        writeSparse(sparseB, sparseSize);
        log(`bench: pipe SYNC of two ${args.sparseGb} GiB sparse files in ${sparseDir}...`);
        const run = await runner.run(push(sparseA, sparseB, 'SYNC'));
        const netSeconds = netTime(run, startup.get('pipe'));
        const title = `SYNC ${args.sparseGb} GiB sparse, identical${sparseDir.startsWith('/dev/shm') ? ' (tmpfs)' : ''}`;
        sparse = { id: 'sparse', title, transport: 'pipe', run, netSeconds, size: sparseSize, error: run.error };
        log(`bench:   ${run.error ? `FAILED ${run.error}` : `${(sparseSize / MiB / netSeconds).toFixed(0)} MiB/s net`}`);
      } finally {
        rmSync(sparseA, { force: true });
        rmSync(sparseB, { force: true });
        if (sparseDir !== temp.dir) rmSync(sparseDir, { recursive: true, force: true });
      }
    }
    // Load: several syncs at once through one sshd, each against a lone run (scripts/bench-load.ts).
    let load: LoadResult | undefined;
    if (sshd && args.loadRuns > 0) {
      load = await runLoadBench({ controller: build.controller, workDir: temp.dir, sshArgs: sshArgs(sshd.port, sshd.knownHostsPath), runs: args.loadRuns, log });
      log(`bench:   ${load.error ? `FAILED ${load.error}` : `${load.runs} at once: ${load.concurrent.map((run) => run.slowdown.toFixed(1)).join(', ')} × a lone run`}`);
    }
    // basyn against rsync over the same sshd (scripts/bench-rsync.ts).
    let rsync: { version?: string; rows: RsyncRow[]; why?: string } | undefined;
    if (sshd && args.rsync) {
      const available = await ensureRsync(log);
      const server = sshd;
      rsync = available.version
        ? {
          version: available.version,
          rows: await runRsyncBench({
            runner, basynSsh: sshArgs(server.port, server.knownHostsPath), log,
            rshCommand: `ssh -F /dev/null -c aes128-gcm@openssh.com -i '${server.keyPath}' -p ${server.port} -o UserKnownHostsFile='${server.knownHostsPath}' -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes`,
            remote: `${server.user}@${server.host}`,
            images: { src, changed, same, work },
            digestOf: (path) => digests.get(path) as string,
            reset: copyDurably,
          }),
        }
        : { rows: [], why: available.why };
    }
    const signals = args.signals ? await runSignalBench(signalSetup(sshd), log) : undefined;
    // Remote to remote (scripts/bench-endpoints.ts): a second sshd as the source's host.
    let endpoints: EndpointRow[] | undefined;
    if (sshd && !args.only) {
      const other = await startSshd();
      try {
        endpoints = await runEndpointsBench({ runner, sshds: [other, sshd], images: { src, changed, work }, runs: 1, log });
      } finally {
        await other.stop();
      }
    }
    let compression: Awaited<ReturnType<typeof runCompressionBench>> = [];
    let digestSpeeds: Awaited<ReturnType<typeof runDigestBench>> = [];
    if (args.compression) {
      log('bench: compression micro-benchmark (2 MiB blocks)...');
      compression = await runCompressionBench(ROOT, log);
      digestSpeeds = await runDigestBench();
    }

    // 6. The report.
    const cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown';
    const report: Report = {
      date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      machine: {
        cores: availableParallelism(), cpu: cpuModel, memoryGiB: totalmem() / 1024 ** 3, node: process.version,
        openssl: (await timed(['openssl', 'version'])).stdout.trim(),
        openssh: (await timed(['ssh', '-V'])).stderr.trim(),
      },
      code,
      sizeMb: args.sizeMb,
      regionCount,
      fastHash,
      ceilings,
      startup: Object.fromEntries(startup),
      results,
      sparse,
      load,
      rsync,
      signals,
      compression,
      digests: digestSpeeds,
      benchSeconds: (Date.now() - started) / 1000,
    };
    const rendered = renderReport(report, args.out !== '-' && existsSync(args.out) ? readFileSync(args.out, 'utf8') : undefined);
    const text = endpoints ? withEndpointsSection(rendered.text, endpointsSection(endpoints, `${args.sizeMb} MiB images, ${code}`)) : rendered.text;
    const failed = rendered.failed || Boolean(endpoints?.some((row) => row.error));
    if (args.out === '-') console.log(text);
    else {
      writeFileSync(args.out, text);
      console.log(text.slice(text.indexOf('<!-- bench:begin')));
      log(`bench: wrote ${args.out} (${((Date.now() - started) / 1000).toFixed(0)} s in all)`);
    }
    if (failed) {
      log('bench: some cases FAILED (see above): a wrong result is a failure, not a time');
      process.exitCode = 1;
    }
  } finally {
    await proxy?.stop();
    await proxy200?.stop();
    await slowLink?.stop();
    await sshd?.stop();
    if (args.keep) log(`bench: kept ${temp.dir}`);
    else temp.cleanup();
  }
}

/** --endpoints-only: two sshds, the images, the remote-to-remote case, its section of the report file. */
async function endpointsOnly(args: Args, runner: BasynRunner, file: (name: string) => string, code: string): Promise<void> {
  const why = sshdUnavailable();
  if (why) throw new Error(`--endpoints-only needs two private sshds: ${why}`);
  const [src, changed, work] = ['src.img', 'changed.img', 'work.img'].map(file);
  const size = args.sizeMb * MiB;
  log(`bench: writing ${args.sizeMb} MiB test images...`);
  writeRandom(src, size);
  copyDurably(src, changed);
  const random = prng(1);
  for (const offset of scatteredRegions(size, Math.max(1, Math.round((size * 0.01) / REGION)), 2)) patch(changed, offset, randomRegion(random));
  const sshds = await Promise.all([startSshd(), startSshd()]);
  try {
    const rows = await runEndpointsBench({ runner, sshds: [sshds[0], sshds[1]], images: { src, changed, work }, runs: args.ceilingRuns, log });
    const section = endpointsSection(rows, `${args.sizeMb} MiB images, best of ${args.ceilingRuns}, ${code} (run alone with --endpoints-only)`);
    console.log(section);
    if (args.out !== '-') {
      writeFileSync(args.out, withEndpointsSection(existsSync(args.out) ? readFileSync(args.out, 'utf8') : '', section));
      log(`bench: wrote the remote-to-remote section of ${args.out}`);
    }
    if (rows.some((row) => row.error)) process.exitCode = 1;
  } finally {
    await Promise.all(sshds.map((sshd) => sshd.stop()));
  }
}

main().catch((error: unknown) => {
  log(`bench: ${(error as Error)?.stack ?? String(error)}`);
  process.exit(2);
});

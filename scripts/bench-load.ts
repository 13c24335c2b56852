// The load case of the bench (issue 9): RUNS syncs at once through one sshd, each on its own pair of
// 256 MiB images (sparse, with 1 % of scattered random 64 KiB regions; the destination a stale copy),
// half of them with bitmaps. Each run is timed against a lone run of its own kind (with or without a
// bitmap) from the same starting state, and its peak RSS (controller and agents) is reported.
// test/faults-load.test.ts checks that such runs converge; this measures what the load costs.
//
// Alone (without the rest of the bench), with the repo's dist/ (npm run build first), as root:
//   node --import tsx scripts/bench-load.ts [--runs N] [--size-mb N]
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BasynRunner, type BasynRun } from './bench-run';
import { sha256File, writeSparse } from '../test/helpers/images';

const MiB = 1024 * 1024;
const REGION = 64 * 1024;

export interface LoadRun {
  readonly bitmap: boolean;
  readonly run: BasynRun;
  /** This run's wall time over the lone run's of its kind. */
  readonly slowdown: number;
  /** The largest of the controller's and the agents' peak RSS, KiB. */
  readonly peakKiB: number;
}

export interface LoadResult {
  readonly runs: number;
  readonly sizeMb: number;
  readonly cores: number;
  readonly lone: { plain: BasynRun; bitmap: BasynRun };
  readonly concurrent: LoadRun[];
  readonly error?: string;
}

export interface LoadOptions {
  readonly controller: string;
  readonly workDir: string;
  /** -h, -p, -u, -i, --known-hosts of the sshd every run goes through. */
  readonly sshArgs: string[];
  readonly runs?: number;
  readonly sizeMb?: number;
  readonly log?: (text: string) => void;
}

function peakOf(run: BasynRun): number {
  return Math.max(run.controllerKiB ?? 0, run.localAgentKiB ?? 0, run.remoteAgentKiB ?? 0);
}

export async function runLoadBench(options: LoadOptions): Promise<LoadResult> {
  const runs = options.runs ?? 8;
  const size = (options.sizeMb ?? 256) * MiB;
  const log = options.log ?? (() => undefined);
  const runner = new BasynRunner(options.controller, options.workDir);
  const dir = mkdtempSync(join(options.workDir, 'load-'));
  try {
    // Sources with scattered data; a stale template of each destination (other data at other places).
    const regions = Math.max(1, Math.floor(size / REGION / 100));
    const image = (path: string) => writeSparse(path, size, Array.from({ length: regions }, () => ({
      offset: Math.floor(Math.random() * (size / REGION)) * REGION, data: randomBytes(REGION),
    })));
    const pairs = Array.from({ length: runs }, (_, index) => {
      const pair = { source: join(dir, `source-${index}.img`), stale: join(dir, `stale-${index}.img`), destination: join(dir, `destination-${index}.img`), bitmap: index % 2 === 1 ? join(dir, `bitmap-${index}`) : undefined };
      image(pair.source);
      image(pair.stale);
      return pair;
    });
    const reset = (pair: (typeof pairs)[number]) => {
      copyFileSync(pair.stale, pair.destination);
      if (pair.bitmap) rmSync(pair.bitmap, { force: true });
    };
    const sync = (pair: (typeof pairs)[number]) =>
      runner.run(['-l', pair.source, '-r', pair.destination, ...options.sshArgs, '-a', 'PUSH', '-m', 'SYNC', ...(pair.bitmap ? ['-b', pair.bitmap] : [])]);
    const check = async (pair: (typeof pairs)[number], run: BasynRun) => {
      if (!run.ok) return run.error;
      return (await sha256File(pair.source)) === (await sha256File(pair.destination)) ? undefined : `WRONG RESULT: ${pair.destination} differs from ${pair.source}`;
    };

    log(`bench: load: lone runs on ${options.sizeMb ?? 256} MiB images...`);
    const lone = { plain: pairs[0], bitmap: pairs[Math.min(1, runs - 1)] };
    reset(lone.plain);
    const plain = await sync(lone.plain);
    reset(lone.bitmap);
    const bitmap = await sync(lone.bitmap);
    const loneError = (await check(lone.plain, plain)) ?? (await check(lone.bitmap, bitmap));
    if (loneError) return { runs, sizeMb: size / MiB, cores: availableParallelism(), lone: { plain, bitmap }, concurrent: [], error: `lone run: ${loneError}` };

    log(`bench: load: ${runs} runs at once...`);
    for (const pair of pairs) reset(pair);
    const results = await Promise.all(pairs.map((pair) => sync(pair)));
    const concurrent: LoadRun[] = results.map((run, index) => {
      const alone = pairs[index].bitmap ? bitmap : plain;
      return { bitmap: Boolean(pairs[index].bitmap), run, slowdown: run.wallSeconds / alone.wallSeconds, peakKiB: peakOf(run) };
    });
    const errors = (await Promise.all(pairs.map((pair, index) => check(pair, results[index])))).filter(Boolean);
    return { runs, sizeMb: size / MiB, cores: availableParallelism(), lone: { plain, bitmap }, concurrent, error: errors.length ? errors.join('; ') : undefined };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fixed = (value: number, digits = 2) => value.toFixed(digits);
const mb = (kib: number) => fixed((kib * 1024) / 1e6, 0);

/** The report section (markdown lines). */
export function renderLoad(result: LoadResult): string[] {
  const lines = [
    `${result.runs} PUSH SYNC runs at once through one sshd, each on its own pair of ${result.sizeMb} MiB sparse images ` +
      `(1 % random 64 KiB regions, the destination a stale copy), every other one with a new bitmap; ` +
      `each timed against a lone run of its kind from the same state. ${result.cores} cores: with perfect sharing, ` +
      `each run would be about ${fixed(Math.max(1, result.runs / result.cores), 1)} × slower.`,
    '',
    `Lone runs: ${fixed(result.lone.plain.wallSeconds)} s without a bitmap (peak RSS ${mb(peakOf(result.lone.plain))} MB), ` +
      `${fixed(result.lone.bitmap.wallSeconds)} s with one (${mb(peakOf(result.lone.bitmap))} MB).`,
    '',
  ];
  if (result.error) lines.push(`**FAILED**: ${result.error}`, '');
  if (result.concurrent.length) {
    lines.push('| run | bitmap | wall s | × lone | peak RSS MB (controller / local agent / remote agent) |', '|---:|:---:|---:|---:|---|');
    result.concurrent.forEach(({ bitmap, run, slowdown }, index) => {
      lines.push(`| ${index + 1} | ${bitmap ? 'yes' : 'no'} | ${fixed(run.wallSeconds)} | ${fixed(slowdown)} | ${mb(run.controllerKiB ?? 0)} / ${mb(run.localAgentKiB ?? 0)} / ${mb(run.remoteAgentKiB ?? 0)} |`);
    });
    const slowdowns = result.concurrent.map((run) => run.slowdown);
    const total = result.concurrent.reduce((sum, run) => sum + (run.run.controllerKiB ?? 0) + (run.run.localAgentKiB ?? 0) + (run.run.remoteAgentKiB ?? 0), 0);
    lines.push(
      '',
      `Slowdown: ${fixed(Math.min(...slowdowns))} to ${fixed(Math.max(...slowdowns))} × a lone run (mean ${fixed(slowdowns.reduce((a, b) => a + b, 0) / slowdowns.length)}); ` +
        `all ${result.runs} runs' processes together peaked at no more than ${mb(total)} MB.`,
    );
  }
  return lines;
}

// Alone: node --import tsx scripts/bench-load.ts [--runs N] [--size-mb N]
if (require.main === module) {
  void (async () => {
    const { startSshd } = await import('../test/helpers/sshd');
    const argv = process.argv.slice(2);
    const option = (name: string, fallback: number) => {
      const index = argv.indexOf(name);
      return index >= 0 ? Number(argv[index + 1]) : fallback;
    };
    const workDir = mkdtempSync(join(tmpdir(), 'basyn-bench-load-'));
    const sshd = await startSshd();
    try {
      const result = await runLoadBench({
        controller: join(__dirname, '..', 'dist', 'basyn.js'),
        workDir,
        sshArgs: ['-h', sshd.host, '-p', String(sshd.port), '-u', sshd.user, '-i', sshd.keyPath, '--known-hosts', sshd.knownHostsPath],
        runs: option('--runs', 8),
        sizeMb: option('--size-mb', 256),
        log: (text) => console.error(text),
      });
      console.log(renderLoad(result).join('\n'));
      process.exitCode = result.error ? 1 : 0;
    } finally {
      await sshd.stop();
      rmSync(workDir, { recursive: true, force: true });
    }
  })();
}

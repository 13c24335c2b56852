// Power-cut trials for the bitmap (issue 17, bitmap-format.md §5): destination and bitmap live on the
// power-loss file system (test/helpers/powerloss/), which loses every write not yet fsynced when the
// power is cut. A bitmap SYNC is SIGKILLed (controller or agent) at a random moment, the power is cut,
// and after it: every known bitmap entry must be the digest of what the destination durably holds; the
// same command run again must leave the destination equal to the source; and after a further cut right
// after that clean run, both must still hold. The source changes between runs, sometimes back to what it
// held before the killed run. Kinds:
//   sync      the nightly command, killed and rerun (about half the kills are followed by another kill)
//   upgrade   a version 1 (Python basyn) bitmap, upgraded to version 2 by the killed run
//   reset     the killed run has --reset-bitmap (the file is rewritten); the rerun is the nightly command
// 8 configurations x BASYN_POWER_CHAINS (1) chain x BASYN_POWER_TRIALS (13) trials = 104 trials per run (the
// issue asks for at least 100; one chain per configuration saves a FUSE mount and a first run each).
import test from 'ava';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { bitmapV1 } from './helpers/bitmap-golden';
import { limiter } from './helpers/cli';
import { tempDir } from './helpers/images';
import { bitmapNotFinished, bitmapViolation, killCutRerun, timedRun, type BitmapCheckStats, type PowerCutOutcome } from './helpers/power-cut';
import { PowerLossFs, powerLossUnavailable } from './helpers/powerloss/mount';

const CHAINS = Number(process.env.BASYN_POWER_CHAINS ?? 1);
const TRIALS = Number(process.env.BASYN_POWER_TRIALS ?? 13);
/**
 * The kill lands 0 to this share of the time the chain's last clean run held the bitmap lock after the
 * killed run took it: a run's length varies tenfold with the machine's load, a fixed window would miss
 * most runs or most of each run. (A killed run usually has more to send than the rerun before it.)
 */
const KILL_WINDOW_SHARE = Number(process.env.BASYN_POWER_WINDOW_SHARE ?? 1);
/** Chains at once in this file: each is a basyn run (three node processes) plus a Python FUSE daemon. */
const pool = limiter(Number(process.env.BASYN_POWER_PARALLEL ?? 2));

type Kind = 'sync' | 'upgrade' | 'reset';
interface Config {
  readonly kind: Kind;
  readonly action: 'PUSH' | 'PULL';
  /** KiB; 0: no --chunk. */
  readonly chunkKb: number;
}

const CONFIGS: Config[] = [
  { kind: 'sync', action: 'PUSH', chunkKb: 0 },
  { kind: 'sync', action: 'PUSH', chunkKb: 16 },
  { kind: 'sync', action: 'PULL', chunkKb: 0 },
  { kind: 'sync', action: 'PULL', chunkKb: 16 },
  { kind: 'upgrade', action: 'PUSH', chunkKb: 0 },
  { kind: 'upgrade', action: 'PULL', chunkKb: 16 },
  { kind: 'reset', action: 'PUSH', chunkKb: 16 },
  { kind: 'reset', action: 'PULL', chunkKb: 0 },
];

interface ChainResult {
  readonly outcomes: PowerCutOutcome[];
  /** Entries found torn by a cut (harmless, bitmap-format.md §5.2), for the summary. */
  readonly stats: BitmapCheckStats;
  /** Violations found, each with the chain's geometry to replay it. */
  readonly violations: string[];
}

/** Overwrites `count` random ranges (1 byte to `maxLength` long) with random bytes; returns them. */
function scribble(data: Buffer, count: number, maxLength: number): Array<{ offset: number; length: number }> {
  const ranges = [];
  for (let index = 0; index < count; index++) {
    const length = randomInt(1, Math.min(maxLength, data.length) + 1);
    const offset = randomInt(0, data.length - length + 1);
    randomBytes(length).copy(data, offset);
    ranges.push({ offset, length });
  }
  return ranges;
}

/**
 * One chain: a pair of images (the destination on a fresh power-loss file system, with writeback of
 * unsynced pages in every other chain), a first run, then `trials` kill + cut + rerun steps.
 */
async function runChain(config: Config, chain: number): Promise<ChainResult> {
  const fs = await PowerLossFs.mount(chain % 2 === 1 ? { writeback: 0.2 } : {});
  const dir = tempDir('basyn-power-');
  const outcomes: PowerCutOutcome[] = [];
  const violations: string[] = [];
  const stats: BitmapCheckStats = { torn: 0 };
  try {
    // Mostly 4 KiB buffers, several hundred of them: a run commits every 64 changed buffers (bitmap-sync.ts),
    // so kills land between commits, where a commit without a FLUSH before it would show. Sometimes
    // 64 KiB buffers, whose few changed buffers are committed once, at the end.
    const small = randomInt(0, 4) !== 0;
    const bufferKb = small ? 4 : 64;
    const buffers = small ? randomInt(256, 448) : randomInt(16, 33);
    const bufferBytes = bufferKb * 1024;
    const size = buffers * bufferBytes - randomInt(0, bufferBytes);
    const chunkKb = config.chunkKb > 0 ? (small ? 1 : config.chunkKb) : 0;
    const changeBytes = 2 * (chunkKb > 0 ? chunkKb * 1024 : bufferBytes);
    const source = randomBytes(size);
    const destinationSize = randomInt(0, 4) === 0 ? size + randomInt(1, 10_000) : size;
    const destinationStart = config.kind === 'upgrade' ? Buffer.concat([source, randomBytes(destinationSize - size)]) : randomBytes(destinationSize);
    const tail = destinationStart.subarray(size);
    const [sourcePath, destinationPath] = config.action === 'PUSH' ? [dir.path('local.img'), fs.path('remote.img')] : [dir.path('remote.img'), fs.path('local.img')];
    const [local, remote] = config.action === 'PUSH' ? [sourcePath, destinationPath] : [destinationPath, sourcePath];
    writeFileSync(sourcePath, source);
    writeFileSync(destinationPath, destinationStart);
    const bitmap = fs.path('bitmap');
    const args = ['-l', local, '-r', remote, '-a', config.action, '-m', 'SYNC', '--buffer', String(bufferKb), '-b', bitmap,
      ...(chunkKb > 0 ? ['--chunk', String(chunkKb)] : [])];
    const geometry = `${config.kind} ${config.action} buffer ${bufferKb} KiB chunk ${chunkKb} KiB size ${size} (destination ${destinationSize})`
      + `${chain % 2 === 1 ? ', writeback' : ''}`;

    /** A Python basyn bitmap describing the destination as it is (valid: written durably before any run). */
    const writeV1Bitmap = () => {
      const destination = readFileSync(destinationPath);
      const digests = [];
      for (let offset = 0; offset < size; offset += bufferBytes) {
        digests.push(createHash('sha1').update(destination.subarray(offset, Math.min(size, offset + bufferBytes))).digest());
      }
      writeFileSync(bitmap, bitmapV1(size, bufferBytes, 0, digests));
    };
    const checkDurable = (_when: string, finished: boolean) => {
      if (!readFileSync(destinationPath).subarray(size).equals(tail)) return 'the destination tail beyond the source size changed';
      return bitmapViolation(bitmap, destinationPath, stats) ?? (finished ? bitmapNotFinished(bitmap) : undefined);
    };
    const checkResult = () => {
      const result = readFileSync(destinationPath);
      if (!result.subarray(size).equals(tail)) return 'the destination tail beyond the source size changed';
      if (result.subarray(0, size).equals(source)) return undefined;
      let byte = 0;
      while (result[byte] === source[byte]) byte++;
      return `the destination differs from the source from byte ${byte} (buffer ${Math.floor(byte / bufferBytes)})`;
    };
    let killWindowMs = 500;
    const record = (outcome: PowerCutOutcome) => {
      outcomes.push(outcome);
      if (outcome.rerunMs) killWindowMs = Math.round(outcome.rerunMs * KILL_WINDOW_SHARE);
      violations.push(...outcome.violations.map((violation) => `${geometry}: ${violation}`));
    };

    if (config.kind === 'upgrade') writeV1Bitmap();
    fs.sync();
    if (config.kind !== 'upgrade') {
      // The first run, then a cut right after it: a run that said it was done was durable.
      const { result: first, activeMs } = await timedRun(args, `${bitmap}.lock`);
      killWindowMs = Math.round(activeMs * KILL_WINDOW_SHARE);
      if (first.code !== 0) return { outcomes, stats, violations: [`${geometry}: the first run exited ${first.code}: ${first.stderr.trim()}`] };
      await fs.powerCycle();
      const problem = checkDurable('', true) ?? checkResult();
      if (problem) return { outcomes, stats, violations: [`${geometry}: after the first run and a power cut: ${problem}`] };
    }

    for (let trial = 0; trial < TRIALS; trial++) {
      if (config.kind === 'upgrade' && trial > 0) {
        writeV1Bitmap();
        fs.sync();
      }
      // Much of the source changes, so the killed run has entries to mark and commits midway.
      scribble(source, randomInt(1, buffers * 2), changeBytes);
      const beforeKilledRun = Buffer.from(source);
      const changed = scribble(source, randomInt(1, buffers), changeBytes);
      writeFileSync(sourcePath, source);
      const outcome = await killCutRerun({
        fs,
        args: config.kind === 'reset' ? [...args, '--reset-bitmap'] : args,
        rerunArgs: args,
        startedWhen: `${bitmap}.lock`,
        killWindowMs,
        rerun: config.kind !== 'sync' || trial === TRIALS - 1 || randomInt(0, 2) === 0,
        checkDurable,
        beforeRerun: () => {
          // The source moves on: some ranges go back to their content before the killed run, some change.
          for (const range of changed) {
            if (randomInt(0, 2) === 0) beforeKilledRun.copy(source, range.offset, range.offset, range.offset + range.length);
          }
          scribble(source, randomInt(0, 4), changeBytes);
          writeFileSync(sourcePath, source);
        },
        checkResult,
      });
      record(outcome);
      if (outcome.violations.length > 0) break;
    }
    return { outcomes, stats, violations };
  } finally {
    await fs.stop();
    dir.cleanup();
  }
}

const unavailable = powerLossUnavailable();

for (const config of CONFIGS) {
  const name = `${config.kind} ${config.action}${config.chunkKb ? ' --chunk' : ''}`;
  const title = `power cut: ${name}: bitmap SYNCs killed, power cut, rerun: entries describe durable bytes, destination equals source`;
  if (unavailable) {
    test.skip(`${title} (needs: ${unavailable})`, () => undefined);
    continue;
  }
  test(title, async (t) => {
    t.timeout(30 * 60_000);
    const started = Date.now();
    const chains = await Promise.all(Array.from({ length: CHAINS }, (_, chain) => pool(() => runChain(config, chain))));
    const outcomes = chains.flatMap((chain) => chain.outcomes);
    const violations = chains.flatMap((chain) => chain.violations);
    const torn = chains.reduce((sum, chain) => sum + chain.stats.torn, 0);
    const count = (killed: PowerCutOutcome['killed']) => outcomes.filter((outcome) => outcome.killed === killed).length;
    const summary = `power cut ${name}: ${outcomes.length} trials (controller killed ${count('controller')}, agent killed ${count('agent')}, `
      + `run ended before the kill ${count('none')}), ${violations.length} violations, ${torn} torn entries (harmless), ${((Date.now() - started) / 1000).toFixed(1)}s`;
    t.log(summary);
    console.log(summary);
    for (const violation of violations) t.log(violation);
    t.deepEqual(violations, []);
    t.is(outcomes.length, CHAINS * TRIALS, 'every trial ran');
    t.true(count('none') <= outcomes.length / 2, 'most kills must land during the run');
  });
}

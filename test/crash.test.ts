// Crash tests for the bitmap invariant (bitmap-format.md §5): SIGKILL of the controller or of an
// agent at a random moment of a bitmap SYNC, then random source changes (some back to the content
// before the killed run), then a rerun: the destination must equal the source. 4 configurations ×
// 5 chains × 10 trials = 200 trials per run (BASYN_CRASH_CHAINS / BASYN_CRASH_TRIALS change that).
import test from 'ava';
import { runChain, type TrialConfig, type TrialOutcome } from './helpers/bitmap-crash';
import { limiter } from './helpers/cli';

const CHAINS = Number(process.env.BASYN_CRASH_CHAINS ?? 5);
const TRIALS = Number(process.env.BASYN_CRASH_TRIALS ?? 10);
/** The kill lands up to this long after the run took the bitmap lock (runs here last ~20-150 ms). */
const KILL_WINDOW_MS = Number(process.env.BASYN_CRASH_WINDOW_MS ?? 100);
const pool = limiter(Number(process.env.BASYN_CRASH_PARALLEL ?? 3));

const CONFIGS: TrialConfig[] = [
  { action: 'PUSH', chunkKb: 0 },
  { action: 'PUSH', chunkKb: 16 },
  { action: 'PULL', chunkKb: 0 },
  { action: 'PULL', chunkKb: 16 },
];

for (const config of CONFIGS) {
  const name = `${config.action}${config.chunkKb ? ' --chunk' : ''}`;
  test(`crash: ${name}: SIGKILL during bitmap SYNCs, then a rerun leaves the destination equal to the source`, async (t) => {
    t.timeout(10 * 60_000);
    const started = Date.now();
    const chains = await Promise.all(Array.from({ length: CHAINS }, () => pool(() => runChain(config, TRIALS, KILL_WINDOW_MS))));
    const outcomes: TrialOutcome[] = chains.flat();
    const count = (killed: TrialOutcome['killed']) => outcomes.filter((outcome) => outcome.killed === killed).length;
    const divergences = outcomes.filter((outcome) => outcome.diverged);
    const summary = `crash ${name}: ${outcomes.length} trials (controller killed ${count('controller')}, agent killed ${count('agent')}, `
      + `run ended before the kill ${count('none')}; ${outcomes.filter((outcome) => outcome.landed).length} kills with the bitmap in use), `
      + `${divergences.length} divergences, ${((Date.now() - started) / 1000).toFixed(1)}s`;
    t.log(summary);
    console.log(summary);
    for (const divergence of divergences) t.log(divergence.detail);
    t.is(divergences.length, 0, divergences.map((divergence) => divergence.detail).join('\n'));
    t.true(count('none') <= outcomes.length / 2, 'most kills must land during the run');
  });
}

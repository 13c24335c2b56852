// Power-cut trials for resume checkpoints (issue 11): the destination and the checkpoint live on the
// power-loss file system (test/helpers/powerloss/), which loses every write not yet fsynced when the
// power is cut. A sync without -b is SIGKILLed (controller or agent) once its checkpoint claims a random
// share of the source (progress), the power is cut, and then: the checkpoint is absent or whole, and
// every byte below the offset it claims equals the source on the destination (what a kill trial cannot
// see: a checkpoint saved before the FLUSH that covers it); after a run that ended cleanly and a cut, no
// checkpoint is left (its removal was durable, so no later run resumes from a stale one); the same
// command run again resumes and leaves the destination equal to the source, also after a further cut.
// A -b run keeps no checkpoint (its bitmap is one): test/power-cut.test.ts covers it, with reruns that
// continue from the bitmap. Checkpoints are saved after every buffer (BASYN_CHECKPOINT_EVERY_MS=0).
// 2 configurations x BASYN_RESUME_POWER_TRIALS (6) trials.
import test from 'ava';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkpointPath } from '../src/local/checkpoint';
import { basyn } from './helpers/cli';
import { tempDir } from './helpers/images';
import { RUN_TIMEOUT_MS } from './helpers/power-cut';
import { PowerLossFs, powerLossUnavailable } from './helpers/powerloss/mount';
import { checkpointOffset, killWhen } from './helpers/resume-crash';

const TRIALS = Number(process.env.BASYN_RESUME_POWER_TRIALS ?? 6);
process.env.BASYN_CHECKPOINT_EVERY_MS = '0';

interface Config {
  readonly action: 'PUSH' | 'PULL';
  readonly mode: 'COPY' | 'SYNC';
}

const CONFIGS: Config[] = [
  { action: 'PUSH', mode: 'COPY' },
  { action: 'PULL', mode: 'SYNC' },
];

interface ChainResult {
  readonly trials: number;
  readonly killed: number;
  readonly checkpointed: number;
  readonly violations: string[];
}

async function runChain(config: Config): Promise<ChainResult> {
  // Unsynced pages sometimes reach the disk anyway (writeback), as on a real machine.
  const fs = await PowerLossFs.mount({ writeback: 0.1 });
  const dir = tempDir('basyn-resume-power-');
  const violations: string[] = [];
  let killed = 0;
  let checkpointed = 0;
  try {
    const bufferKb = 4;
    const size = randomInt(512 * 1024, 1024 * 1024);
    const source = randomBytes(size);
    const [sourcePath, destinationPath] = config.action === 'PUSH' ? [dir.path('local.img'), fs.path('remote.img')] : [dir.path('remote.img'), fs.path('local.img')];
    const [local, remote] = config.action === 'PUSH' ? [sourcePath, destinationPath] : [destinationPath, sourcePath];
    writeFileSync(sourcePath, source);
    writeFileSync(destinationPath, randomBytes(size));
    const env = { ...process.env, XDG_STATE_HOME: fs.path('state') };
    const args = ['-l', local, '-r', remote, '-a', config.action, '-m', config.mode, '--buffer', String(bufferKb),
      '--bwlimit', String(Math.round(size / 1.5))];
    const checkpoint = checkpointPath({ destination: resolve(destinationPath), destinationHost: '' }, env);
    const geometry = `${config.action} ${config.mode} size ${size}`;
    fs.sync();

    /** What the durable checkpoint claims that the durable destination does not hold. */
    const checkDurable = (_when: string, finished: boolean): string | undefined => {
      const offset = checkpointOffset(checkpoint);
      if (offset < 0) return 'the checkpoint is not whole JSON';
      if (finished && existsSync(checkpoint)) return `a run that ended cleanly left a checkpoint (at ${offset}) after the cut: its removal was not durable`;
      const destination = readFileSync(destinationPath);
      if (offset > 0) checkpointed++;
      if (destination.subarray(0, offset).equals(source.subarray(0, offset))) return undefined;
      let byte = 0;
      while (destination[byte] === source[byte]) byte++;
      return `the checkpoint claims ${offset} bytes, but the durable destination differs from byte ${byte}`;
    };
    const checkResult = (): string | undefined => (readFileSync(destinationPath).equals(source) ? undefined : 'the destination differs from the source');

    for (let trial = 0; trial < TRIALS; trial++) {
      const share = 0.1 + Math.random() * 0.8;
      const outcome = await killWhen(args, () => checkpointOffset(checkpoint) >= share * size, randomInt(0, 40), randomInt(0, 2) === 0 ? 'controller' : 'agent', env);
      if (outcome !== 'none') killed++;
      await fs.powerCycle();
      const afterKill = checkDurable('', outcome === 'none');
      if (afterKill) violations.push(`${geometry}: after a kill (${outcome}) and a power cut: ${afterKill}`);
      const offset = checkpointOffset(checkpoint);
      const rerun = await basyn(args, { env, timeoutMs: RUN_TIMEOUT_MS });
      if (rerun.code !== 0) violations.push(`${geometry}: the rerun exited ${rerun.code}: ${rerun.stderr.trim()}`);
      else if (offset > 0 && !rerun.stdout.startsWith('Resuming at ')) violations.push(`${geometry}: a checkpoint at ${offset} survived the cut, but the rerun did not resume`);
      await fs.powerCycle();
      const afterRerun = checkDurable('', true) ?? checkResult();
      if (afterRerun) violations.push(`${geometry}: after the rerun and a power cut: ${afterRerun}`);
      writeFileSync(destinationPath, randomBytes(size));
      fs.sync();
      if (violations.length > 0) break;
    }
    return { trials: TRIALS, killed, checkpointed, violations };
  } finally {
    await fs.stop();
    dir.cleanup();
  }
}

const unavailable = powerLossUnavailable();

for (const config of CONFIGS) {
  const name = `${config.action} ${config.mode}`;
  const title = `resume power cut: ${name}: killed, power cut: the checkpoint claims only durable bytes; rerun resumes and converges`;
  if (unavailable) {
    test.skip(`${title} (needs: ${unavailable})`, () => undefined);
    continue;
  }
  test.serial(title, async (t) => {
    t.timeout(30 * 60_000);
    const started = Date.now();
    const result = await runChain(config);
    t.log(`resume power cut ${name}: ${result.trials} trials, ${result.killed} kills landed, ${result.checkpointed} checkpoints checked after a cut, `
      + `${result.violations.length} violations, ${((Date.now() - started) / 1000).toFixed(1)}s`);
    for (const violation of result.violations) t.log(violation);
    t.deepEqual(result.violations, []);
    t.true(result.killed >= result.trials / 2, 'most kills must land during the run');
  });
}

// Power-cut trials for the undo journal of `basyn patch` (issue 17, patch-format.md §5): the target and
// the state folder (the journal) live on the power-loss file system (test/helpers/powerloss/), which
// loses every write and every name not yet made durable when the power is cut. An apply is SIGKILLed at
// a random moment (timed from when its journal appears), the power is cut, and after it:
//   - no journal: the target is exactly the old image or exactly the new one;
//   - a journal: every range it does not hold still holds the old image, and every pre-image it holds is
//     the old image's bytes there (patch-format.md §5: "a range not in the journal was never written");
// then `basyn patch` again must give exactly the new image, or `basyn patch --rollback` exactly the
// old one (chosen at random when a journal is there), and a second cut right after that must change
// neither (a finished apply or rollback is durable). Each chain also starts with an apply run to the
// end and a cut. Chains vary: the state folder sometimes missing (the apply creates it), background
// writeback of unsynced pages in every other chain, and a patch that grows the target (--diffsize
// resize) in half of them.
// BASYN_POWER_PATCH_CHAINS (4) x BASYN_POWER_PATCH_TRIALS (6) = 24 kill trials, plus 4 clean applies.
import test, { type ExecutionContext } from 'ava';
import { randomBytes, randomInt } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Journal, journalPath } from '../src/remote/patch-journal';
import { basyn, limiter } from './helpers/cli';
import { tempDir } from './helpers/images';
import { killCutRerun, timedRun, type PowerCutOutcome } from './helpers/power-cut';
import { PowerLossFs, powerLossUnavailable } from './helpers/powerloss/mount';

const CHAINS = Number(process.env.BASYN_POWER_PATCH_CHAINS ?? 4);
const TRIALS = Number(process.env.BASYN_POWER_PATCH_TRIALS ?? 6);
const pool = limiter(Number(process.env.BASYN_POWER_PARALLEL ?? 2));
const SIZE = 1024 * 1024;
const GROWTH = 24 * 1024;

interface ChainResult {
  readonly outcomes: PowerCutOutcome[];
  readonly violations: string[];
  readonly rollbacks: number;
}

/** Where two buffers first differ (for messages), or undefined when they are equal. */
function firstDifference(found: Buffer, wanted: Buffer): string | undefined {
  if (found.equals(wanted)) return undefined;
  if (found.length !== wanted.length) return `${found.length} bytes instead of ${wanted.length}`;
  let byte = 0;
  while (found[byte] === wanted[byte]) byte++;
  return `differs from byte ${byte}`;
}

interface PatchCase {
  readonly oldImage: Buffer;
  readonly newImage: Buffer;
  readonly patchFile: string;
}

/**
 * The old and new images and a patch made with --diff (as test/patch-kill.test.ts makes it): about 60
 * scattered changes of up to 8 KiB (records of 8 KiB chunks: several journal batches of 16 records),
 * and with resize a tail the old image does not have. One of each kind, shared by the chains.
 */
async function makePatch(dir: ReturnType<typeof tempDir>, resize: boolean): Promise<PatchCase> {
  const name = resize ? 'resize' : 'strict';
  const oldImage = randomBytes(SIZE);
  const newImage = Buffer.concat([oldImage, resize ? randomBytes(GROWTH) : Buffer.alloc(0)]);
  for (let change = 0; change < 60; change++) {
    const length = randomInt(1, 8193);
    randomBytes(length).copy(newImage, randomInt(0, SIZE - length));
  }
  writeFileSync(dir.path(`${name}-old.img`), oldImage);
  writeFileSync(dir.path(`${name}-new.img`), newImage);
  const patchFile = dir.path(`${name}.patch`);
  const made = await basyn(['-l', dir.path(`${name}-new.img`), '-r', dir.path(`${name}-old.img`), '-a', 'PUSH', '-m', 'SYNC', '--chunk', '8',
    '--diff', patchFile, ...(resize ? ['--diffsize', 'resize'] : [])]);
  if (made.code !== 0) throw new Error(`making the ${name} patch exited ${made.code}: ${made.stderr.trim()}`);
  return { oldImage, newImage, patchFile };
}

async function runChain(chain: number, patches: Record<'strict' | 'resize', PatchCase>): Promise<ChainResult> {
  const writeback = chain % 2 === 1;
  const resize = chain % 4 >= 2;
  const { oldImage, newImage, patchFile } = patches[resize ? 'resize' : 'strict'];
  // Flushes take 20 ms (a disk's), so the journalled steps last long enough for kills to land between them.
  const fs = await PowerLossFs.mount({ ...(writeback ? { writeback: 0.5 } : {}), fsyncDelayMs: 20 });
  const outcomes: PowerCutOutcome[] = [];
  const violations: string[] = [];
  let rollbacks = 0;
  try {
    /** The old image as the target reads it once grown: holes read as zeros. */
    const oldGrown = Buffer.concat([oldImage, Buffer.alloc(newImage.length - SIZE)]);

    const geometry = `chain ${chain}${writeback ? ', writeback' : ''}${resize ? ', resize' : ''}`;
    const target = fs.path('target.img');
    const stateRoot = fs.path('state');
    const stateDir = join(stateRoot, 'basyn');
    const apply = ['patch', '--state-dir', stateDir, patchFile, target];
    const rollback = ['patch', '--rollback', '--state-dir', stateDir, target];
    const journals = () => (existsSync(stateDir) ? readdirSync(stateDir).filter((name) => name.endsWith('.journal')) : []);
    /** The apply has started writing state: its journal (or the journal's temporary file) exists. */
    const started = () => existsSync(stateDir) && readdirSync(stateDir).length > 0;
    /** What the target must hold once the current command has finished. */
    let expected: 'old' | 'new' = 'new';

    /** A fresh old target; the state folder sometimes missing, so that the apply creates it. */
    const reset = () => {
      writeFileSync(target, oldImage);
      rmSync(stateRoot, { recursive: true, force: true });
      if (randomInt(0, 2) === 0) mkdirSync(stateDir, { recursive: true });
      fs.sync();
      expected = 'new';
    };
    const checkResult = () => {
      const left = journals();
      if (left.length > 0) return `a journal was left behind (${left.join(', ')})`;
      const problem = firstDifference(readFileSync(target), expected === 'new' ? newImage : oldImage);
      return problem && `the target is not exactly the ${expected} image: ${problem}`;
    };
    const checkDurable = async (_when: string, finished: boolean): Promise<string | undefined> => {
      if (finished) return checkResult();
      const found = readFileSync(target);
      const left = journals();
      if (left.length === 0) {
        if (found.equals(oldImage) || found.equals(newImage)) return undefined;
        return `no journal, and the target is neither the old nor the new image (old: ${firstDifference(found, oldImage)}; new: ${firstDifference(found, newImage)})`;
      }
      if (left.length > 1) return `${left.length} journals for one target`;
      const path = join(stateDir, left[0]);
      let journal: Awaited<ReturnType<typeof Journal.read>>;
      try {
        journal = await Journal.read(path);
      } catch (error) {
        return `the journal cannot be read: ${(error as Error).message}`;
      }
      if (!journal) return 'the journal vanished';
      if (journal.header.sizeBefore !== SIZE || journal.header.sizeAfter !== newImage.length) return `the journal's sizes are ${journal.header.sizeBefore} -> ${journal.header.sizeAfter}`;
      if (found.length !== SIZE && found.length !== newImage.length) return `the target is ${found.length} bytes`;
      const bytes = readFileSync(path);
      const journalled = Buffer.alloc(newImage.length); // entries may lie past a grown size the cut took back
      for (const entry of journal.entries) {
        if (!bytes.subarray(entry.position, entry.position + entry.length).equals(oldGrown.subarray(entry.offset, entry.offset + entry.length))) {
          return `the journal's pre-image of ${entry.offset}+${entry.length} is not the old image's bytes there`;
        }
        journalled.fill(1, entry.offset, entry.offset + entry.length);
      }
      for (let byte = 0; byte < found.length; byte++) {
        if (!journalled[byte] && found[byte] !== oldGrown[byte]) return `byte ${byte} changed but its range is not in the journal (${journal.entries.length} entries)`;
      }
      return undefined;
    };

    // An apply run to the end, then a cut: it said "patch applied", so the new image must be durable.
    reset();
    const { result: first, activeMs } = await timedRun(apply, started);
    if (first.code !== 0) return { outcomes, violations: [`${geometry}: the first apply exited ${first.code}: ${first.stderr.trim()}`], rollbacks };
    await fs.powerCycle();
    const firstProblem = checkResult();
    if (firstProblem) return { outcomes, violations: [`${geometry}: after an apply that finished and a power cut: ${firstProblem}`], rollbacks };
    // The kill window starts as long as that apply's journalled part and adapts: an apply on a loaded
    // machine takes from a fraction to several times as long, and most kills should land inside it.
    let killWindowMs = Math.max(50, activeMs);

    for (let trial = 0; trial < TRIALS; trial++) {
      reset();
      const outcome = await killCutRerun({
        fs,
        args: apply,
        startedWhen: started,
        killWindowMs,
        rerunArgs: () => {
          // After the cut: roll back two times in three when there is something to roll back.
          if (journals().length > 0 && randomInt(0, 3) !== 0) {
            expected = 'old';
            rollbacks++;
            return rollback;
          }
          expected = 'new';
          return apply;
        },
        checkDurable,
        checkResult,
      });
      outcomes.push(outcome);
      killWindowMs = Math.max(20, Math.round(killWindowMs * (outcome.killed === 'none' ? 0.6 : 1.15)));
      violations.push(...outcome.violations.map((violation) => `${geometry}, trial ${trial}: ${violation}`));
      if (outcome.violations.length > 0) break;
    }
    return { outcomes, violations, rollbacks };
  } catch (error) {
    // Reported with the chain that hit it, instead of failing the whole test without a word of where.
    return { outcomes, violations: [...violations, `chain ${chain}: ${(error as Error).stack ?? String(error)}`], rollbacks };
  } finally {
    await fs.stop();
  }
}

const unavailable = powerLossUnavailable();

/** A test on a fresh power-loss mount (skipped, saying why, where it cannot be mounted). */
function onPowerLossFs(name: string, body: (t: ExecutionContext, fs: PowerLossFs, dir: ReturnType<typeof tempDir>) => Promise<void>): void {
  if (unavailable) {
    test.skip(`${name} (needs: ${unavailable})`, () => undefined);
    return;
  }
  test(name, async (t) => {
    t.timeout(10 * 60_000);
    const fs = await PowerLossFs.mount();
    const dir = tempDir('basyn-power-patch-');
    t.teardown(async () => {
      await fs.stop();
      dir.cleanup();
    });
    await body(t, fs, dir);
  });
}

// The two holes the trials found (issue 17), each made to happen on purpose.

onPowerLossFs('power cut: the state folder an apply creates is durable (a journal in it would vanish with it)', async (t, fs, dir) => {
  const { oldImage, newImage, patchFile } = await makePatch(dir, false);
  writeFileSync(fs.path('target.img'), oldImage);
  fs.sync();
  const stateDir = fs.path('state/deeper/basyn'); // none of it exists yet
  const applied = await basyn(['patch', '--state-dir', stateDir, patchFile, fs.path('target.img')]);
  t.is(applied.code, 0, applied.stderr);
  await fs.powerCycle();
  t.true(existsSync(stateDir), 'the state folder survives the cut');
  t.deepEqual(readdirSync(stateDir), [], 'and holds no journal: the apply finished');
  t.true(readFileSync(fs.path('target.img')).equals(newImage));
});

onPowerLossFs('power cut: --rollback of a patch that grew the target makes the old size durable before the journal goes', async (t, fs) => {
  const oldImage = randomBytes(64 * 1024);
  const target = fs.path('target.img');
  const stateDir = fs.path('state');
  writeFileSync(target, oldImage);
  mkdirSync(stateDir);
  fs.sync();
  // What an apply of a growing patch leaves when killed after its writes reached the disk: a journal
  // with the pre-image of one range, the target grown and that range overwritten, all durable.
  const journal = await Journal.create(await journalPath(stateDir, target), { patch: Buffer.alloc(32), sizeBefore: oldImage.length, sizeAfter: oldImage.length + GROWTH, target });
  await journal.append([{ offset: 4096, data: oldImage.subarray(4096, 8192) }]);
  await journal.close();
  const fd = openSync(target, 'r+');
  ftruncateSync(fd, oldImage.length + GROWTH);
  writeSync(fd, randomBytes(4096), 0, 4096, 4096);
  fsyncSync(fd);
  closeSync(fd);
  fs.sync();

  const back = await basyn(['patch', '--rollback', '--state-dir', stateDir, target]);
  t.is(back.code, 0, back.stderr);
  await fs.powerCycle();
  t.deepEqual(readdirSync(stateDir), [], 'the journal is gone');
  const found = readFileSync(target);
  t.is(found.length, oldImage.length, 'the old size came back through the cut');
  t.true(found.equals(oldImage));
});

const title = 'power cut: basyn patch killed, power cut, then patch again (new image) or --rollback (old image), never a mix; a finished apply is durable';
if (unavailable) {
  test.skip(`${title} (needs: ${unavailable})`, () => undefined);
} else {
  test(title, async (t) => {
    t.timeout(30 * 60_000);
    const started = Date.now();
    const dir = tempDir('basyn-power-patch-');
    t.teardown(dir.cleanup);
    const patches = { strict: await makePatch(dir, false), resize: await makePatch(dir, true) };
    const chains = await Promise.all(Array.from({ length: CHAINS }, (_, chain) => pool(() => runChain(chain, patches))));
    const outcomes = chains.flatMap((chain) => chain.outcomes);
    const violations = chains.flatMap((chain) => chain.violations);
    const rollbacks = chains.reduce((sum, chain) => sum + chain.rollbacks, 0);
    const ended = outcomes.filter((outcome) => outcome.killed === 'none').length;
    const summary = `power cut basyn patch: ${outcomes.length} trials (killed ${outcomes.length - ended}, apply ended before the kill ${ended}, `
      + `${rollbacks} rolled back), ${violations.length} violations, ${((Date.now() - started) / 1000).toFixed(1)}s`;
    t.log(summary);
    console.log(summary);
    for (const violation of violations) t.log(violation);
    t.deepEqual(violations, []);
    t.is(outcomes.length, CHAINS * TRIALS, 'every trial ran');
    t.true(ended <= outcomes.length / 2, 'most kills must land during the apply');
  });
}

// Kill trials for the journalled apply (patch-format.md §5): `basyn patch` is SIGKILLed at a random
// moment (most kills land while it writes: shortly after its undo journal appears), then either
// `basyn patch` again must leave the target equal to the new image, or `basyn patch --rollback` equal
// to the old one; never a mix. BASYN_PATCH_TRIALS trials (default 100), BASYN_PATCH_PARALLEL at once.
// A SIGKILL loses no page cache, so this proves the order of steps, not the fsyncs (see docs).
import test from 'ava';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BASYN, basyn, limiter } from './helpers/cli';
import { patch, sha256File, tempDir, writeRandom } from './helpers/images';

const TRIALS = Number(process.env.BASYN_PATCH_TRIALS ?? 100);
const pool = limiter(Number(process.env.BASYN_PATCH_PARALLEL ?? 3));
const SIZE = 4 * 1024 * 1024;

interface Outcome {
  readonly journalSeen: boolean;
  readonly exited: boolean;
  /** The kill landed while the journal existed: during the journalled write. */
  readonly landed: boolean;
  readonly recovery: 'finish' | 'rollback';
  readonly problem?: string;
}

function journalIn(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).some((name) => name.endsWith('.journal'));
}

/** The journal holds at least one pre-image (its header alone is a few hundred bytes). */
function journalGrown(dir: string): boolean {
  if (!existsSync(dir)) return false;
  return readdirSync(dir).some((name) => {
    try {
      return name.endsWith('.journal') && statSync(join(dir, name)).size > 4096;
    } catch {
      return false;
    }
  });
}

/** When the kill is armed: from the start, when the journal appears, or once it holds a pre-image. */
type Trigger = 'start' | 'journal' | 'pre-image';

/** Starts an apply and SIGKILLs it `delay` ms after `trigger`. */
function killedApply(args: string[], stateDir: string, trigger: Trigger, delay: number): Promise<{ journalSeen: boolean; exited: boolean; landed: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BASYN, ...args], { stdio: 'ignore' });
    let journalSeen = false;
    let exited = false;
    let landed = false;
    const kill = () => {
      if (exited) return;
      landed = journalIn(stateDir);
      child.kill('SIGKILL');
    };
    let armed = false;
    const poll = setInterval(() => {
      journalSeen ||= journalIn(stateDir);
      if (!armed && (trigger === 'journal' ? journalSeen : trigger === 'pre-image' && journalGrown(stateDir))) {
        armed = true;
        setTimeout(kill, delay);
      }
    }, 1);
    if (trigger === 'start') setTimeout(kill, delay);
    child.on('exit', (code) => {
      exited = code !== null;
      clearInterval(poll);
      resolve({ journalSeen, exited, landed });
    });
  });
}

test(`kill trials: SIGKILL during basyn patch, then patch again (new image) or --rollback (old image), ${TRIALS} trials`, async (t) => {
  t.timeout(15 * 60_000);
  const dir = tempDir('basyn-patch-kill-');
  t.teardown(dir.cleanup);
  writeRandom(dir.path('old.img'), SIZE);
  copyFileSync(dir.path('old.img'), dir.path('new.img'));
  // 60 scattered changes (60 records of 64 KiB: several journal batches), one block zero but its last byte.
  for (let change = 0; change < 60; change++) patch(dir.path('new.img'), change * 69_000 + 7, Buffer.from(`change number ${change}`));
  const lastByte = Buffer.alloc(4096);
  lastByte[4095] = 1;
  patch(dir.path('new.img'), SIZE - 8192, lastByte);
  const made = await basyn(['-l', dir.path('new.img'), '-r', dir.path('old.img'), '-a', 'PUSH', '-m', 'SYNC', '--diff', dir.path('p.patch')]);
  t.is(made.code, 0, made.stderr);
  const oldDigest = await sha256File(dir.path('old.img'));
  const newDigest = await sha256File(dir.path('new.img'));

  const trial = async (index: number): Promise<Outcome> => {
    const target = dir.path(`t${index}.img`);
    const stateDir = dir.path(`state${index}`);
    copyFileSync(dir.path('old.img'), target);
    const apply = ['patch', '--state-dir', stateDir, dir.path('p.patch'), target];
    // Most kills land in the journalled write: after the journal appears, or after its first pre-image.
    const trigger: Trigger = index % 5 === 0 ? 'start' : index % 5 < 3 ? 'journal' : 'pre-image';
    const delay = trigger === 'start' ? Math.random() * 1500 : Math.random() * (trigger === 'journal' ? 30 : 10);
    const { journalSeen, exited, landed } = await killedApply(apply, stateDir, trigger, delay);
    const recovery = index % 3 === 0 ? 'rollback' : 'finish';
    const fail = (problem: string): Outcome => ({ journalSeen, exited, landed, recovery, problem: `trial ${index}: ${problem}` });
    if (recovery === 'finish') {
      const again = await basyn(apply);
      if (again.code !== 0) return fail(`patch again exited ${again.code}: ${again.stderr.trim()}`);
      if (await sha256File(target) !== newDigest) return fail('patch again did not give the new image');
    } else {
      const journalled = journalIn(stateDir);
      const back = await basyn(['patch', '--rollback', '--state-dir', stateDir, target]);
      const digest = await sha256File(target);
      if (journalled) {
        if (back.code !== 0) return fail(`--rollback exited ${back.code}: ${back.stderr.trim()}`);
        if (digest !== oldDigest) return fail('--rollback did not give the old image');
      } else {
        if (back.code !== 2 || !/nothing to roll back/.test(back.stderr)) return fail(`--rollback without a journal: ${back.code} ${back.stderr.trim()}`);
        if (digest !== oldDigest && digest !== newDigest) return fail('no journal, yet the target is neither the old nor the new image');
      }
    }
    if (journalIn(stateDir)) return fail('a journal was left behind');
    return { journalSeen, exited, landed, recovery };
  };

  const outcomes = await Promise.all(Array.from({ length: TRIALS }, (_, index) => pool(() => trial(index))));
  const problems = outcomes.filter((outcome) => outcome.problem);
  const killedWhileJournalled = outcomes.filter((outcome) => outcome.landed).length;
  const summary = `patch kill trials: ${outcomes.length} (${killedWhileJournalled} killed with the journal in place, `
    + `${outcomes.filter((outcome) => outcome.exited).length} finished before the kill, ${outcomes.filter((outcome) => outcome.journalSeen && !outcome.landed && !outcome.exited).length} killed after the journal was removed, `
    + `${outcomes.filter((outcome) => outcome.recovery === 'rollback').length} rolled back), ${problems.length} problems`;
  t.log(summary);
  console.log(summary);
  t.deepEqual(problems.map((outcome) => outcome.problem), []);
  t.true(killedWhileJournalled >= TRIALS / 4, `only ${killedWhileJournalled} kills landed during the journalled write`);
});

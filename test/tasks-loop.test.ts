// loop:// endpoints and `basyn tasks` end to end, with real loop devices (root; skipped elsewhere, with
// the reason): the three-task config of issue 14 (one disabled, one failing on purpose, one through a
// loop device), a SIGTERM during a sync, and a SIGKILLed run whose loop device the next run detaches.
// After every run, `losetup` shows no loop device over our files.
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { rootTest } from './helpers/root-devices';
import { tempDir, writeRandom } from './helpers/images';
import { runTasks, tasksEnv, writeConfig } from './helpers/tasks';

const SIZE = 2 * 1024 * 1024 + 4096;

/** Loop devices whose backing file is under `dir`, from `losetup -a`. */
function loopsUnder(dir: string): string[] {
  return execFileSync('losetup', ['-a'], { encoding: 'utf8' }).split('\n').filter((line) => line.includes(`(${dir}/`));
}

function scratchFor(t: ExecutionContext) {
  const scratch = tempDir('basyn-tasks-loop-');
  t.teardown(() => {
    // A failed test must not leave loop devices behind either.
    for (const line of loopsUnder(scratch.dir)) execFileSync('losetup', ['-d', line.slice(0, line.indexOf(':'))]);
    scratch.cleanup();
  });
  return scratch;
}

rootTest('three tasks end to end: one disabled, one failing on purpose, one through a loop device; exit 3, each reported', async (t) => {
  const s = scratchFor(t);
  writeRandom(s.path('a.img'), SIZE);
  writeRandom(s.path('loop.img'), SIZE);
  const config = writeConfig(s.dir, [
    '[DEFAULT]', 'recheck = true', '',
    '[off]', 'source = a.img', 'target = off.img', 'create_target_if_missing = true', 'disabled = true', '',
    '[broken]', '; fails on purpose: there is no such source', 'source = missing.img', 'target = b.img', '',
    '[viloop]', 'source = a.img', 'target = loop://loop.img', '',
  ].join('\n'));
  const result = await runTasks(['--config', config, '--json'], { env: tasksEnv(s.path('state')) });
  t.is(result.code, 3, result.stderr);
  t.is(result.tasks.off.status, 'disabled');
  t.false(existsSync(s.path('off.img')), 'the disabled task did nothing');
  t.is(result.tasks.broken.status, 'failed');
  t.is(result.tasks.broken.error?.message, `Device ${s.path('missing.img')} is not found`);
  t.is(result.tasks.viloop.status, 'ok');
  t.true(readFileSync(s.path('loop.img')).equals(readFileSync(s.path('a.img'))), 'the loop-backed target equals the source, byte for byte');
  t.is(result.tasks.viloop.changedBytes, SIZE);
  t.is(result.tasks.viloop.writtenBytes, SIZE);
  t.deepEqual(Object.keys(result.tasks.viloop.phases), ['snapshot', 'sync', 'recheck', 'release']);
  t.regex(result.stderr, /^\[viloop\] ok: snapshot \d+\.\d\d s, sync \d+\.\d\d s, recheck \d+\.\d\d s, release \d+\.\d\d s; 2101248 bytes changed, 2101248 written, \d+ over the link$/m);
  t.regex(result.stderr, /^\[viloop\] Attached loop device \/dev\/loop\d+ \(backing file .*loop\.img\)$/m);
  t.regex(result.stderr, /^\[broken\] error: failed: Device .*missing\.img is not found/m);
  t.like(result.summary, { exitCode: 3, ok: 1, failed: 1, disabled: 1 });
  t.deepEqual(loopsUnder(s.dir), []);
});

rootTest('SIGTERM during a sync to a loop device: exit 4, the device is detached', async (t) => {
  const s = scratchFor(t);
  writeRandom(s.path('a.img'), SIZE);
  writeRandom(s.path('loop.img'), SIZE);
  const config = writeConfig(s.dir, '[viloop]\nsource = loop://a.img\ntarget = loop://loop.img\n');
  const result = await runTasks(['--config', config, '--json', '--log-level', 'debug'], {
    env: tasksEnv(s.path('state')), interrupt: { when: 'running: basyn', signal: 'SIGTERM', delayMs: 300 },
  });
  t.is(result.code, 4, result.stderr);
  t.is(result.tasks.viloop.status, 'interrupted');
  t.is((result.stderr.match(/Detached loop device/g) ?? []).length, 2, result.stderr);
  t.deepEqual(loopsUnder(s.dir), []);
});

rootTest('a SIGKILLed run leaves its loop device attached; the next run finds it by its backing file, detaches it with a message, and syncs', async (t) => {
  const s = scratchFor(t);
  writeRandom(s.path('a.img'), SIZE);
  writeRandom(s.path('loop.img'), SIZE);
  const config = writeConfig(s.dir, '[viloop]\nsource = a.img\ntarget = loop://loop.img\n');
  const env = tasksEnv(s.path('state'));
  const killed = await runTasks(['--config', config, '--log-level', 'debug'], { env, interrupt: { when: 'running: basyn', signal: 'SIGKILL' } });
  t.is(killed.signal, 'SIGKILL');
  const left = loopsUnder(s.dir);
  t.is(left.length, 1, 'the killed run left its loop device');
  const device = left[0].slice(0, left[0].indexOf(':'));
  // The killed run's child sync may still be finishing; the rerun must not mind.
  const rerun = await runTasks(['--config', config, '--json'], { env });
  t.is(rerun.code, 0, rerun.stderr);
  t.regex(rerun.stderr, new RegExp(`Detached ${device} \\(backing file .*loop\\.img\\): left attached by an earlier basyn run \\(pid \\d+\\) that did not end`));
  t.true(readFileSync(s.path('loop.img')).equals(readFileSync(s.path('a.img'))));
  t.deepEqual(loopsUnder(s.dir), []);
});

test('loop:// of a missing file: the task fails with the reason, nothing is attached', async (t) => {
  const s = tempDir('basyn-tasks-loop-');
  t.teardown(() => s.cleanup());
  writeFileSync(s.path('a.img'), Buffer.alloc(4096, 1));
  const config = writeConfig(s.dir, '[viloop]\nsource = a.img\ntarget = loop://nothere.img\n');
  const result = await runTasks(['--config', config, '--json'], { env: tasksEnv(s.path('state')) });
  t.is(result.code, 3, result.stderr);
  t.is(result.tasks.viloop.error?.message, `loop://${s.path('nothere.img')}: file ${s.path('nothere.img')}: no such file or device`);
});

// iscsi:// endpoints in `basyn tasks` (resources/index.ts lists the scheme), against the recording fake
// iscsiadm first on PATH (helpers/fake-iscsiadm.cjs: real loop devices, by-path links in a temp folder,
// failures on cue; root, skipped elsewhere with the reason). After every run: both sides compared byte
// for byte, and no session, loop device, link, record or node record left behind.
import test, { type ExecutionContext } from 'ava';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { assertSameBytes } from './helpers/faults';
import { FakeIscsi, fakeIscsiUnavailable, IQN, loopsOf, PORTAL } from './helpers/fake-iscsi';
import { sha256File, tempDir, writeRandom, writeSparse } from './helpers/images';
import { runTasks, tasksEnv, writeConfig } from './helpers/tasks';

const SKIP = fakeIscsiUnavailable();
const scratch = tempDir('basyn-iscsi-tasks-');
test.after.always(() => scratch.cleanup());
const SIZE = 2 * 1024 * 1024 + 4096;
const URL = `iscsi://${PORTAL}/${IQN}`;

let cases = 0;
function setUp(t: ExecutionContext, lun: (path: string) => void) {
  const dir = scratch.path(`case-${cases++}`);
  mkdirSync(dir);
  const image = join(dir, 'lun0.img');
  lun(image);
  const fake = new FakeIscsi(t, dir, { [IQN]: { luns: { 0: image } } });
  return { dir, image, fake, env: tasksEnv(join(dir, 'state'), fake.env), path: (name: string) => join(dir, name) };
}

function assertNothingLeft(t: ExecutionContext, fake: FakeIscsi, lun: string): void {
  t.deepEqual(fake.sessions(), [], 'no session left logged in');
  t.deepEqual(loopsOf(lun), [], 'no loop device left attached');
  t.deepEqual(fake.links(), [], 'no by-path link left');
  t.deepEqual(fake.records(), [], 'no session record left');
  t.deepEqual(Object.keys(fake.nodes()), [], 'no node record left');
}

function fakeTest(title: string, body: (t: ExecutionContext) => Promise<void>): void {
  if (SKIP) test.skip(`${title} (skipped: ${SKIP})`, () => undefined);
  else test(title, body);
}

fakeTest('tasks: from the LUN, into the LUN, and a wrong IQN (failed, one line); exit 3, logged out after each', async (t) => {
  const { fake, image, env, path, dir } = setUp(t, (lun) => writeRandom(lun, SIZE));
  writeRandom(path('a.img'), SIZE);
  const lunBefore = await sha256File(image);
  const config = writeConfig(dir, [
    '[from-san]', `source = ${URL}`, 'target = copy.img', 'create_target_if_missing = true', '',
    '[typo]', `source = iscsi://${PORTAL}/iqn.2026-11.test.basyn:typo`, 'target = copy.img', '',
    '[to-san]', 'source = a.img', `target = ${URL}`, '',
  ].join('\n'));
  const result = await runTasks(['--config', config, '--json'], { env });
  t.is(result.code, 3, result.stderr);
  t.is(result.tasks['from-san'].status, 'ok', result.stderr);
  t.is(await sha256File(path('copy.img')), lunBefore, 'the copy holds what the LUN held');
  t.is(result.tasks.typo.status, 'failed');
  t.is(result.tasks.typo.error?.message, `iSCSI portal ${PORTAL} does not offer target iqn.2026-11.test.basyn:typo (it offers: ${IQN})`);
  t.is(result.tasks['to-san'].status, 'ok', result.stderr);
  assertNothingLeft(t, fake, image);
  assertSameBytes(t, path('a.img'), image, undefined, 'the LUN holds a.img');
  t.is(fake.commands().filter((command) => command.endsWith('--login')).length, 2);
  t.is(fake.commands().filter((command) => command.endsWith('--logout')).length, 2);
});

fakeTest('tasks: SIGTERM during a sync from the LUN: exit 4, interrupted, logged out', async (t) => {
  // An 8 GiB sparse LUN: hashing it keeps the sync busy well past the signal.
  const { fake, image, env, dir } = setUp(t, (lun) => writeSparse(lun, 8 * 1024 ** 3, [{ offset: 4096, data: Buffer.from('data') }]));
  const config = writeConfig(dir, ['[from-san]', `source = ${URL}`, 'target = copy.img', 'create_target_if_missing = true', ''].join('\n'));
  const result = await runTasks(['--config', config, '--json', '--log-level', 'debug'], {
    env, interrupt: { when: 'running: basyn', signal: 'SIGTERM', delayMs: 300 },
  });
  t.is(result.code, 4, result.stderr);
  t.is(result.tasks['from-san'].status, 'interrupted');
  t.is(fake.commands().filter((command) => command.endsWith('--logout')).length, 1);
  assertNothingLeft(t, fake, image);
});

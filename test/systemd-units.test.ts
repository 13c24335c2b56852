// contrib/systemd: `systemd-analyze verify` accepts the units (as instance `db`; any warning fails too),
// where systemd-analyze is present, and the service's ExecStart is a `basyn tasks` command line that
// runs the instance's task and writes its JSON object for the journal.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, writeRandom } from './helpers/images';
import { runTasks, tasksEnv, writeConfig } from './helpers/tasks';

const UNITS = join(__dirname, '..', 'contrib', 'systemd');
const SERVICE = 'basyn-tasks@.service';
const TIMER = 'basyn-tasks@.timer';
const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const NO_SYSTEMD = analyze.status === 0 ? undefined : 'systemd-analyze is not installed here';

(NO_SYSTEMD ? test.skip : test)(`systemd-analyze verify accepts ${SERVICE} and ${TIMER}, without a warning${NO_SYSTEMD ? ` (skipped: ${NO_SYSTEMD})` : ''}`, (t) => {
  const scratch = tempDir('basyn-units-');
  t.teardown(() => scratch.cleanup());
  for (const unit of [SERVICE, TIMER]) copyFileSync(join(UNITS, unit), scratch.path(unit));
  const result = spawnSync('systemd-analyze', ['verify', '--man=no', scratch.path('basyn-tasks@db.service'), scratch.path('basyn-tasks@db.timer')], { encoding: 'utf8' });
  t.is(result.status, 0, result.stderr);
  t.is(`${result.stdout}${result.stderr}`, '', 'no warning either');
});

test("the service's ExecStart runs the instance's task of the config, with its JSON object on stdout", async (t) => {
  const unit = readFileSync(join(UNITS, SERVICE), 'utf8');
  const exec = /^ExecStart=\/usr\/bin\/env basyn (.*)$/m.exec(unit)?.[1];
  if (!exec) return t.fail('ExecStart=/usr/bin/env basyn ... not found');
  const scratch = tempDir('basyn-units-');
  t.teardown(() => scratch.cleanup());
  writeRandom(scratch.path('a.img'), 65536);
  writeRandom(scratch.path('b.img'), 65536);
  const config = writeConfig(scratch.dir, '[db]\nsource = a.img\ntarget = b.img\n[web]\nsource = a.img\ntarget = missing-dir/b.img\n');
  const args = exec.replace('/etc/basyn/tasks.conf', config).replace('%i', 'db').split(' ');
  t.is(args[0], 'tasks');
  const result = await runTasks(args.slice(1), { env: tasksEnv(scratch.path('state')) });
  t.is(result.code, 0, result.stderr);
  t.deepEqual(Object.keys(result.tasks), ['db'], 'only the instance task ran');
  t.is(result.tasks.db.status, 'ok');
  t.true(readFileSync(scratch.path('b.img')).equals(readFileSync(scratch.path('a.img'))));
});

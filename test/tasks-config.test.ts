// The tasks config (src/local/tasks/config.ts): [DEFAULT] inheritance, and every bad key reported with
// FILE:LINE and the key before anything runs; `basyn tasks` exit codes for config and usage errors,
// and the task lock ("already running (pid N)" counts as failed).
import test from 'ava';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type Task } from '../src/local/tasks/config';
import { processStartTime } from '../src/local/lock-file';
import { HASH_NAMES } from '../src/shared/hash';
import { tempDir, writeRandom } from './helpers/images';
import { runTasks, tasksEnv, writeConfig } from './helpers/tasks';

const FILE = '/etc/basyn/tasks.conf';

function parse(text: string): Task[] {
  return parseConfig(FILE, text);
}

test('[DEFAULT] is inherited by every task and overridden by the task; paths are relative to the config folder', (t) => {
  const [db, web] = parse('[DEFAULT]\nmode = COPY\nrecheck = yes\nzlevel = 1\n\n[db]\nsource = /dev/vg0/db\ntarget = backup:/dev/vg1/db\nmode = SYNC\nbitmap = db.bitmap\n\n[web]\nsource = loop://web.img\ntarget = copies/web.img\ndisabled = true\n');
  t.is(db.mode, 'SYNC');
  t.is(web.mode, 'COPY');
  t.true(db.recheck && web.recheck);
  t.deepEqual(db.syncOptions, ['--zlevel', '1']);
  t.is(db.bitmap, '/etc/basyn/db.bitmap');
  t.is(db.target, 'backup:/dev/vg1/db');
  t.is(web.source, 'loop:///etc/basyn/web.img');
  t.is(web.target, '/etc/basyn/copies/web.img');
  t.true(web.disabled);
  t.false(db.disabled);
});

const BAD: ReadonlyArray<readonly [string, string, RegExp]> = [
  ['an unknown key', '[db]\nsource = /a\ntarget = /b\nbandwidth = 10M\n', /^\/etc\/basyn\/tasks\.conf:4: unknown key 'bandwidth' \(known: source, target, /],
  ['an unknown key in [DEFAULT]', '[DEFAULT]\nrechek = true\n[db]\nsource = /a\ntarget = /b\n', /^\/etc\/basyn\/tasks\.conf:2: unknown key 'rechek'/],
  ['a bad boolean', '[db]\nsource = /a\ntarget = /b\nrecheck = maybe\n', /^\/etc\/basyn\/tasks\.conf:4: key 'recheck': expected true or false, got 'maybe'$/],
  ['zlevel out of range (options.ts says so)', '[db]\nsource = /a\ntarget = /b\n\nzlevel = 10\n', /^\/etc\/basyn\/tasks\.conf:5: key 'zlevel': --zlevel must be between 0 and 9, got 10$/],
  ['a bad size', '[db]\nsource = /a\ntarget = /b\nbwlimit = 10 mb\n', /^\/etc\/basyn\/tasks\.conf:4: key 'bwlimit': --bwlimit expects a size/],
  ['a bad snapshot size', '[DEFAULT]\nlvm_snapshot_size = lots\n[db]\nsource = lvm+snapshot://vg/db\ntarget = /b\n', /^\/etc\/basyn\/tasks\.conf:2: key 'lvm_snapshot_size': lvm_snapshot_size expects a size/],
  ['a bad mode', '[db]\nsource = /a\ntarget = /b\nmode = FAST\n', /^\/etc\/basyn\/tasks\.conf:4: key 'mode': Unknown mode - 'FAST'/],
  ['a bitmap with COPY', '[db]\nsource = /a\ntarget = /b\nmode = COPY\nbitmap = /x\n', /^\/etc\/basyn\/tasks\.conf:5: key 'bitmap': --bitmap can be used with --mode==SYNC only$/],
  ['an LVM snapshot as the target', '[db]\nsource = /a\ntarget = lvm+snapshot://vg/db\n', /^\/etc\/basyn\/tasks\.conf:3: key 'target': lvm\+snapshot:\/\/vg\/db: an LVM snapshot can only be a SOURCE/],
  ['a bad LVM endpoint', '[db]\nsource = lvm+snapshot://vg\ntarget = /b\n', /^\/etc\/basyn\/tasks\.conf:2: key 'source': lvm\+snapshot:\/\/vg: expected lvm\+snapshot:\/\/VG\/LV/],
  ['loop:// without a file', '[db]\nsource = loop://\ntarget = /b\n', /^\/etc\/basyn\/tasks\.conf:2: key 'source': loop:\/\/: expected loop:\/\/FILE/],
  ['a task without a target', '\n[db]\nsource = /a\n', /^\/etc\/basyn\/tasks\.conf:2: \[db\] has no 'target'$/],
  ['a key outside any section', 'mode = SYNC\n[db]\n', /^\/etc\/basyn\/tasks\.conf:1: key 'mode' is outside any section/],
  ['a task name with a dot', '[db.main]\nsource = /a\ntarget = /b\n', /^\/etc\/basyn\/tasks\.conf:1: \[db\.main\]: a task name is/],
  ['a line that is not a key', '[db]\nsource /a\n', /^\/etc\/basyn\/tasks\.conf:2: expected \[task\] or key = value/],
  ['both sides remote', '[db]\nsource = a:/x\ntarget = b:/y\n', /^\/etc\/basyn\/tasks\.conf:1: \[db\]: source a:\/x and target b:\/y are both remote/],
  ['patch_dir that is not a folder', '[db]\nsource = /a\ntarget = /b\npatch_dir = /nonexistent/basyn-patches\n', /^\/etc\/basyn\/tasks\.conf:4: key 'patch_dir': \/nonexistent\/basyn-patches is not a directory$/],
  ['a bad task among good ones, disabled', '[ok]\nsource = /a\ntarget = /b\n[off]\ndisabled = true\nsource = /a\ntarget = /b\nchunk = x\n', /^\/etc\/basyn\/tasks\.conf:8: key 'chunk': /],
];

for (const [what, text, message] of BAD) {
  test(`config error: ${what}, with FILE:LINE and the key`, (t) => {
    const error = t.throws(() => parse(text));
    t.regex(error?.message ?? '', message);
    t.is((error as { exitCode?: number }).exitCode, 1);
  });
}

test('basyn tasks: a config error is exit 1 and no task runs; an unknown --task is exit 1; --jobs 0 is exit 1', async (t) => {
  const scratch = tempDir('basyn-tasks-config-');
  t.teardown(() => scratch.cleanup());
  writeRandom(scratch.path('a.img'), 64 * 1024);
  writeRandom(scratch.path('b.img'), 64 * 1024);
  const before = readFileSync(scratch.path('b.img'));
  const config = writeConfig(scratch.dir, '[first]\nsource = a.img\ntarget = b.img\n\n[second]\nsource = a.img\ntarget = b.img\nhash = CRC32\n');
  const env = tasksEnv(scratch.path('state'));
  const bad = await runTasks(['--config', config], { env });
  t.is(bad.code, 1);
  t.is(bad.stderr, `${config}:8: key 'hash': Unsupported hash function: CRC32 (one of ${HASH_NAMES.join(', ')})\n`);
  t.true(readFileSync(scratch.path('b.img')).equals(before), 'the first task did not run');

  writeConfig(scratch.dir, '[first]\nsource = a.img\ntarget = b.img\n');
  const unknown = await runTasks(['--config', config, '--task', 'first', '--task', 'frist'], { env });
  t.is(unknown.code, 1);
  t.is(unknown.stderr, `Unknown task 'frist': ${config} has first\n`);
  t.true(readFileSync(scratch.path('b.img')).equals(before), 'nothing ran');
  const jobs = await runTasks(['--config', config, '--jobs', '0'], { env });
  t.is(jobs.code, 1);
  t.regex(jobs.stderr, /^--jobs must be a whole number from 1 to 64, got '0'\n$/);
  const missing = await runTasks(['--config', scratch.path('nope.conf')], { env });
  t.is(missing.code, 1);
  t.is(missing.stderr, `Config file ${scratch.path('nope.conf')}: no such file or device\n`);
});

test('task lock: a task held by a live run is skipped with "already running (pid N)" and counts as failed (exit 3); the others run', async (t) => {
  const scratch = tempDir('basyn-tasks-lock-');
  t.teardown(() => scratch.cleanup());
  writeRandom(scratch.path('a.img'), 64 * 1024);
  writeRandom(scratch.path('b.img'), 64 * 1024);
  writeRandom(scratch.path('c.img'), 64 * 1024);
  const config = writeConfig(scratch.dir, '[db]\nsource = a.img\ntarget = b.img\n[web]\nsource = a.img\ntarget = c.img\n');
  const state = join(scratch.path('state'), 'basyn');
  mkdirSync(state, { recursive: true });
  // This test's own process holds db's lock, as a running `basyn tasks` would.
  writeFileSync(join(state, 'task-db.lock'), `${process.pid} ${hostname()} ${processStartTime(process.pid)}\n`);
  const result = await runTasks(['--config', config, '--json'], { env: tasksEnv(scratch.path('state')) });
  t.is(result.code, 3, result.stderr);
  t.is(result.tasks.db.status, 'skipped');
  t.is(result.tasks.db.error?.message, `already running (pid ${process.pid})`);
  t.regex(result.stderr, new RegExp(`^\\[db\\] error: skipped: already running \\(pid ${process.pid}\\)$`, 'm'));
  t.is(result.tasks.web.status, 'ok');
  t.true(readFileSync(scratch.path('c.img')).equals(readFileSync(scratch.path('a.img'))));
  t.false(readFileSync(scratch.path('b.img')).equals(readFileSync(scratch.path('a.img'))), 'db did not run');
  t.deepEqual(result.summary, { type: 'summary', exitCode: 3, ok: 1, failed: 0, skipped: 1, disabled: 0, interrupted: 0, notStarted: 0 } as never);
});

test('patch_dir: the task makes a patch (--diff), applies it with basyn patch, and removes it; the target equals the source', async (t) => {
  const scratch = tempDir('basyn-tasks-patch-');
  t.teardown(() => scratch.cleanup());
  writeRandom(scratch.path('a.img'), 256 * 1024);
  writeRandom(scratch.path('b.img'), 256 * 1024);
  mkdirSync(scratch.path('patches'));
  const config = writeConfig(scratch.dir, '[db]\nsource = a.img\ntarget = b.img\npatch_dir = patches\nrecheck = true\n');
  const result = await runTasks(['--config', config, '--json', '--log-level', 'debug'], { env: tasksEnv(scratch.path('state')) });
  t.is(result.code, 0, result.stderr);
  t.deepEqual(Object.keys(result.tasks.db.phases), ['snapshot', 'sync', 'apply', 'recheck', 'release']);
  t.regex(result.stderr, /running: basyn -l \S+a\.img -r \S+b\.img -a PUSH -m SYNC --diff \S+\/patches\/db-\d{8}T\d{6}-\d+\.patch --json/);
  t.regex(result.stderr, /running: basyn patch \S+\/patches\/db-\S+\.patch \S+b\.img/);
  t.true(readFileSync(scratch.path('b.img')).equals(readFileSync(scratch.path('a.img'))));
  t.deepEqual(readdirSync(scratch.path('patches')), [], 'the applied patch is removed');
  t.true((result.tasks.db as unknown as { patchBytes: number }).patchBytes > 256 * 1024, 'the patch holds the changed bytes');
});

test('SIGTERM during the first of two tasks: it ends as interrupted, the second never starts, exit 4', async (t) => {
  const scratch = tempDir('basyn-tasks-signal-');
  t.teardown(() => scratch.cleanup());
  for (const name of ['a.img', 'b.img', 'c.img']) writeRandom(scratch.path(name), 256 * 1024);
  const before = readFileSync(scratch.path('c.img'));
  const config = writeConfig(scratch.dir, '[first]\nsource = a.img\ntarget = b.img\n[second]\nsource = a.img\ntarget = c.img\n');
  const result = await runTasks(['--config', config, '--json', '--log-level', 'debug'], {
    env: tasksEnv(scratch.path('state')), interrupt: { when: 'running: basyn', signal: 'SIGTERM', delayMs: 200 },
  });
  t.is(result.code, 4, result.stderr);
  t.is(result.tasks.first.status, 'interrupted');
  t.is(result.tasks.first.error?.message, 'Interrupted by SIGTERM');
  t.false('second' in result.tasks);
  t.like(result.summary, { exitCode: 4, interrupted: 1, notStarted: 1 });
  t.true(readFileSync(scratch.path('c.img')).equals(before), 'the second task did not run');
});

/** Pids of processes whose command line mentions `text` (the runs of one test's scratch folder). */
function processesMentioning(text: string): number[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
    } catch {
      return false;
    }
  }).map(Number);
}

test('basyn tasks killed by SIGKILL: its running sync stops too (no orphan keeps the locks); the next run syncs', async (t) => {
  const scratch = tempDir('basyn-tasks-kill9-');
  t.teardown(() => scratch.cleanup());
  writeRandom(scratch.path('a.img'), 256 * 1024);
  writeRandom(scratch.path('b.img'), 256 * 1024);
  // About 4 s at this rate: the kill lands in the middle of the sync.
  const config = writeConfig(scratch.dir, '[db]\nsource = a.img\ntarget = b.img\nbwlimit = 64K\nbitmap = db.bitmap\n');
  const env = tasksEnv(scratch.path('state'));
  const killed = await runTasks(['--config', config, '--log-level', 'debug'], { env, interrupt: { when: 'running: basyn', signal: 'SIGKILL', delayMs: 500 } });
  t.is(killed.signal, 'SIGKILL');
  const deadline = Date.now() + 30_000;
  while (processesMentioning(scratch.dir).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  t.deepEqual(processesMentioning(scratch.dir), [], 'the sync started by the killed runner has stopped');
  t.false(readFileSync(scratch.path('b.img')).equals(readFileSync(scratch.path('a.img'))), 'it stopped before the end');
  const rerun = await runTasks(['--config', config, '--json'], { env: { ...env } });
  t.is(rerun.code, 0, rerun.stderr);
  t.true(readFileSync(scratch.path('b.img')).equals(readFileSync(scratch.path('a.img'))));
});

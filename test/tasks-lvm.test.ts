// lvm+snapshot:// in `basyn tasks`, against the recording fake `lvm` first on PATH (no device-mapper
// here): the snapshot is made, synced from and removed on every path (success, a failed sync, SIGINT,
// SIGTERM and SIGHUP during the sync, a signal while lvcreate runs, a failing lvremove retried or given
// up), and what a killed run left is removed by the next run of its task, never anything else.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { FakeLvm } from './helpers/fake-lvm';
import { tempDir } from './helpers/images';
import { runTasks, tasksEnv, writeConfig, type TasksOptions, type TasksRun } from './helpers/tasks';

const SIZE = 1024 * 1024 + 4096;
const SNAPSHOT_NAME = /^basyn-([A-Za-z0-9_+-]+)-\d{8}T\d{6}-\d+$/;

interface Place {
  readonly lvm: FakeLvm;
  readonly origin: Buffer;
  readonly target: string;
  readonly config: string;
  readonly env: NodeJS.ProcessEnv;
  run(args?: string[], interrupt?: TasksOptions['interrupt']): Promise<TasksRun>;
}

/** A volume group vg0 with volume `data`, a target file, and a config of task `db` (plus `extra`). */
function place(t: ExecutionContext, extra = '', targetSize = SIZE): Place {
  const scratch = tempDir('basyn-tasks-lvm-');
  t.teardown(() => scratch.cleanup());
  const lvm = new FakeLvm(scratch.path('lvm'));
  const origin = randomBytes(SIZE);
  lvm.addVolume('vg0', 'data', origin);
  const target = scratch.path('target.img');
  writeFileSync(target, randomBytes(targetSize));
  const config = writeConfig(scratch.dir, `[db]\nsource = lvm+snapshot://vg0/data?size=64M\ntarget = target.img\n${extra}`);
  const env = tasksEnv(scratch.path('state'), { PATH: `${lvm.bin}:${process.env.PATH}` });
  return {
    lvm, origin, target, config, env,
    run: (args = [], interrupt) => runTasks(['--config', config, '--json', '--log-level', 'debug', ...args], { env, interrupt }),
  };
}

/** The snapshot names lvcreate was asked for, and the volumes lvremove was asked to remove. */
function snapshotCalls(lvm: FakeLvm): { created: string[]; removed: string[] } {
  const calls = lvm.calls();
  return {
    created: calls.filter((argv) => argv[0] === 'lvcreate').map((argv) => `vg0/${argv[argv.indexOf('--name') + 1]}`),
    removed: calls.filter((argv) => argv[0] === 'lvremove').map((argv) => argv[argv.length - 1]),
  };
}

/** Every snapshot this run created was removed, and only the origin is left. */
function assertReleased(t: ExecutionContext, p: Place, result: TasksRun): void {
  const { created, removed } = snapshotCalls(p.lvm);
  t.is(created.length, 1, result.stderr);
  t.regex(created[0].slice(4), SNAPSHOT_NAME);
  t.true(removed.includes(created[0]), `lvremove ${created[0]} was run: ${JSON.stringify(removed)}`);
  t.deepEqual(p.lvm.volumes('vg0'), ['data'], 'no snapshot is left');
}

test('a snapshot named basyn-<task>-<run id>, tagged basyn, is synced from and removed; the target equals the origin', async (t) => {
  const p = place(t);
  const result = await p.run();
  t.is(result.code, 0, result.stderr);
  t.is(result.tasks.db.status, 'ok');
  const create = p.lvm.calls().find((argv) => argv[0] === 'lvcreate') as string[];
  t.true(create.includes('--snapshot'));
  t.is(create[create.indexOf('--addtag') + 1], 'basyn');
  t.is(create[create.indexOf('--size') + 1], `${64 * 1024 * 1024}b`);
  t.is(create[create.length - 1], 'vg0/data');
  t.is(create[create.indexOf('--name') + 1], `basyn-db-${result.tasks.db.runId}`);
  assertReleased(t, p, result);
  t.regex(result.stderr, new RegExp(`running: basyn -l \\S+/vg/vg0/basyn-db-${result.tasks.db.runId} -r `), 'the sync read the snapshot, not the origin');
  t.true(readFileSync(p.target).equals(p.origin), 'the target is the origin, byte for byte');
  for (const phase of ['snapshot', 'sync', 'release']) t.is(typeof result.tasks.db.phases[phase], 'number', phase);
  t.is(result.tasks.db.changedBytes, SIZE);
});

test('a failed sync (target too small) still removes the snapshot; exit 3', async (t) => {
  const p = place(t, '', SIZE - 4096);
  const result = await p.run();
  t.is(result.code, 3, result.stderr);
  t.is(result.tasks.db.status, 'failed');
  t.regex(result.tasks.db.error?.message ?? '', /smaller than local/);
  assertReleased(t, p, result);
});

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  test(`${signal} during the sync: the run ends (exit 4) and the snapshot is removed`, async (t) => {
    const p = place(t);
    const result = await p.run([], { when: 'running: basyn', signal, delayMs: 300 });
    t.is(result.code, 4, result.stderr);
    t.is(result.tasks.db.status, 'interrupted');
    t.is(result.tasks.db.error?.code, 'EINTR');
    assertReleased(t, p, result);
  });
}

test('SIGTERM while lvcreate runs: the snapshot it makes is removed as soon as it exists; the sync never starts', async (t) => {
  const p = place(t);
  // The signal follows lvcreate's call (logged before its stall), and the stall is long: in a fresh CI run
  // at load, 400 ms after "starting:" came only after a 1.5 s lvcreate had ended and the sync had begun.
  p.lvm.stall('lvcreate', 6000);
  const result = await p.run([], { when: () => p.lvm.calls().some((argv) => argv[0] === 'lvcreate'), signal: 'SIGTERM', delayMs: 200 });
  t.is(result.code, 4, result.stderr);
  t.false(result.stderr.includes('running: basyn'), 'no sync was started');
  assertReleased(t, p, result);
});

test('Ctrl-C (SIGINT to the whole process group) while lvcreate runs: lvcreate is not cut short, its snapshot is removed', async (t) => {
  const p = place(t);
  // A long stall: in one fresh CI run the poll below fired only after a 1.5 s lvcreate had ended (load).
  p.lvm.stall('lvcreate', 6000);
  const result = await p.run([], { when: () => p.lvm.calls().some((argv) => argv[0] === 'lvcreate'), signal: 'SIGINT', delayMs: 200, group: true });
  t.is(result.code, 4, result.stderr);
  assertReleased(t, p, result);
});

test('lvremove failing twice is retried: removed at the third attempt, exit 0', async (t) => {
  const p = place(t);
  p.lvm.fail('lvremove', 2);
  const result = await p.run();
  t.is(result.code, 0, result.stderr);
  t.is(snapshotCalls(p.lvm).removed.length, 3);
  assertReleased(t, p, result);
});

test('lvremove failing every time: exit 3 naming the snapshot; the next run of the task removes that leftover, and nothing that is not its own', async (t) => {
  const p = place(t);
  p.lvm.fail('lvremove', 'always');
  const first = await p.run();
  t.is(first.code, 3, first.stderr);
  t.is(first.tasks.db.error?.code, 'ESNAPSHOTREMOVE');
  const leftover = `basyn-db-${first.tasks.db.runId}`;
  t.regex(first.tasks.db.error?.message ?? '', new RegExp(`Could not remove snapshot vg0/${leftover} after 5 attempts: .*failed on cue`));
  t.deepEqual(p.lvm.volumes('vg0'), ['data', leftover].sort());
  // Not ours: another task's snapshot, one of our name but untagged, one of our name of another origin.
  p.lvm.addVolume('vg0', 'other', randomBytes(4096));
  const foreign = ['basyn-web-20260101T000000-1', 'basyn-db-20260101T000000-2', 'basyn-db-20260101T000000-3'];
  p.lvm.addSnapshot('vg0', foreign[0], 'data', ['basyn']);
  p.lvm.addSnapshot('vg0', foreign[1], 'data', ['admin']);
  p.lvm.addSnapshot('vg0', foreign[2], 'other', ['basyn']);
  p.lvm.clearCues();
  const second = await p.run();
  t.is(second.code, 0, second.stderr);
  t.regex(second.stderr, new RegExp(`Removed snapshot vg0/${leftover} left by an earlier run of this task that did not end`));
  t.deepEqual(p.lvm.volumes('vg0'), ['data', 'other', ...foreign].sort());
});

test('SIGKILL during the sync leaves the snapshot; the next run of the task (its lock now free) removes it', async (t) => {
  const p = place(t);
  const killed = await p.run([], { when: 'running: basyn', signal: 'SIGKILL', delayMs: 100 });
  t.is(killed.signal, 'SIGKILL');
  const left = p.lvm.volumes('vg0').filter((name) => name !== 'data');
  t.is(left.length, 1, 'the killed run left its snapshot');
  const rerun = await p.run();
  t.is(rerun.code, 0, rerun.stderr);
  t.regex(rerun.stderr, /an earlier run \(pid \d+\) did not end/);
  t.regex(rerun.stderr, new RegExp(`Removed snapshot vg0/${left[0]} left by an earlier run`));
  t.deepEqual(p.lvm.volumes('vg0'), ['data']);
  t.true(readFileSync(p.target).equals(p.origin));
});

test('lvcreate failing: the task fails (exit 3) before any sync, nothing is left', async (t) => {
  const p = place(t);
  p.lvm.fail('lvcreate', 'always');
  const result = await p.run();
  t.is(result.code, 3, result.stderr);
  t.is(result.tasks.db.error?.code, 'ESNAPSHOT');
  t.regex(result.tasks.db.error?.message ?? '', /^Could not create snapshot vg0\/basyn-db-\S+ of vg0\/data: .*failed on cue/);
  t.false(result.stderr.includes('running: basyn'));
  t.deepEqual(p.lvm.volumes('vg0'), ['data']);
});

test('--jobs 2: two tasks snapshot one volume at once; each removes its own snapshot only', async (t) => {
  const p = place(t, `\n[web]\nsource = lvm+snapshot://vg0/data\ntarget = target2.img\ncreate_target_if_missing = true\nlvm_program_path = LVM\n`);
  writeFileSync(p.config, readFileSync(p.config, 'utf8').replace('LVM', p.lvm.program));
  p.lvm.stall('lvcreate', 500);
  const result = await p.run(['--jobs', '2']);
  t.is(result.code, 0, result.stderr);
  const { created, removed } = snapshotCalls(p.lvm);
  t.deepEqual(created.map((name) => SNAPSHOT_NAME.exec(name.slice(4))?.[1]).sort(), ['db', 'web']);
  t.deepEqual([...removed].sort(), [...created].sort(), 'each snapshot removed once, by its own task');
  t.deepEqual(p.lvm.volumes('vg0'), ['data']);
  const web = p.lvm.calls().find((argv) => argv[0] === 'lvcreate' && argv.includes('--extents'));
  t.truthy(web, 'without a size, lvcreate gets --extents 10%ORIGIN');
  t.true(readFileSync(p.target.replace('target.img', 'target2.img')).equals(p.origin));
});

// A resource endpoint (SCHEME://, src/local/resource.ts) through the whole CLI, in-process: acquired
// before the agents start, its path synced, released after the run whatever ended it (a good run, a
// failed sync, a failed acquire), each exactly once.
import test from 'ava';
import { main } from '../src/local/cli';
import { registerResourceScheme } from '../src/local/resource';
import { InProcessTransport } from '../src/local/transport/in-process';
import { patch, sha256File, tempDir, writeRandom, writeSparse } from './helpers/images';

const scratch = tempDir('basyn-endpoints-resource-');
process.env.XDG_STATE_HOME = scratch.path('state'); // resume checkpoints of these runs stay in the scratch folder
test.after.always(() => scratch.cleanup());
const log: string[] = [];

// test+file://NAME stands for the file NAME in the scratch folder; test+broken:// cannot be acquired.
registerResourceScheme('test+file', (rest, context) => ({
  description: `test file ${rest}`,
  acquire: async () => { log.push(`acquire ${context.side} ${rest}`); return scratch.path(rest); },
  release: async () => { log.push(`release ${context.side} ${rest}`); },
}));
registerResourceScheme('test+broken', (rest) => ({
  description: `broken ${rest}`,
  acquire: async () => { log.push(`acquire broken ${rest}`); throw new Error('the snapshot could not be made'); },
  release: async () => { log.push(`release broken ${rest}`); },
}));

async function run(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const io = { stdout: () => undefined, stderr: (text: string) => { stderr += text; } };
  const code = await main(args, { io, transports: () => new InProcessTransport() });
  return { code, stderr };
}

test.serial('a resource SOURCE and a resource TARGET: acquired, synced, released last first', async (t) => {
  log.length = 0;
  writeRandom(scratch.path('a.img'), 1024 * 1024);
  writeRandom(scratch.path('b.img'), 1024 * 1024);
  const result = await run(['test+file://a.img', 'test+file://b.img']);
  t.is(result.code, 0, result.stderr);
  t.is(await sha256File(scratch.path('b.img')), await sha256File(scratch.path('a.img')));
  t.deepEqual(log, ['acquire source a.img', 'acquire target b.img', 'release target b.img', 'release source a.img']);
});

test.serial('a failed sync still releases the resource (exit 2, the sync\'s message)', async (t) => {
  log.length = 0;
  writeRandom(scratch.path('c.img'), 1024 * 1024);
  writeSparse(scratch.path('small.img'), 4096);
  const result = await run(['test+file://c.img', scratch.path('small.img')]);
  t.is(result.code, 2);
  t.regex(result.stderr, /is smaller than SOURCE test\+file:\/\/c\.img/);
  t.deepEqual(log, ['acquire source c.img', 'release source c.img']);
});

test.serial('a failed acquire: released, nothing synced, the body never ran', async (t) => {
  log.length = 0;
  writeRandom(scratch.path('d.img'), 1024 * 1024);
  writeRandom(scratch.path('e.img'), 1024 * 1024);
  patch(scratch.path('e.img'), 0, Buffer.alloc(10, 1));
  const before = await sha256File(scratch.path('e.img'));
  const result = await run(['test+broken://vg/lv', scratch.path('e.img')]);
  t.is(result.code, 2);
  t.regex(result.stderr, /the snapshot could not be made/);
  t.is(await sha256File(scratch.path('e.img')), before);
  t.deepEqual(log, ['acquire broken vg/lv', 'release broken vg/lv']);
});

// A source that is a new point in time on every run (an LVM snapshot) never resumes: a checkpoint of
// an interrupted run would mix two snapshots (issue 11). The rule sits in resume.ts.
registerResourceScheme('test+snapshot', (rest) => ({
  description: `test snapshot ${rest}`,
  newPointInTime: true,
  acquire: async () => scratch.path(rest),
  release: async () => undefined,
}));

test.serial('a new-point-in-time SOURCE (a snapshot) keeps no resume checkpoint, and says so', async (t) => {
  writeRandom(scratch.path('snap.img'), 1024 * 1024);
  writeRandom(scratch.path('snap-target.img'), 1024 * 1024);
  let stdout = '';
  const io = { stdout: (text: string) => { stdout += text; }, stderr: () => undefined };
  const code = await main(['--verbose', 'test+snapshot://snap.img', scratch.path('snap-target.img')], { io, transports: () => new InProcessTransport() });
  t.is(code, 0);
  t.is(await sha256File(scratch.path('snap-target.img')), await sha256File(scratch.path('snap.img')));
  t.regex(stdout, /No resume checkpoint: the source test\+snapshot:\/\/snap\.img is a new snapshot on every run/);
  // The plain-file run beside it does keep one (the rule is about the source, not the form).
  stdout = '';
  writeRandom(scratch.path('plain-target.img'), 1024 * 1024);
  t.is(await main(['--verbose', 'test+file://snap.img', scratch.path('plain-target.img')], { io, transports: () => new InProcessTransport() }), 0);
  t.notRegex(stdout, /No resume checkpoint/);
});

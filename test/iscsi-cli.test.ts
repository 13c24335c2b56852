// `basyn iscsi://PORTAL/IQN TARGET` and `basyn SOURCE iscsi://...` end to end: the built CLI against the
// recording fake iscsiadm first on PATH (helpers/fake-iscsiadm.cjs: real loop devices, by-path links in
// a temp folder, failures on cue). After every run: both sides compared byte for byte, and nothing
// basyn opened left behind (session, loop device, link, record, node record); a session basyn did not
// open left as it was. Signals at three phases: while logging in, while waiting for udev, while syncing.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { iscsiResource } from '../src/local/resources/iscsi';
import { BASYN, basyn, hasStackTrace, type RunResult } from './helpers/cli';
import { assertSameBytes } from './helpers/faults';
import { FakeIscsi, fakeIscsiUnavailable, IQN, loopsOf, PORTAL } from './helpers/fake-iscsi';
import { patch, sha256File, tempDir, writeRandom, writeSparse } from './helpers/images';

const SKIP = fakeIscsiUnavailable();
const scratch = tempDir('basyn-iscsi-cli-');
test.after.always(() => scratch.cleanup());
const SIZE = 2 * 1024 * 1024 + 4096;
const URL = `iscsi://${PORTAL}/${IQN}`;

let cases = 0;
function setUp(t: ExecutionContext, options: { lunSize?: number; sparse?: boolean; chap?: { username: string; password: string }; env?: NodeJS.ProcessEnv } = {}) {
  const dir = scratch.path(`case-${cases++}`);
  mkdirSync(dir);
  const lun = join(dir, 'lun0.img');
  if (options.sparse) writeSparse(lun, options.lunSize ?? SIZE, [{ offset: 12345, data: Buffer.from('not all zeros') }]);
  else writeRandom(lun, options.lunSize ?? SIZE);
  const fake = new FakeIscsi(t, dir, { [IQN]: { luns: { 0: lun }, ...(options.chap ? { chap: options.chap } : {}) } }, options.env);
  const run = (args: string[]) => basyn(args, { env: fake.env, timeoutMs: 300_000 });
  return { dir, lun, fake, run, path: (name: string) => join(dir, name) };
}

function assertNothingLeft(t: ExecutionContext, fake: FakeIscsi, lun: string): void {
  t.deepEqual(fake.sessions(), [], 'no session left logged in');
  t.deepEqual(loopsOf(lun), [], 'no loop device left attached');
  t.deepEqual(fake.links(), [], 'no by-path link left');
  t.deepEqual(fake.records(), [], 'no session record left');
  t.deepEqual(Object.keys(fake.nodes()), [], 'no node record left');
}

function assertOk(t: ExecutionContext, result: RunResult): void {
  t.is(result.code, 0, `exit 0; stderr: ${result.stderr}`);
}

const logins = (fake: FakeIscsi) => fake.commands().filter((command) => command.endsWith('--login'));
const logouts = (fake: FakeIscsi) => fake.commands().filter((command) => command.endsWith('--logout'));

function fakeTest(title: string, body: (t: ExecutionContext) => Promise<void>): void {
  if (SKIP) test.skip(`${title} (skipped: ${SKIP})`, () => undefined);
  else test(title, body);
}

fakeTest('iSCSI SOURCE: the LUN synced into a new image, then again after a change; logged out each time', async (t) => {
  const { fake, lun, run, path } = setUp(t);
  assertOk(t, await run([URL, path('copy.img')]));
  assertSameBytes(t, lun, path('copy.img'));
  assertNothingLeft(t, fake, lun);
  patch(lun, 1_000_000, Buffer.from('changed on the SAN'));
  assertOk(t, await run([URL, path('copy.img')]));
  assertSameBytes(t, lun, path('copy.img'));
  t.is(logins(fake).length, 2);
  t.is(logouts(fake).length, 2);
  assertNothingLeft(t, fake, lun);
});

fakeTest('iSCSI TARGET: an image synced into the LUN; logged out', async (t) => {
  const { fake, lun, run, path } = setUp(t);
  writeRandom(path('source.img'), SIZE);
  assertOk(t, await run([path('source.img'), URL]));
  assertNothingLeft(t, fake, lun);
  assertSameBytes(t, path('source.img'), lun, undefined, 'the LUN holds the source');
});

fakeTest('a failing sync (TARGET smaller than the SOURCE) still logs out: exit 2, nothing written', async (t) => {
  const { fake, lun, run, path } = setUp(t);
  writeRandom(path('big.img'), SIZE * 2);
  const before = await sha256File(lun);
  const result = await run([path('big.img'), URL]);
  t.is(result.code, 2, result.stderr);
  t.false(hasStackTrace(result.stderr));
  t.is(logouts(fake).length, 1);
  assertNothingLeft(t, fake, lun);
  t.is(await sha256File(lun), before, 'the LUN is unchanged');
});

fakeTest('a target already logged in (not by basyn) is used and left logged in', async (t) => {
  const { fake, lun, run, path } = setUp(t);
  fake.adminLogin();
  const before = fake.sessions();
  assertOk(t, await run([URL, path('copy.img')]));
  assertSameBytes(t, lun, path('copy.img'));
  t.deepEqual(logins(fake).length, 1, 'only the administrator\'s login');
  t.deepEqual(logouts(fake), [], 'no logout');
  t.deepEqual(fake.sessions(), before);
});

fakeTest('a run sharing a session another run holds neither logs in nor logs out', async (t) => {
  const { fake, lun, run, path } = setUp(t);
  const holder = iscsiResource(`${PORTAL}/${IQN}`, 'source', { env: fake.env });
  await holder.acquire(new AbortController().signal);
  t.is(logins(fake).length, 1);
  assertOk(t, await run([URL, path('copy.img')]));
  assertSameBytes(t, lun, path('copy.img'));
  t.is(logins(fake).length, 1, 'no second login');
  t.deepEqual(logouts(fake), [], 'the other holder\'s session stays');
  t.is(fake.sessions().length, 1);
  await holder.release();
  assertNothingLeft(t, fake, lun);
});

fakeTest('CHAP from a 0600 file: the secret is never on basyn\'s command line, only in iscsiadm\'s node update', async (t) => {
  const chap = { username: 'backup', password: 'Chap-secret-4242' };
  const { fake, lun, run, path } = setUp(t, { chap });
  writeFileSync(path('san.chap'), `username = ${chap.username}\npassword = ${chap.password}\n`, { mode: 0o600 });
  assertOk(t, await run([`${URL}?chap=${path('san.chap')}`, path('copy.img')]));
  assertSameBytes(t, lun, path('copy.img'));
  const calls = fake.calls();
  t.true(calls.length > 0 && calls.every((call) => call.parent.some((word) => word.startsWith('iscsi://'))), 'the callers were basyn runs');
  t.deepEqual(calls.filter((call) => call.parent.join(' ').includes(chap.password)), [], 'not on basyn\'s command line');
  t.deepEqual(calls.filter((call) => call.argv.includes(chap.password)).map((call) => call.argv.join(' ')),
    [`-m node -T ${IQN} -p ${PORTAL} -o update -n node.session.auth.password -v ${chap.password}`]);
  assertNothingLeft(t, fake, lun);
});

/** Runs basyn and sends `signal` once `ready` says so (polled); resolves with how it ended. */
function signalledRun(fake: FakeIscsi, args: string[], signal: NodeJS.Signals, ready: (stdout: string) => boolean): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BASYN, ...args], { env: fake.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
    child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
    const poll = setInterval(() => {
      if (ready(stdout)) {
        clearInterval(poll);
        child.kill(signal);
      }
    }, 50);
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`no exit; stderr: ${stderr}`)); }, 300_000);
    child.once('close', (code, exitSignal) => {
      clearInterval(poll);
      clearTimeout(timer);
      resolve({ code, signal: exitSignal, stdout, stderr });
    });
  });
}

function assertInterrupted(t: ExecutionContext, result: RunResult, signal: NodeJS.Signals): void {
  t.is(result.code, 2, `exit 2; stderr: ${result.stderr}`);
  const lines = result.stderr.split('\n').filter(Boolean);
  t.is(lines.length, 1, `one line: ${result.stderr}`);
  t.regex(lines[0] ?? '', signal === 'SIGINT' ? /^Interrupted by user/ : new RegExp(`^Interrupted by ${signal}`));
}

fakeTest('SIGHUP during the login: the login ends, then the logout; exit 2', async (t) => {
  const { fake, lun, path } = setUp(t);
  fake.cue({ loginDelayMs: 3000 });
  const result = await signalledRun(fake, [URL, path('copy.img')], 'SIGHUP', () => logins(fake).length > 0);
  assertInterrupted(t, result, 'SIGHUP');
  t.is(logouts(fake).length, 1);
  assertNothingLeft(t, fake, lun);
});

fakeTest('SIGINT while waiting for udev: exit 2 at once, logged out', async (t) => {
  const { fake, lun, path } = setUp(t, { env: { BASYN_ISCSI_DEVICE_WAIT: '600' } });
  fake.cue({ noLun: true });
  const result = await signalledRun(fake, [URL, path('copy.img')], 'SIGINT', () => fake.sessions().length > 0);
  assertInterrupted(t, result, 'SIGINT');
  t.is(logouts(fake).length, 1);
  assertNothingLeft(t, fake, lun);
});

fakeTest('SIGTERM during the sync: exit 2, logged out', async (t) => {
  // An 8 GiB sparse LUN: hashing it keeps the sync busy well past the signal.
  const { fake, lun, path } = setUp(t, { lunSize: 8 * 1024 ** 3, sparse: true });
  const result = await signalledRun(fake, ['--verbose', URL, path('copy.img')], 'SIGTERM', (stdout) => stdout.includes('agents are on-line'));
  assertInterrupted(t, result, 'SIGTERM');
  t.is(logouts(fake).length, 1);
  assertNothingLeft(t, fake, lun);
});

// The errors (missing iscsiadm, portal, IQN, LUN, login, logout, CHAP file) are run through the CLI in
// test/errors-doc.test.ts, one invocation per row of docs/errors.md; test/iscsi-resource.test.ts checks
// for each that nothing is left behind.

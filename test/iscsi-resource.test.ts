// The iscsi:// resource (src/local/resources/iscsi.ts) through its acquire()/release() contract and
// withResources(), against the recording fake iscsiadm (helpers/fake-iscsiadm.cjs) first on PATH: it
// "logs in" by attaching a real loop device over a small image and making the by-path link, and fails
// on cue. Every path must end with nothing logged in that basyn opened, no loop device left, no link,
// no record, and a session basyn did not open left exactly as it was.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEndpoint } from '../src/local/endpoint';
import '../src/local/resources/register';
import { withResources } from '../src/local/resource';
import { iscsiResource, type IscsiResource } from '../src/local/resources/iscsi';
import { parseIscsiSpec, byPathName } from '../src/local/resources/iscsi-spec';
import { BasynError, EXIT_SYNC, EXIT_USAGE } from '../src/shared/errors';
import { waitFor } from './helpers/faults';
import { FakeIscsi, fakeIscsiUnavailable, IQN, loopsOf, PORTAL } from './helpers/fake-iscsi';
import { sha256File, tempDir, writeRandom } from './helpers/images';

const scratch = tempDir('basyn-iscsi-');
test.after.always(() => scratch.cleanup());
const SKIP = fakeIscsiUnavailable();
const SIZE = 1024 * 1024 + 4096;
const URL_REST = `${PORTAL}/${IQN}`;

let cases = 0;
/** A fresh fake with one target whose LUN 0 is a random 1 MiB image. */
function setUp(t: ExecutionContext, extra: { chap?: { username: string; password: string }; env?: NodeJS.ProcessEnv } = {}) {
  const dir = scratch.path(`case-${cases++}`);
  mkdirSync(dir);
  const image = join(dir, 'lun0.img');
  writeRandom(image, SIZE);
  const fake = new FakeIscsi(t, dir, { [IQN]: { luns: { 0: image }, ...(extra.chap ? { chap: extra.chap } : {}) } }, extra.env);
  const resource = (query = '') => iscsiResource(`${URL_REST}${query}`, 'source', { env: fake.env });
  return { dir, image, fake, resource };
}

/** Nothing basyn opened is left: no session, no loop device over the image, no link, no record, no node. */
function assertNothingLeft(t: ExecutionContext, fake: FakeIscsi, image: string): void {
  t.deepEqual(fake.sessions(), [], 'no session left logged in');
  t.deepEqual(loopsOf(image), [], 'no loop device left attached');
  t.deepEqual(fake.links(), [], 'no by-path link left');
  t.deepEqual(fake.records(), [], 'no session record left');
  t.deepEqual(Object.keys(fake.nodes()), [], 'no node record left (it may hold CHAP secrets)');
}

const logins = (fake: FakeIscsi) => fake.commands().filter((command) => command.endsWith('--login'));
const logouts = (fake: FakeIscsi) => fake.commands().filter((command) => command.endsWith('--logout'));
const live = () => new AbortController().signal;

async function expectError(t: ExecutionContext, promise: Promise<unknown>, exitCode: number, message: RegExp): Promise<BasynError> {
  const error = await t.throwsAsync(promise) as BasynError;
  t.true(error instanceof BasynError, `a BasynError, got ${String(error)}`);
  t.is(error.exitCode, exitCode);
  t.regex(error.message, message);
  t.false(error.message.includes('\n'), 'one line');
  return error;
}

// ---------------------------------------------------------------------------------------------
// Spelling (pure)

test('iscsi:// spellings: portal, [v6], port, IQN forms, lun, chap', (t) => {
  t.like(parseIscsiSpec('10.0.0.10/iqn.1986-03.com.sun:02:f939'), { host: '10.0.0.10', port: 3260, iqn: 'iqn.1986-03.com.sun:02:f939', lun: 0 });
  t.like(parseIscsiSpec('san.example.com:3261/iqn.2003-01.org.linux-iscsi.san:sn.1?lun=3'), { host: 'san.example.com', port: 3261, lun: 3 });
  t.like(parseIscsiSpec('[fe80::1]:3260/eui.0123456789ABCDEF'), { host: 'fe80::1', port: 3260, iqn: 'eui.0123456789ABCDEF' });
  t.like(parseIscsiSpec('10.0.0.1/naa.60014051234567890123456789abcdef?chap=%2Fetc%2Fbasyn%2Fchap&lun=1'), { chapFile: '/etc/basyn/chap', lun: 1 });
  t.like(parseIscsiSpec('h/iqn.2001-04.com.example?chap=/etc/basyn/chap'), { chapFile: '/etc/basyn/chap' });
  const endpoint = parseEndpoint(`iscsi://${URL_REST}`, 'target');
  t.is(endpoint.kind, 'resource', 'registered with the endpoint parser');
  t.is(endpoint.kind === 'resource' ? endpoint.scheme : '', 'iscsi');
  t.is(iscsiResource(URL_REST, 'source').description, 'iSCSI target iqn.2026-11.test.basyn:disk1 at 127.0.0.1:3260 (LUN 0)');
});

test('iscsi:// spellings refused with one line, exit 1', (t) => {
  const refused: Array<[string, RegExp]> = [
    ['10.0.0.10', /no target name/],
    ['10.0.0.10/', /no target name/],
    ['/iqn.2001-04.com.example', /not a portal/],
    ['10.0.0.10:0/iqn.2001-04.com.example', /port 0/],
    ['10.0.0.10:99999/iqn.2001-04.com.example', /port 99999/],
    ['-oProxy/iqn.2001-04.com.example', /not a host name/],
    ['[zz]/iqn.2001-04.com.example', /not a host name or IPv6 address/],
    ['h/-iqn.2001-04.com.example', /not an iSCSI name/],
    ['h/iqn.2001-04.com.example:a b', /not an iSCSI name/],
    ['h/disk1', /not an iSCSI name/],
    ['h/iqn.2001-04.com.example?lun=x', /lun must be a number/],
    ['h/iqn.2001-04.com.example?lun=20000', /lun must be a number/],
    ['h/iqn.2001-04.com.example?chap=', /chap= needs/],
    ['h/iqn.2001-04.com.example?user=bob', /unknown parameter 'user'/],
  ];
  for (const [rest, why] of refused) {
    const error = t.throws(() => parseEndpoint(`iscsi://${rest}`, 'source')) as BasynError;
    t.is(error?.exitCode, EXIT_USAGE, rest);
    t.regex(error?.message ?? '', why, rest);
    t.regex(error?.message ?? '', /expected iscsi:\/\/PORTAL\[:PORT\]\/IQN/, rest);
  }
});

test('by-path names follow udev: decimal LUNs below 256, 0x… above', (t) => {
  t.is(byPathName('10.0.0.10', 3260, 'iqn.2001-04.com.example:d', 0), 'ip-10.0.0.10:3260-iscsi-iqn.2001-04.com.example:d-lun-0');
  t.is(byPathName('10.0.0.10', 3260, 'iqn.2001-04.com.example:d', 255), 'ip-10.0.0.10:3260-iscsi-iqn.2001-04.com.example:d-lun-255');
  t.is(byPathName('10.0.0.10', 3260, 'iqn.2001-04.com.example:d', 256), 'ip-10.0.0.10:3260-iscsi-iqn.2001-04.com.example:d-lun-0x0100000000000000');
});

// ---------------------------------------------------------------------------------------------
// Against the fake

const fakeTest = SKIP ? (title: string) => test.skip(`${title} (skipped: ${SKIP})`, () => undefined) : null;
function withFake(title: string, body: (t: ExecutionContext) => Promise<void>): void {
  if (fakeTest) fakeTest(title);
  else test(title, body);
}

withFake('discovery, node record, login, the LUN by its by-path link; release logs out and removes what it made', async (t) => {
  const { fake, image, resource } = setUp(t);
  const used = await withResources([resource()], live(), async ([device]) => {
    t.is(device, join(fake.byPath, `ip-127.0.0.1:3260-iscsi-${IQN}-lun-0`));
    t.deepEqual(loopsOf(image), [realpathSync(device)], 'the link leads to the loop device over the LUN image');
    t.is(await sha256File(device), await sha256File(image), 'the device reads as the LUN');
    t.is(fake.sessions().length, 1);
    return device;
  });
  t.truthy(used);
  t.deepEqual(fake.commands(), [
    `-m discovery -t sendtargets -p ${PORTAL} -o nonpersistent`,
    '-m session',
    `-m node -T ${IQN} -p ${PORTAL}`,
    `-m node -T ${IQN} -p ${PORTAL},1 -o new`,
    `-m node -T ${IQN} -p ${PORTAL} --login`,
    '-m session',
    `-m node -T ${IQN} -p ${PORTAL} --logout`,
    `-m node -T ${IQN} -p ${PORTAL} -o delete`,
  ]);
  assertNothingLeft(t, fake, image);
});

withFake('a failing sync still logs out (the body throws)', async (t) => {
  const { fake, image, resource } = setUp(t);
  await t.throwsAsync(withResources([resource()], live(), async () => { throw new Error('sync failed'); }), { message: 'sync failed' });
  t.is(logouts(fake).length, 1);
  assertNothingLeft(t, fake, image);
});

withFake('an already logged-in target is used as it is and left logged in', async (t) => {
  const { fake, image, resource } = setUp(t);
  fake.adminLogin();
  const before = fake.sessions();
  const callsBefore = fake.calls().length;
  await withResources([resource()], live(), async ([device]) => {
    t.is(await sha256File(device), await sha256File(image));
  });
  const ours = fake.commands().slice(callsBefore);
  t.deepEqual(ours.filter((command) => / --login| --logout| -o (new|delete|update)/.test(command)), [], `basyn only looked: ${ours.join(' / ')}`);
  t.deepEqual(fake.sessions(), before, 'the session is still there, the same one');
  t.deepEqual(fake.records(), []);
});

withFake('two holders share one session: one login, and only the last release logs out (both orders)', async (t) => {
  const { fake, image, resource } = setUp(t);
  for (const order of ['first-out-first', 'last-out-first'] as const) {
    const first = resource();
    const second = resource();
    const firstDevice = await first.acquire(live());
    const secondDevice = await second.acquire(live());
    t.is(firstDevice, secondDevice);
    t.is(logins(fake).length, order === 'first-out-first' ? 1 : 2, 'one login per session');
    const [early, late] = order === 'first-out-first' ? [first, second] : [second, first];
    await early.release();
    t.is(fake.sessions().length, 1, `${order}: the other holder's session stays`);
    t.is(await sha256File(secondDevice), await sha256File(image), `${order}: its device still reads`);
    t.is(logouts(fake).length, order === 'first-out-first' ? 0 : 1);
    await late.release();
    t.is(logouts(fake).length, order === 'first-out-first' ? 1 : 2, `${order}: the last holder logs out`);
    assertNothingLeft(t, fake, image);
  }
});

withFake('a holder killed with SIGKILL no longer counts: the next run adopts the session and logs it out', async (t) => {
  const { fake, image, resource } = setUp(t);
  const script = [
    `const { iscsiResource } = require(${JSON.stringify(join(__dirname, '..', 'src', 'local', 'resources', 'iscsi'))});`,
    `const env = JSON.parse(process.env.TEST_ENV);`,
    `iscsiResource(${JSON.stringify(URL_REST)}, 'source', { env }).acquire(new AbortController().signal)`,
    `  .then((device) => { process.stdout.write(device + '\\n'); setInterval(() => undefined, 1000); });`,
  ].join('\n');
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { env: { ...fake.env, TEST_ENV: JSON.stringify(fake.env) }, stdio: ['ignore', 'pipe', 'inherit'] });
  const device = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => { out += text; if (out.includes('\n')) resolve(out.trim()); });
    child.once('exit', (code) => reject(new Error(`holder exited (${code}) before acquiring`)));
  });
  t.truthy(device);
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('close', resolve));
  t.is(fake.sessions().length, 1, 'the killed holder left the session');
  const adopter = resource();
  await adopter.acquire(live());
  t.is(logins(fake).length, 1, 'no second login');
  await adopter.release();
  t.is(logouts(fake).length, 1, 'the adopter logged out');
  assertNothingLeft(t, fake, image);
});

withFake('CHAP from a 0600 file: the secret reaches iscsiadm only through the node record update', async (t) => {
  const chap = { username: 'backup', password: 'S3cret-chap-pw' };
  const { dir, fake, image, resource } = setUp(t, { chap });
  const file = join(dir, 'chap.conf');
  writeFileSync(file, `# CHAP for the backup target\nusername = ${chap.username}\npassword = ${chap.password}\n`, { mode: 0o600 });
  await withResources([resource(`?chap=${file}`)], live(), async ([device]) => {
    t.is(await sha256File(device), await sha256File(image));
  });
  const withSecret = fake.commands().filter((command) => command.includes(chap.password));
  t.deepEqual(withSecret, [`-m node -T ${IQN} -p ${PORTAL} -o update -n node.session.auth.password -v ${chap.password}`]);
  t.true(fake.commands().includes(`-m node -T ${IQN} -p ${PORTAL} -o update -n node.session.auth.authmethod -v CHAP`));
  assertNothingLeft(t, fake, image);
});

withFake('CHAP file readable by others, or malformed: exit 1 before iscsiadm runs', async (t) => {
  const { dir, fake, resource } = setUp(t, { chap: { username: 'u', password: 'p' } });
  const file = join(dir, 'chap.conf');
  writeFileSync(file, 'username = u\npassword = p\n', { mode: 0o644 });
  chmodSync(file, 0o644);
  await expectError(t, resource(`?chap=${file}`).acquire(live()), EXIT_USAGE, /^CHAP file .*chap\.conf: can be read by others \(mode 0644\); chmod 600 /);
  writeFileSync(join(dir, 'bad.conf'), 'username = u\nsecret-line-without-key\n', { mode: 0o600 });
  const error = await expectError(t, resource(`?chap=${join(dir, 'bad.conf')}`).acquire(live()), EXIT_USAGE, /line 2: expected username/);
  t.false(error.message.includes('secret-line'), 'the line is not quoted back');
  await expectError(t, resource(`?chap=${join(dir, 'none.conf')}`).acquire(live()), EXIT_USAGE, /^CHAP file .*none\.conf: no such file/);
  t.deepEqual(fake.calls(), [], 'iscsiadm never ran');
});

withFake('wrong CHAP secret: login refused, one line, exit 2, node record removed', async (t) => {
  const { dir, fake, image, resource } = setUp(t, { chap: { username: 'backup', password: 'right' } });
  writeFileSync(join(dir, 'chap.conf'), 'username = backup\npassword = wrong\n', { mode: 0o600 });
  await expectError(t, resource(`?chap=${join(dir, 'chap.conf')}`).acquire(live()), EXIT_SYNC, /^iSCSI login to iqn\.2026-11\.test\.basyn:disk1 at 127\.0\.0\.1:3260 failed: initiator reported error \(24 - iSCSI login failed due to authorization failure\) \(iscsiadm exit code 24\)$/);
  assertNothingLeft(t, fake, image);
});

withFake('missing iscsiadm: one line, exit 2, nothing attempted', async (t) => {
  const { image, fake } = setUp(t);
  const resource = iscsiResource(URL_REST, 'target', { env: { ...fake.env, PATH: join(fake.dir, 'empty') } });
  await expectError(t, resource.acquire(live()), EXIT_SYNC, /^iscsiadm not found \(searched PATH\): install open-iscsi/);
  await resource.release();
  assertNothingLeft(t, fake, image);
});

withFake('a portal that does not answer: one line, exit 2, no login', async (t) => {
  const { fake, image, resource } = setUp(t);
  fake.cue({ discovery: 'refused' });
  await expectError(t, resource().acquire(live()), EXIT_SYNC, /^iSCSI portal 127\.0\.0\.1:3260 did not answer discovery: Could not perform SendTargets discovery: encountered connection failure \(iscsiadm exit code 4\)$/);
  t.deepEqual(logins(fake), []);
  assertNothingLeft(t, fake, image);
});

withFake('a wrong IQN: one line naming what the portal offers, exit 2, no login', async (t) => {
  const { fake, image } = setUp(t);
  const resource = iscsiResource(`${PORTAL}/iqn.2026-11.test.basyn:nosuchdisk`, 'source', { env: fake.env });
  await expectError(t, resource.acquire(live()), EXIT_SYNC, /^iSCSI portal 127\.0\.0\.1:3260 does not offer target iqn\.2026-11\.test\.basyn:nosuchdisk \(it offers: iqn\.2026-11\.test\.basyn:disk1\)$/);
  t.deepEqual(logins(fake), []);
  assertNothingLeft(t, fake, image);
});

withFake('a LUN that does not appear: bounded wait, one line, exit 2, logged out again', async (t) => {
  const { fake, image } = setUp(t, { env: { BASYN_ISCSI_DEVICE_WAIT: '1' } });
  const resource = iscsiResource(`${URL_REST}?lun=7`, 'target', { env: fake.env });
  // The bound is the setting's 1 s (the message says so); an unbounded wait would hang the test.
  await expectError(t, resource.acquire(live()), EXIT_SYNC, /^iSCSI target iqn\.2026-11\.test\.basyn:disk1 at 127\.0\.0\.1:3260: LUN 7 did not appear as .*-lun-7 within 1 s \(logged out again\); check the LUN number/);
  t.is(logins(fake).length, 1);
  t.is(logouts(fake).length, 1);
  await resource.release();
  t.is(logouts(fake).length, 1, 'release after a failed acquire has nothing left to do');
  assertNothingLeft(t, fake, image);
});

withFake('an abort (a signal) while waiting for udev: rejects with its reason at once, logged out', async (t) => {
  // A 600 s udev wait: only the abort can end this acquire within the bound below.
  const { fake, image, resource } = setUp(t, { env: { BASYN_ISCSI_DEVICE_WAIT: '600' } });
  fake.cue({ noLun: true });
  const controller = new AbortController();
  const acquired = resource().acquire(controller.signal);
  const reason = new BasynError('Interrupted by SIGTERM', 'EINTR', EXIT_SYNC);
  await waitFor(() => fake.sessions().length === 1, 100_000, 'the login');
  const abortedAt = Date.now();
  controller.abort(reason);
  const error = await t.throwsAsync(acquired);
  t.is(error, reason);
  t.true(Date.now() - abortedAt < 300_000, 'the abort ended the 600 s wait');
  t.is(logouts(fake).length, 1);
  assertNothingLeft(t, fake, image);
});

withFake('a logout that fails is retried; one that keeps failing is one line naming the command, and the next run logs out', async (t) => {
  const { fake, image, resource } = setUp(t);
  fake.cue({ logoutFailures: 1 });
  await withResources([resource()], live(), async () => undefined);
  t.is(logouts(fake).length, 2, 'retried once');
  assertNothingLeft(t, fake, image);

  fake.cue({ logoutFailures: 3 });
  const error = await expectError(t, withResources([resource()], live(), async () => undefined), EXIT_SYNC,
    /^Could not log out of iSCSI target iqn\.2026-11\.test\.basyn:disk1 at 127\.0\.0\.1:3260 after 3 attempts: initiator reported error \(10 - iSCSI logout failed\) \(iscsiadm exit code 10\); log out with: iscsiadm -m node -T iqn\.2026-11\.test\.basyn:disk1 -p 127\.0\.0\.1:3260 --logout$/);
  t.is(error.code, 'EISCSILOGOUT');
  t.is(fake.sessions().length, 1, 'still logged in: the record says basyn opened it');
  const next: IscsiResource = resource();
  await next.acquire(live());
  t.is(logins(fake).length, 2, 'the next run shares the session basyn opened');
  await next.release();
  assertNothingLeft(t, fake, image);
});

withFake('the by-path folder and the run folder are the ones the settings name', async (t) => {
  const { fake } = setUp(t);
  await withResources([iscsiResource(URL_REST, 'source', { env: fake.env })], live(), async ([device]) => {
    t.true(device.startsWith(fake.byPath + '/'));
    t.is(fake.records().length, 1, 'a record while held');
    t.regex(readFileSync(join(fake.runDir, fake.records()[0]), 'utf8'), /"opened":true/);
  });
});

// `basyn check-host HOST [DEVICE]` against the private sshd: a ready host (node version reported,
// DEVICE opened read-write and left untouched), a host without node on its PATH, one whose first
// `node` on the PATH is too old (v16), and an unknown host key (refused before anything is uploaded).
// The remote PATH is set by a ForceCommand wrapper in the sshd's config, as a login shell would. As
// root, a loop device as DEVICE: free, then held exclusively by another program (busy).
import { readFileSync, statSync, symlinkSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { basyn, hasStackTrace, type RunResult } from './helpers/cli';
import { sha256File, tempDir, writeRandom } from './helpers/images';
import { startSshd, type Sshd } from './helpers/sshd';
import { attachLoop, holdExclusively, ROOT_SKIP } from './helpers/root-devices';
import { SKIP_SSH, sshTest } from './helpers/ssh-test';

const temp = tempDir('basyn-check-host-');
const servers: Sshd[] = [];
let wrappers = 0;

/** A dir to put first on the remote PATH, and an sshd whose sessions get PATH=`path`. */
async function sshdWithPath(path: string): Promise<Sshd> {
  const wrapper = temp.path(`path-${wrappers++}.sh`);
  writeFileSync(wrapper, `#!/bin/sh\nPATH='${path}'\nexport PATH\nexec /bin/sh -c "$SSH_ORIGINAL_COMMAND"\n`);
  chmodSync(wrapper, 0o755);
  const sshd = await startSshd({ config: [`ForceCommand ${wrapper}`] });
  servers.push(sshd);
  return sshd;
}

sshTest.after.always(async () => {
  await Promise.all(servers.map((sshd) => sshd.stop()));
  temp.cleanup();
});

function checkHost(sshd: Sshd, args: string[] = [], knownHosts = sshd.knownHostsPath): Promise<RunResult> {
  return basyn(['check-host', sshd.host, ...args, '-p', String(sshd.port), '-u', sshd.user, '-i', sshd.keyPath, '--known-hosts', knownHosts], {
    env: { ...process.env, HOME: temp.dir, SSH_AUTH_SOCK: '' },
  });
}

sshTest('a ready host: connected, agent started, remote node version, DEVICE may be opened read-write and is untouched', async (t) => {
  const sshd = await startSshd();
  servers.push(sshd);
  const device = temp.path('device.img');
  writeRandom(device, 256 * 1024);
  chmodSync(device, 0o600);
  const before = { digest: await sha256File(device), mtimeMs: statSync(device).mtimeMs, size: statSync(device).size };
  const result = await checkHost(sshd, [device]);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, new RegExp(`^${sshd.host}: connected \\(ssh ${sshd.user}@${sshd.host}:${sshd.port}\\), host key verified$`, 'm'));
  const build = /"(\d+\.\d+\.\d+[^"]*\+[0-9a-f]{12})"/.exec(readFileSync(join(__dirname, '..', 'dist', 'agent.js'), 'utf8'))?.[1];
  t.regex(result.stdout, /^agent: uploaded and started \(build (\S+), protocol \d+\)$/m);
  t.true(result.stdout.includes(`(build ${build},`), 'the build of dist/agent.js');
  // The remote node is this machine's (the sshd runs here): its version, as node itself reports it.
  t.regex(result.stdout, new RegExp(`^node: ${process.version.replace(/\./g, '\\.')} \\(${process.platform} ${process.arch}\\)$`, 'm'));
  t.regex(result.stdout, new RegExp(`^${device.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: may be opened for reading and writing \\(262144 bytes\\); nothing was written$`, 'm'));
  t.regex(result.stdout, new RegExp(`^${sshd.host}: ready$`, 'm'));
  t.is(result.stderr, '');
  t.deepEqual({ digest: await sha256File(device), mtimeMs: statSync(device).mtimeMs, size: statSync(device).size }, before, 'DEVICE unchanged');
});

sshTest('no node on the remote PATH: exit 2, one line that says so', async (t) => {
  const bin = temp.path('bin-without-node');
  mkdirSync(bin);
  symlinkSync('/bin/sh', join(bin, 'sh'));
  const result = await checkHost(await sshdWithPath(bin));
  t.is(result.code, 2);
  t.regex(result.stderr, /^node >= 18 not found on 127\.0\.0\.1; install it or pass --remote-node PATH\n$/);
  t.false(hasStackTrace(result.stderr));
  t.notRegex(result.stdout, /ready/);
});

sshTest('the first node on the remote PATH is v16: exit 2, the version named', async (t) => {
  const bin = temp.path('bin-old-node');
  mkdirSync(bin);
  // The real node, told to report v16 (the loader checks process.versions.node, as on a real v16).
  writeFileSync(join(bin, 'node16.js'), 'Object.defineProperty(process, "version", { value: "v16.20.2" });\nObject.defineProperty(process.versions, "node", { value: "16.20.2" });\n');
  writeFileSync(join(bin, 'node'), `#!/bin/sh\nexec ${process.execPath} --require ${join(bin, 'node16.js')} "$@"\n`);
  chmodSync(join(bin, 'node'), 0o755);
  const result = await checkHost(await sshdWithPath(`${bin}:/usr/local/bin:/usr/bin:/bin`));
  t.is(result.code, 2);
  t.regex(result.stderr, /^node >= 18 not found on 127\.0\.0\.1 \(node v16\.20\.2 is too old, need >= 18\); install it or pass --remote-node PATH\n$/);
  t.notRegex(result.stdout, /ready/);
});

sshTest('an unknown host key is refused: exit 2, the fingerprint shown, nothing uploaded, known_hosts untouched', async (t) => {
  const sshd = await startSshd();
  servers.push(sshd);
  const knownHosts = temp.path('empty_known_hosts');
  writeFileSync(knownHosts, '');
  const result = await checkHost(sshd, [], knownHosts);
  t.is(result.code, 2);
  t.regex(result.stderr, /^Host key for \[127\.0\.0\.1\]:\d+ is not known; the server offered ED25519 key SHA256:\S+: if that is right, rerun with --accept-new/);
  t.is(result.stderr.trim().split('\n').length, 1);
  t.is(result.stdout, '', 'no connection, no agent');
  t.is(readFileSync(knownHosts, 'utf8'), '');
  t.notRegex(sshd.log(), /Accepted publickey/, 'the client never authenticated');
});

// A block device DEVICE is opened as a destination is: exclusively. A free loop device may be opened;
// the same device held exclusively by another program (as a mount, LVM or MD holds one) is busy.
(ROOT_SKIP || SKIP_SSH ? sshTest.skip : sshTest)('a block device: free is ready, held exclusively is busy (exit 2), never written', async (t) => {
  const sshd = await startSshd();
  servers.push(sshd);
  const backing = temp.path('loop-backing.img');
  writeRandom(backing, 1024 * 1024);
  const before = await sha256File(backing);
  const loop = attachLoop(backing);
  t.teardown(() => loop.detach());
  const free = await checkHost(sshd, [loop.device]);
  t.is(free.code, 0, free.stderr);
  t.true(free.stdout.includes(`${loop.device}: may be opened for reading and writing (1048576 bytes); nothing was written`), free.stdout);
  const release = await holdExclusively(loop.device);
  try {
    const busy = await checkHost(sshd, [loop.device]);
    t.is(busy.code, 2);
    t.regex(busy.stderr, new RegExp(`^Device ${loop.device} is busy`));
    t.notRegex(busy.stdout, /ready/);
  } finally {
    await release();
  }
  loop.detach();
  t.is(await sha256File(backing), before, 'the device was not written');
});

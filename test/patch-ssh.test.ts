// `basyn patch FILE DEST -h HOST` against a private OpenSSH sshd: the patch is streamed through the
// agent, spooled and applied on the target's host with the same guarantees (checked first, journalled,
// "already applied", wrong target refused with nothing written), and `--rollback -h` undoes a killed apply.
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basyn } from './helpers/cli';
import { patch, sha256File, writeRandom } from './helpers/images';
import { sshFixture, sshTest } from './helpers/ssh-test';

const { scratch, env, sshd } = sshFixture('basyn-patch-ssh-');

function ssh(): string[] {
  return ['-h', sshd.host, '-p', String(sshd.port), '-u', sshd.user, '--known-hosts', sshd.knownHostsPath, '-i', sshd.keyPath];
}

let count = 0;
function images(): { old: string; fresh: string; target: string; patch: string; state: string } {
  const id = count++;
  const old = scratch.path(`old-${id}.img`);
  const fresh = scratch.path(`new-${id}.img`);
  writeRandom(old, 2 * 1024 * 1024);
  copyFileSync(old, fresh);
  patch(fresh, 10, Buffer.from('remote patch'));
  const lastByte = Buffer.alloc(4096);
  lastByte[4095] = 1;
  patch(fresh, 1024 * 1024, lastByte);
  const target = scratch.path(`target-${id}.img`);
  copyFileSync(old, target);
  return { old, fresh, target, patch: scratch.path(`p-${id}.patch`), state: scratch.path(`state-${id}`) };
}

sshTest('basyn patch -h: applied on the remote host; twice is "already applied"; the spool and journal are gone', async (t) => {
  const files = images();
  const made = await basyn(['-l', files.fresh, '-r', files.old, '-a', 'PUSH', '-m', 'SYNC', '--diff', files.patch], { env });
  t.is(made.code, 0, made.stderr);
  const applied = await basyn(['patch', ...ssh(), '--state-dir', files.state, files.patch, files.target], { env });
  t.is(applied.code, 0, applied.stderr);
  t.regex(applied.stderr, /patch applied/);
  t.is(await sha256File(files.target), await sha256File(files.fresh));
  const again = await basyn(['patch', ...ssh(), '--state-dir', files.state, files.patch, files.target], { env });
  t.is(again.code, 0, again.stderr);
  t.regex(again.stderr, /already applied/);
  t.deepEqual(readdirSync(files.state), []);
});

sshTest('basyn patch -h refuses a damaged patch and the wrong target on the remote side, nothing written', async (t) => {
  const files = images();
  await basyn(['-l', files.fresh, '-r', files.old, '-a', 'PUSH', '-m', 'SYNC', '--diff', files.patch], { env });
  const damaged = Buffer.from(readFileSync(files.patch));
  damaged[damaged.length - 40] ^= 1;
  writeFileSync(`${files.patch}.bad`, damaged);
  const before = await sha256File(files.target);
  const bad = await basyn(['patch', ...ssh(), '--state-dir', files.state, `${files.patch}.bad`, files.target], { env });
  t.is(bad.code, 2);
  t.regex(bad.stderr, /^[^\n]*(damaged|trailer counts|does not match)[^\n]*\n$/);
  patch(files.target, 20, Buffer.from('not the patch target, in a range it overwrites'));
  const changed = await sha256File(files.target);
  t.not(changed, before);
  const wrong = await basyn(['patch', ...ssh(), '--state-dir', files.state, files.patch, files.target], { env });
  t.is(wrong.code, 2);
  t.regex(wrong.stderr, /wrong target/);
  t.is(await sha256File(files.target), changed);
});

sshTest('basyn patch - -h: a patch from stdin streams through the agent', async (t) => {
  const files = images();
  await basyn(['-l', files.fresh, '-r', files.old, '-a', 'PUSH', '-m', 'SYNC', '--diff', files.patch], { env });
  const applied = await basyn(['patch', ...ssh(), '--state-dir', files.state, '-', files.target], { env, input: readFileSync(files.patch) });
  t.is(applied.code, 0, applied.stderr);
  t.is(await sha256File(files.target), await sha256File(files.fresh));
});

sshTest('basyn patch --rollback -h restores the old image from the remote journal', async (t) => {
  const files = images();
  await basyn(['-l', files.fresh, '-r', files.old, '-a', 'PUSH', '-m', 'SYNC', '--diff', files.patch], { env });
  const applied = await basyn(['patch', ...ssh(), '--state-dir', files.state, files.patch, files.target], { env });
  t.is(applied.code, 0, applied.stderr);
  const none = await basyn(['patch', '--rollback', ...ssh(), '--state-dir', files.state, files.target], { env });
  t.is(none.code, 2);
  t.regex(none.stderr, /nothing to roll back/);
  t.is(await sha256File(files.target), await sha256File(files.fresh));
});

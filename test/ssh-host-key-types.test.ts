// Host key types against real sshds that each hold only some key types (ssh2's host key algorithm
// negotiation decides which key a server presents, so each case gets the server it needs):
// a key of a new type for a known host is the downgrade a man in the middle would use, and is refused
// even with --accept-new; a rekey records nothing twice.
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { basyn, hasStackTrace } from './helpers/cli';
import { sha256File, tempDir, writeSparse } from './helpers/images';
import { keygen, keygenFingerprint, type Sshd, startSshd } from './helpers/sshd';
import { SKIP_SSH, sshTest } from './helpers/ssh-test';

const scratch = tempDir('basyn-host-key-types-');
const servers: Record<string, Sshd> = {};
test.before(async () => {
  if (SKIP_SSH) return;
  const [rsaOnly, ecdsaOnly, all, rekeying] = await Promise.all([
    startSshd({ hostKeyTypes: ['rsa'] }),
    startSshd({ hostKeyTypes: ['ecdsa'] }),
    startSshd({ hostKeyTypes: ['ed25519', 'ecdsa', 'rsa'] }),
    // A rekey after every 4 KiB: the agent upload alone makes several.
    startSshd({ config: ['RekeyLimit 4K', 'LogLevel DEBUG1'] }),
  ]);
  Object.assign(servers, { rsaOnly, ecdsaOnly, all, rekeying });
});
test.after.always(async () => { await Promise.all(Object.values(servers).map((server) => server.stop())); scratch.cleanup(); });

let count = 0;
/** A PUSH SYNC of a small changed image to `sshd`, with `extra` options; returns the result and both images. */
async function push(sshd: Sshd, extra: string[]): Promise<{ code: number | null; stderr: string; same: boolean }> {
  const local = scratch.path(`local-${count}.img`);
  const remote = scratch.path(`remote-${count++}.img`);
  writeSparse(local, 1 << 20, [{ offset: 4096, data: Buffer.from('changed') }]);
  writeSparse(remote, 1 << 20);
  const result = await basyn([
    '-l', local, '-r', remote, '-h', sshd.host, '-p', String(sshd.port), '-u', sshd.user, '-i', sshd.keyPath,
    '-a', 'PUSH', '-m', 'SYNC', ...extra,
  ], { timeoutMs: 180_000 });
  return { code: result.code, stderr: result.stderr, same: (await sha256File(local)) === (await sha256File(remote)) };
}

const knownAs = (sshd: Sshd, publicKey: string): string => `[${sshd.host}]:${sshd.port} ${publicKey}\n`;

for (const [server, offered, knownType] of [['rsaOnly', 'rsa', 'ed25519'], ['ecdsaOnly', 'ecdsa', 'rsa']] as const) {
  for (const how of [['--accept-new'], ['-o', 'StrictHostKeyChecking=accept-new'], ['-o', 'StrictHostKeyChecking=no']]) {
    sshTest(`a host known as ${knownType} offering only ${offered}: refused with ${how.join(' ')}, exit 2, known types named`, async (t) => {
      const sshd = servers[server];
      const file = scratch.path(`kh-${server}-${how.join('')}`);
      // What the user has on file for this host: a key of another type (the real host's).
      const content = knownAs(sshd, keygen(scratch.path(`real-host-${count++}`), knownType));
      writeFileSync(file, content);
      const { code, stderr, same } = await push(sshd, ['--known-hosts', file, ...how]);
      t.is(code, 2, stderr);
      const knownName = knownType === 'rsa' ? 'ssh-rsa' : 'ssh-ed25519';
      t.true(stderr.startsWith(`Host key for [${sshd.host}]:${sshd.port} is known only as ${knownName} (${file}:1), but the server offered ${offered.toUpperCase()} key `), stderr);
      t.true(stderr.includes(keygenFingerprint(join(sshd.dir, `host_${offered}.pub`))), 'the offered fingerprint');
      t.is(stderr.trim().split('\n').length, 1, 'one line');
      t.false(hasStackTrace(stderr));
      t.is(readFileSync(file, 'utf8'), content, 'known_hosts untouched');
      t.false(same, 'nothing synced');
    });
  }
}

sshTest('a server with several key types shows the one on file: no refusal, nothing recorded', async (t) => {
  const sshd = servers.all;
  for (const type of ['rsa', 'ecdsa', 'ed25519']) {
    const file = scratch.path(`kh-all-${type}`);
    const content = knownAs(sshd, sshd.hostPublicKeys[type]);
    writeFileSync(file, content);
    const { code, stderr, same } = await push(sshd, ['--known-hosts', file, '--accept-new']);
    t.is(code, 0, `${type}: ${stderr}`);
    t.true(same, type);
    t.is(readFileSync(file, 'utf8'), content, `${type}: nothing added`);
  }
});

sshTest('--accept-new with rekeys during the run, then again: one known_hosts line', async (t) => {
  const sshd = servers.rekeying;
  const file = scratch.path('kh-rekey');
  for (let run = 0; run < 2; run++) {
    const { code, stderr, same } = await push(sshd, ['--known-hosts', file, '--accept-new']);
    t.is(code, 0, stderr);
    t.true(same);
  }
  t.is(readFileSync(file, 'utf8'), knownAs(sshd, sshd.hostPublicKey));
  const kexPerConnection = (sshd.log().match(/SSH2_MSG_KEXINIT sent/g) ?? []).length / 2;
  t.true(kexPerConnection > 1, `key exchanges per connection: ${kexPerConnection}`);
});

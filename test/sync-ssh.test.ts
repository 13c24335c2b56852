// The sync suite (test/helpers/sync-suite.ts) over SSH, as a user runs it: the built CLI with -h,
// the remote agent reached through ssh2 (this suite) or the OpenSSH client (--rsh), both against the
// private sshd of test/helpers/sshd.ts. The `link` subset of the cases runs over each (see the
// suite's header for what it holds).
import { basyn } from './helpers/cli';
import { SKIP_SSH, sshFixture } from './helpers/ssh-test';
import { defineSyncSuite } from './helpers/sync-suite';

const { env, sshd } = sshFixture('basyn-sync-ssh-');

defineSyncSuite({
  name: 'ssh',
  coverage: 'link',
  skip: SKIP_SSH,
  run: (args) => basyn([...args, '-h', sshd.host, '-p', String(sshd.port), '-u', sshd.user, '--known-hosts', sshd.knownHostsPath, '-i', sshd.keyPath], { env }),
});

defineSyncSuite({
  name: 'rsh',
  coverage: 'link',
  skip: SKIP_SSH,
  run: (args) => basyn([
    ...args, '-h', sshd.host, '-p', String(sshd.port), '-u', sshd.user,
    '--rsh', `ssh -i ${sshd.keyPath} -o UserKnownHostsFile=${sshd.knownHostsPath} -o BatchMode=yes -o LogLevel=ERROR`,
  ], { env }),
});

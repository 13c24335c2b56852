// The sync suite (test/helpers/sync-suite.ts) over SSH, as a user runs it: the built CLI with -h,
// the remote agent reached through ssh2 (this suite) or the OpenSSH client (--rsh), both against the
// private sshd of test/helpers/sshd.ts. The `link` subset of the cases runs over each (see the
// suite's header for what it holds).
import test from 'ava';
import { mkdirSync } from 'node:fs';
import { basyn } from './helpers/cli';
import { tempDir } from './helpers/images';
import { startSshd, type Sshd } from './helpers/sshd';
import { SKIP_SSH } from './helpers/ssh-test';
import { defineSyncSuite } from './helpers/sync-suite';

const scratch = tempDir('basyn-sync-ssh-');
const home = scratch.path('home');
mkdirSync(home);
// No ~/.ssh of the developer's, no ssh-agent: only what each run passes.
const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
delete env.SSH_AUTH_SOCK;
let sshd: Sshd;

test.before(async () => { if (!SKIP_SSH) sshd = await startSshd(); });
test.after.always(async () => { await sshd?.stop(); scratch.cleanup(); });

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

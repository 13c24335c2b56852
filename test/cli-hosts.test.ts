// Issue 9, "hosts are validated": an empty -h used to run locally with exit 0, and a host starting with
// '-' became an option of the --rsh command (ssh -oProxyCommand=... runs a local command). Both, and
// hosts with blanks or shell characters, are usage errors: exit 1, one line, nothing run or written.
import test from 'ava';
import { existsSync } from 'node:fs';
import { basyn, hasStackTrace } from './helpers/cli';
import { sha256File, tempDir, writeRandom } from './helpers/images';

const CASES: Array<{ name: string; host: (dir: ReturnType<typeof tempDir>) => string; message: RegExp; rsh?: boolean }> = [
  { name: 'an empty -h', host: () => '', message: /^-h\/--host is empty/ },
  { name: 'an empty -h with --rsh', host: () => '', message: /^-h\/--host is empty/, rsh: true },
  { name: 'a host starting with - (an ssh option) with --rsh', host: (dir) => `-oProxyCommand=touch ${dir.path('pwned')}`, message: /cannot start with '-'/, rsh: true },
  { name: 'a host starting with - (ssh2)', host: (dir) => `-oProxyCommand=touch ${dir.path('pwned')}`, message: /cannot start with '-'/ },
  { name: 'user@-host with --rsh', host: (dir) => `root@-oProxyCommand=touch ${dir.path('pwned')}`, message: /cannot start with '-'/, rsh: true },
  { name: 'a host with a blank', host: () => 'back up', message: /is not a host name or address$/ },
  { name: 'a host with shell characters', host: () => 'backup;id', message: /is not a host name or address$/ },
  { name: 'a host with a newline', host: () => 'backup\nid', message: /'backup\\nid' is not a host name/ },
];

for (const { name, host, message, rsh } of CASES) {
  test(`usage error: ${name}`, async (t) => {
    const dir = tempDir();
    t.teardown(() => dir.cleanup());
    const [local, remote] = [dir.path('local.img'), dir.path('remote.img')];
    writeRandom(local, 100_000);
    writeRandom(remote, 100_000);
    const before = [await sha256File(local), await sha256File(remote)];
    const args = ['-l', local, '-r', remote, '-a', 'PUSH', '-m', 'SYNC', '-h', host(dir), ...(rsh ? ['--rsh', 'ssh -oBatchMode=yes -oConnectTimeout=2'] : [])];
    const result = await basyn(args);
    t.is(result.code, 1, result.stderr);
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    t.is(lines.length, 1, JSON.stringify(result.stderr));
    t.regex(lines[0] ?? '', message);
    t.false(hasStackTrace(result.stderr));
    t.is(result.stdout, '');
    t.false(existsSync(dir.path('pwned')), 'no command ran through the host argument');
    t.deepEqual([await sha256File(local), await sha256File(remote)], before, 'nothing written');
  });
}

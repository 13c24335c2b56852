// `~` and `~user` at the start of a path named by a remote endpoint (`host:~/disk.img`), expanded by
// the agent itself: the path travels as data in OPEN and never meets a shell, so it needs no quoting
// and nothing in it is interpreted. Only a leading `~` or `~user` followed by `/` (or the end) is
// expanded, as a POSIX shell does; a relative path stays relative to the agent's directory (the
// login home over SSH).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { devicePathError } from '../shared/errors';

/** The home folder of `user` from the password database (/etc/passwd, else `getent passwd`). */
function homeOf(user: string): string | undefined {
  const find = (text: string) => text.split('\n').map((line) => line.split(':')).find((fields) => fields[0] === user && fields.length >= 7)?.[5];
  try {
    const home = find(readFileSync('/etc/passwd', 'utf8'));
    if (home) return home;
  } catch {
    // no /etc/passwd: ask getent (NSS: LDAP, sssd, ...)
  }
  try {
    return find(execFileSync('getent', ['passwd', user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 })) || undefined;
  } catch {
    return undefined;
  }
}

export function expandHome(path: string): string {
  const match = /^~([^/]*)(\/.*)?$/s.exec(path);
  if (!match) return path;
  const [, user, rest = ''] = match;
  const home = user === '' ? homedir() : homeOf(user);
  if (!home) throw devicePathError(path, 'DEVICE_NO_SUCH_USER');
  return home.replace(/\/$/, '') + rest;
}

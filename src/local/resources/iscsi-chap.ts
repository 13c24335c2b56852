// CHAP credentials for an iSCSI login, from a file named by `?chap=FILE` (never from the command line,
// where every user could read them in the process list). The file is `key = value` lines, `#` comments:
//
//   username = initiator-user          CHAP: the name and secret the target checks
//   password = initiator-secret
//   username_in = target-user          mutual CHAP (optional): what the initiator checks
//   password_in = target-secret
//
// It must be a regular file owned by the user running basyn and readable by nobody else (0600 or 0400),
// as ssh refuses a private key others can read. The values go to iscsiadm's node record (iscsi.ts).
import { constants, promises as fs } from 'node:fs';
import { UsageError, basynError, systemErrorText } from '../../shared/errors';

export interface ChapCredentials {
  readonly username: string;
  readonly password: string;
  readonly usernameIn?: string;
  readonly passwordIn?: string;
}

/** The node record settings (`-o update -n NAME -v VALUE`) for these credentials, in order. */
export function chapSettings(chap: ChapCredentials): Array<[string, string]> {
  const settings: Array<[string, string]> = [
    ['node.session.auth.authmethod', 'CHAP'],
    ['node.session.auth.username', chap.username],
    ['node.session.auth.password', chap.password],
  ];
  if (chap.usernameIn !== undefined && chap.passwordIn !== undefined) {
    settings.push(['node.session.auth.username_in', chap.usernameIn], ['node.session.auth.password_in', chap.passwordIn]);
  }
  return settings;
}

const KEYS = { username: 'username', password: 'password', username_in: 'usernameIn', password_in: 'passwordIn' } as const;
const MAX_BYTES = 4096;

export async function readChapFile(file: string): Promise<ChapCredentials> {
  const fail = (why: string) => basynError('ISCSI_CHAP_FILE', file, why);
  let text: string;
  try {
    const handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw fail('is not a regular file');
      if (stat.uid !== process.getuid?.()) throw fail(`is owned by uid ${stat.uid}, not by the user running basyn (uid ${process.getuid?.()})`);
      if ((stat.mode & 0o077) !== 0) {
        throw fail(`can be read by others (mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}); chmod 600 ${file}`);
      }
      if (stat.size > MAX_BYTES) throw fail(`is larger than ${MAX_BYTES} bytes`);
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw fail(code === 'ELOOP' ? 'is a symbolic link (name the file itself)' : systemErrorText(error));
  }
  const values: Partial<Record<(typeof KEYS)[keyof typeof KEYS], string>> = {};
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const match = /^([a-z_]+)\s*=\s*(.*)$/.exec(line);
    const key = match ? KEYS[match[1] as keyof typeof KEYS] : undefined;
    // The line itself is never quoted back: it may hold a secret.
    if (!match || !key) throw fail(`line ${index + 1}: expected username, password, username_in or password_in = VALUE`);
    if (match[2] === '') throw fail(`line ${index + 1}: ${match[1]} has no value`);
    values[key] = match[2];
  });
  if (values.username === undefined || values.password === undefined) throw fail('needs both username and password');
  if ((values.usernameIn === undefined) !== (values.passwordIn === undefined)) throw fail('username_in and password_in go together (mutual CHAP)');
  return { username: values.username, password: values.password, usernameIn: values.usernameIn, passwordIn: values.passwordIn };
}

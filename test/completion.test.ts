// `basyn completion bash`, run by a real bash: the script is sourced and its completion function is
// called as bash calls it (COMP_WORDS / COMP_CWORD), with a HOME whose ~/.ssh/config names hosts.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { buildProgram } from '../src/local/cli';
import { HASH_NAMES } from '../src/shared/hash';
import { basyn } from './helpers/cli';
import { tempDir } from './helpers/images';

const temp = tempDir('basyn-completion-');
test.after.always(() => temp.cleanup());
const home = temp.path('home');
mkdirSync(`${home}/.ssh/conf.d`, { recursive: true });
writeFileSync(`${home}/.ssh/config`, [
  '# backups',
  'Host backup backup2   # two names',
  '  HostName 10.0.0.1',
  'Host *.internal !gw ?x',
  'Host=db1',
  'Include conf.d/*.conf',
  '',
].join('\n'));
writeFileSync(`${home}/.ssh/conf.d/lab.conf`, 'Host lab1\n  User root\n');
const files = temp.path('files');
mkdirSync(files);
for (const name of ['disk.img', 'disk.bitmap', 'other.img']) writeFileSync(`${files}/${name}`, '');

let script = '';
test.before(async () => {
  const result = await basyn(['completion', 'bash']);
  if (result.code !== 0) throw new Error(`basyn completion bash: ${result.stderr}`);
  script = temp.path('basyn.bash');
  writeFileSync(script, result.stdout);
});

/** What bash's completion offers for the command line `words`, the cursor in the last word. */
function complete(words: string[]): string[] {
  const program = [
    'source "$1" || exit 9',
    'shift',
    'COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))',
    // The function registered for basyn, as bash would look it up.
    'fn=$(complete -p basyn | sed -n "s/.*-F \\([^ ]*\\) basyn$/\\1/p"); [[ -n $fn ]] || exit 8',
    '"$fn" basyn "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const result = spawnSync('bash', ['--norc', '--noprofile', '-c', program, 'bash', script, ...words], {
    cwd: files, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: home },
  });
  if (result.status !== 0) throw new Error(`bash exited ${result.status}: ${result.stderr}`);
  return result.stdout.split('\n').filter(Boolean).sort();
}

test('options: every long option of the sync, completed from a prefix', (t) => {
  const longs = buildProgram().options.filter((option) => !option.hidden).map((option) => option.long).filter((flag): flag is string => !!flag);
  t.deepEqual(complete(['basyn', '--']), [...longs, '--help'].sort());
  t.deepEqual(complete(['basyn', '--progress']), ['--progress'], 'the hidden --progress-style (what --progress=STYLE becomes) is not offered');
  t.deepEqual(complete(['basyn', '-l', 'disk.img', '--diff']), ['--diff', '--diff-advances-bitmap', '--diff-format', '--diffsize']);
});

test('action, mode and hash names; --diff-format and --diffsize values', (t) => {
  t.deepEqual(complete(['basyn', '-a', '']), ['PULL', 'PUSH']);
  t.deepEqual(complete(['basyn', '--action', 'PU']), ['PULL', 'PUSH']);
  t.deepEqual(complete(['basyn', '-a', 'PUSH', '-m', '']), ['COPY', 'SYNC']);
  t.deepEqual(complete(['basyn', '--hash', '']), [...HASH_NAMES].sort());
  t.deepEqual(complete(['basyn', '--hash', 'SHA5']), ['SHA512']);
  t.deepEqual(complete(['basyn', '--diff-format', '']), ['basyn', 'bdsync']);
  t.deepEqual(complete(['basyn', '--diffsize', 'r']), ['resize']);
});

test('hosts from ~/.ssh/config and the files it includes, patterns left out', (t) => {
  t.deepEqual(complete(['basyn', '-l', 'disk.img', '-h', '']), ['backup', 'backup2', 'db1', 'lab1']);
  t.deepEqual(complete(['basyn', '--host', 'ba']), ['backup', 'backup2']);
  t.deepEqual(complete(['basyn', 'check-host', '']), ['backup', 'backup2', 'db1', 'lab1']);
  t.deepEqual(complete(['basyn', 'check-host', '-p', '2222', 'l']), ['lab1'], 'the value of -p is not the host');
  t.deepEqual(complete(['basyn', 'patch', 'x.patch', 'disk.img', '-h', 'd']), ['db1']);
});

test('files for devices and bitmaps; subcommands and files as the first word', (t) => {
  t.deepEqual(complete(['basyn', '-l', 'disk']), ['disk.bitmap', 'disk.img']);
  t.deepEqual(complete(['basyn', '-l', 'disk.img', '-b', 'disk.b']), ['disk.bitmap']);
  t.deepEqual(complete(['basyn', 'check-host', 'backup', 'o']), ['other.img'], 'DEVICE after HOST');
  t.deepEqual(complete(['basyn', 'c']), ['check-host', 'completion']);
  t.deepEqual(complete(['basyn', 'p']), ['patch']);
  t.deepEqual(complete(['basyn', 'completion', '']), ['bash']);
  t.deepEqual(complete(['basyn', 'patch', '--roll']), ['--rollback']);
  t.deepEqual(complete(['basyn', 'tasks', '--log-level', 'w']), ['warning']);
  t.deepEqual(complete(['basyn', 'tasks', '--config', 'other']), ['other.img']);
  t.deepEqual(complete(['basyn', 't']), ['tasks']);
  t.deepEqual(complete(['basyn', '-p', '']), [], 'a port: nothing to offer');
});

test('basyn completion with another shell, or none: one line, exit 1', async (t) => {
  for (const args of [['completion', 'zsh'], ['completion']]) {
    const result = await basyn(args);
    t.is(result.code, 1, args.join(' '));
    t.is(result.stdout, '');
    t.is(result.stderr.trim().split('\n').length, 1);
  }
});

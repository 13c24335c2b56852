// basyn against rsync, the tool users pick instead (issue 15): the same data, the same private sshd, default
// options on both sides, one case at a time, each checked by sha256 of the destination. rsync is installed
// with apt when missing (the bench runs as root, as the tests do). Wall time on both sides (process start to
// exit, login included): that is what a user waits for. rsync gets -I everywhere, so that it compares or
// copies as basyn does instead of skipping a file whose size and mtime match.
import { timed, type BasynRunner } from './bench-run';
import { sha256File } from '../test/helpers/images';

export interface RsyncRow {
  readonly title: string;
  readonly basynSeconds: number;
  readonly rsyncSeconds: number;
  readonly error?: string;
}

export interface RsyncSetup {
  readonly runner: BasynRunner;
  /** basyn's -h/-p/-u/-i/--known-hosts arguments for the private sshd. */
  readonly basynSsh: string[];
  /** rsync's -e command (OpenSSH with the same key, port and known_hosts) and the remote's user@host. */
  readonly rshCommand: string;
  readonly remote: string;
  readonly images: { readonly src: string; readonly changed: string; readonly same: string; readonly work: string };
  /** The sha256 a file must have after each case (src and changed are known). */
  readonly digestOf: (path: string) => string;
  /** Makes `work` a durable copy of `from` again. */
  readonly reset: (from: string, to: string) => void;
  readonly log: (text: string) => void;
}

/** rsync's version line, after installing it with apt when it is missing; undefined (and why) when it cannot be had. */
export async function ensureRsync(log: (text: string) => void): Promise<{ version?: string; why?: string }> {
  const version = async () => {
    const result = await timed(['rsync', '--version']).catch(() => undefined);
    return result?.code === 0 ? result.stdout.split('\n')[0].trim() : undefined;
  };
  const present = await version();
  if (present) return { version: present };
  log('bench: rsync is missing: apt-get install rsync...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = async () => (await timed(['apt-get', 'install', '-y', '--no-install-recommends', 'rsync'], env).catch(() => undefined))?.code === 0;
  if (!(await install())) {
    await timed(['apt-get', 'update'], env).catch(() => undefined);
    await install();
  }
  const installed = await version();
  return installed ? { version: installed } : { why: 'rsync is not installed and apt-get could not install it' };
}

export async function runRsyncBench(setup: RsyncSetup): Promise<RsyncRow[]> {
  const { runner, basynSsh, rshCommand, remote, images, digestOf, reset, log } = setup;
  const { src, changed, same, work } = images;
  const rsync = (options: string[], from: string, to: string) => ['rsync', '-I', '--inplace', ...options, '-e', rshCommand, from, `${remote}:${to}`];
  const cases: Array<{ title: string; basyn: string[]; rsync: string[]; prepare?: () => void; check: { path: string; expect: string } }> = [
    {
      title: 'SYNC identical (rsync -I --inplace --no-whole-file)',
      basyn: ['-l', src, '-r', same, '-a', 'PUSH', '-m', 'SYNC'], rsync: rsync(['--no-whole-file'], src, same), check: { path: same, expect: src },
    },
    {
      title: 'SYNC 1 % changed (rsync -I --inplace --no-whole-file)',
      basyn: ['-l', changed, '-r', work, '-a', 'PUSH', '-m', 'SYNC'], rsync: rsync(['--no-whole-file'], changed, work),
      prepare: () => reset(src, work), check: { path: work, expect: changed },
    },
    {
      title: 'COPY random data (rsync -I --inplace --whole-file)',
      basyn: ['-l', src, '-r', work, '-a', 'PUSH', '-m', 'COPY'], rsync: rsync(['--whole-file'], src, work),
      prepare: () => reset(changed, work), check: { path: work, expect: src },
    },
  ];
  const rows: RsyncRow[] = [];
  for (const item of cases) {
    log(`bench: rsync comparison: ${item.title}...`);
    const check = async (who: string) => {
      const got = await sha256File(item.check.path);
      return got === digestOf(item.check.expect) ? undefined : `WRONG RESULT after ${who}: ${item.check.path} is not ${item.check.expect}`;
    };
    item.prepare?.();
    const basyn = await runner.run([...item.basyn, ...basynSsh]);
    let error = basyn.error ?? (await check('basyn'));
    item.prepare?.();
    const other = await timed(item.rsync, { ...process.env, SSH_AUTH_SOCK: '' });
    if (other.code !== 0) error ??= `rsync exited ${other.code}: ${other.stderr.trim().split('\n').slice(-2).join(' / ')}`;
    else error ??= await check('rsync');
    rows.push({ title: item.title, basynSeconds: basyn.wallSeconds, rsyncSeconds: other.seconds, error });
    log(`bench:   basyn ${basyn.wallSeconds.toFixed(2)} s, rsync ${other.seconds.toFixed(2)} s${error ? ` FAILED ${error}` : ''}`);
  }
  return rows;
}

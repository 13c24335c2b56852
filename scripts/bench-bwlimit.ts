// The --bwlimit case of the bench alone (issue 11: "within 10 % of the limit over a 30 s run"): a COPY
// of random data over a private sshd with --bwlimit set so that the copy should last 30 s. The rate is
// the bytes over the link (the --stat Rx + Tx) and the device bytes, each over the --stat time (from the
// devices being open to the end of the sync: the SSH start-up is not the link's). scripts/bench.ts runs
// the same case in the full bench; this runs it on its own (root, openssh-server; npm run build first):
//   node --import tsx scripts/bench-bwlimit.ts [--limit BYTES_PER_SECOND] [--seconds N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BasynRunner } from './bench-run';
import { sha256File, writeRandom } from '../test/helpers/images';
import { startSshd, sshdUnavailable } from '../test/helpers/sshd';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const option = (name: string, fallback: number) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : fallback);
  const limit = option('--limit', 2 * 1024 * 1024);
  const seconds = option('--seconds', 30);
  const unavailable = sshdUnavailable();
  if (unavailable) throw new Error(`needs a private sshd: ${unavailable}`);
  const dir = mkdtempSync(join(tmpdir(), 'basyn-bench-bwlimit-'));
  const sshd = await startSshd();
  try {
    const [src, work] = [join(dir, 'src.img'), join(dir, 'work.img')];
    const size = limit * seconds;
    writeRandom(src, size);
    writeRandom(work, size);
    const runner = new BasynRunner(join(__dirname, '..', 'dist', 'basyn.js'), dir);
    const run = await runner.run(['-l', src, '-r', work, '-a', 'PUSH', '-m', 'COPY', '--bwlimit', String(limit),
      '-h', sshd.host, '-p', String(sshd.port), '-u', sshd.user, '-i', sshd.keyPath, '--known-hosts', sshd.knownHostsPath]);
    if (!run.ok || run.statSeconds === undefined) throw new Error(`the run failed: ${run.error}`);
    if ((await sha256File(work)) !== (await sha256File(src))) throw new Error('WRONG RESULT: the destination differs from the source');
    const link = ((run.rx ?? 0) + (run.tx ?? 0)) / run.statSeconds;
    const device = size / run.statSeconds;
    console.log(`COPY ${size} bytes of random data over ssh, --bwlimit ${limit} (${seconds} s expected): ${run.statSeconds.toFixed(2)} s; `
      + `link ${(link / 1024).toFixed(0)} KiB/s = ${((100 * link) / limit).toFixed(1)} % of the limit, `
      + `device bytes ${(device / 1024).toFixed(0)} KiB/s = ${((100 * device) / limit).toFixed(1)} % (target 90-110 %); wall ${run.wallSeconds.toFixed(2)} s`);
  } finally {
    await sshd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error((error as Error).message);
  process.exit(1);
});

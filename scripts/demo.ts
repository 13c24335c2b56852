// `npm run demo`: two image files in a temp folder, a few blocks changed, synced with --stat --progress
// and rechecked. Over a private sshd on 127.0.0.1 when one can be started (root with openssh-server),
// otherwise over the local pipe, saying so.
import { spawnSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256File, tempDir, writeRandom, patch } from '../test/helpers/images';
import { sshdUnavailable, startSshd, type Sshd } from '../test/helpers/sshd';

const BASYN = join(__dirname, '..', 'bin', 'basyn');
const SIZE = 64 * 1024 * 1024;

function run(args: string[]): number {
  console.log(`\n$ basyn ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [BASYN, ...args], { stdio: 'inherit' });
  console.log(`(exit code ${result.status})`);
  return result.status ?? 2;
}

async function main(): Promise<void> {
  const temp = tempDir('basyn-demo-');
  let sshd: Sshd | undefined;
  try {
    const source = temp.path('source.img');
    const destination = temp.path('backup.img');
    console.log(`Demo folder: ${temp.dir}`);
    console.log(`Creating a ${SIZE / 1048576} MiB random source image and a copy of it as the backup...`);
    writeRandom(source, SIZE);
    copyFileSync(source, destination);

    const changes = [1_000_000, 20_000_000, 50_000_000];
    for (const offset of changes) patch(source, offset, Buffer.from('a few changed bytes'));
    console.log(`Changed 19 bytes at offsets ${changes.join(', ')} of the source.`);

    let connection: string[] = [];
    const why = sshdUnavailable();
    if (why) {
      console.log(`\nNo private sshd here (${why}): syncing over the local pipe instead.`);
    } else {
      sshd = await startSshd();
      connection = ['-h', sshd.host, '-p', String(sshd.port), '-u', sshd.user, '-i', sshd.keyPath, '--known-hosts', sshd.knownHostsPath];
      console.log(`\nStarted a private sshd on ${sshd.host}:${sshd.port}: the backup is reached over SSH.`);
    }

    const synced = run(['-l', source, '-r', destination, ...connection, '-a', 'PUSH', '-m', 'SYNC', '--chunk', '64', '--stat', '--progress']);
    const rechecked = run(['-l', source, '-r', destination, ...connection, '--recheck', '--verbose']);
    const [a, b] = await Promise.all([sha256File(source), sha256File(destination)]);
    console.log(`\nsha256 source: ${a}\nsha256 backup: ${b}`);
    console.log(
      synced === 0 && rechecked === 0 && a === b
        ? 'The backup is identical to the source; only the changed 64 KiB chunks travelled (see Traffic above).'
        : 'Something went wrong: see the messages above.',
    );
    process.exitCode = synced === 0 && rechecked === 0 && a === b ? 0 : 2;
  } finally {
    await sshd?.stop();
    temp.cleanup();
  }
}

void main();

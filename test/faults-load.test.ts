// Fault matrix, load (issue 9): 8 runs at once through one sshd, each on its own pair of 256 MiB
// images (sparse, with some scattered data, so that the test stays fast), half of them with bitmaps.
// All must converge: exit 0, and both sides of every pair byte for byte the same. How much slower each
// is than a lone run, and its peak RSS, is measured by the bench (scripts/bench-load.ts).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { BASYN, type RunResult } from './helpers/cli';
import { assertSameBytes } from './helpers/faults';
import { writeSparse } from './helpers/images';
import { sshFixture, sshTest } from './helpers/ssh-test';

const MiB = 1024 * 1024;
const IMAGE_SIZE = 256 * MiB;
const RUNS = 8;
/** Scattered data in each image: 16 regions of 64 KiB (1 MiB), different on each side. */
const REGIONS = 16;
const REGION = 64 * 1024;

const { scratch, env, sshd } = sshFixture('basyn-faults-load-');

/** A sparse image of IMAGE_SIZE with REGIONS random regions at random 64 KiB-aligned offsets. */
function sparseImage(path: string): void {
  const writes = Array.from({ length: REGIONS }, () => ({
    offset: Math.floor(Math.random() * (IMAGE_SIZE / REGION)) * REGION,
    data: randomBytes(REGION),
  }));
  writeSparse(path, IMAGE_SIZE, writes);
}

/** Runs basyn without the helper's limit on runs at once: the point is that all 8 run together. */
function run(args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BASYN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
    child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`basyn ${args.join(' ')} timed out`)); }, 800_000);
    child.once('error', reject);
    child.once('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

sshTest(`${RUNS} runs at once through one sshd, half with bitmaps, all converge`, async (t) => {
  t.timeout(900_000);
  const pairs = Array.from({ length: RUNS }, (_, index) => {
    const source = scratch.path(`source-${index}.img`);
    const destination = scratch.path(`destination-${index}.img`);
    sparseImage(source);
    sparseImage(destination);
    return { source, destination, bitmap: index % 2 === 0 ? scratch.path(`bitmap-${index}`) : undefined };
  });
  const ssh = ['-h', sshd.host, '-p', String(sshd.port), '-u', sshd.user, '-i', sshd.keyPath, '--known-hosts', sshd.knownHostsPath];
  const results = await Promise.all(pairs.map(({ source, destination, bitmap }, index) => {
    // Both directions: even pairs PUSH, odd ones PULL (the source is always `source`).
    const [local, remote, action] = index % 4 < 2 ? [source, destination, 'PUSH'] : [destination, source, 'PULL'];
    return run(['-l', local, '-r', remote, ...ssh, '-a', action, '-m', 'SYNC', ...(bitmap ? ['-b', bitmap] : [])]);
  }));
  results.forEach((result, index) => t.is(result.code, 0, `run ${index}: ${result.stderr}`));
  for (const [index, { source, destination }] of pairs.entries()) assertSameBytes(t, source, destination, undefined, `pair ${index}`);
});

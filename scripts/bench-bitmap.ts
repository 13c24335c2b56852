// What the bitmap's durability costs (bitmap-format.md §7): a bitmap SYNC of an image in which half
// the buffers changed, with the bitmap's fsyncs as shipped, and with them turned into no-ops (a
// preload that patches FileHandle.sync in the controller only: the destination's FLUSH still runs in
// the agent), next to a plain SYNC without bitmap. Run: npm run build && npx tsx scripts/bench-bitmap.ts
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, openSync, readFileSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { BASYN } from '../test/helpers/cli';
import { tempDir, writeRandom } from '../test/helpers/images';

const SIZE = Number(process.env.BENCH_MB ?? 256) * 1024 * 1024;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const PRELOAD = `
const fs = require('node:fs');
let syncs = 0;
const mode = process.env.BITMAP_BENCH_SYNC;
fs.promises.open(__filename, 'r').then(async (handle) => {
  const proto = Object.getPrototypeOf(handle);
  await handle.close();
  const original = proto.sync;
  proto.sync = function () { syncs++; return mode === 'off' ? Promise.resolve() : original.call(this); };
});
process.on('exit', () => process.stderr.write('bitmap-fsyncs ' + syncs + '\\n'));
`;

function changeHalf(path: string, bufferSize: number): void {
  const fd = openSync(path, 'r+');
  try {
    for (let offset = 0; offset < SIZE; offset += 2 * bufferSize) writeSync(fd, randomBytes(512), 0, 512, offset + 100);
  } finally {
    closeSync(fd);
  }
}

function run(args: string[], env: Record<string, string>, preload: string): { seconds: number; fsyncs: number } {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, ['--require', preload, BASYN, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`basyn failed: ${result.stderr}`);
  return { seconds, fsyncs: Number(/bitmap-fsyncs (\d+)/.exec(result.stderr)?.[1] ?? 0) };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

function bench(bufferKb: number): void {
  const dir = tempDir('basyn-bitmap-bench-');
  try {
    const preload = dir.path('preload.js');
    writeFileSync(preload, PRELOAD);
    const source = dir.path('source.img');
    const destination = dir.path('destination.img');
    writeRandom(source, SIZE);
    copyFileSync(source, destination);
    const bitmap = dir.path('bitmap');
    const base = ['-l', source, '-r', destination, '-a', 'PUSH', '-m', 'SYNC', '--buffer', String(bufferKb), '--chunk', '0'];
    run([...base, '-b', bitmap], {}, preload); // the bitmap knows every buffer
    const pristine = readFileSync(bitmap);
    const results: Record<string, { seconds: number[]; fsyncs: number }> = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, args, env] of [
        ['bitmap, fsyncs on', [...base, '-b', bitmap], { BITMAP_BENCH_SYNC: 'on' }],
        ['bitmap, fsyncs off', [...base, '-b', bitmap], { BITMAP_BENCH_SYNC: 'off' }],
        ['no bitmap', base, {}],
      ] as Array<[string, string[], Record<string, string>]>) {
        copyFileSync(source, destination);
        writeFileSync(bitmap, pristine);
        changeHalf(source, bufferKb * 1024);
        const result = run(args, env, preload);
        (results[name] ??= { seconds: [], fsyncs: result.fsyncs }).seconds.push(result.seconds);
      }
    }
    const buffers = SIZE / (bufferKb * 1024);
    console.log(`\n${SIZE / 1048576} MiB, --buffer ${bufferKb}: ${buffers} buffers, ${buffers / 2} changed; median of ${ROUNDS}`);
    for (const [name, { seconds, fsyncs }] of Object.entries(results)) {
      console.log(`  ${name.padEnd(20)} ${median(seconds).toFixed(2)} s   (${seconds.map((value) => value.toFixed(2)).join(', ')})   bitmap fsyncs: ${fsyncs}`);
    }
  } finally {
    dir.cleanup();
  }
}

for (const bufferKb of (process.env.BENCH_BUFFERS ?? '64,2048').split(',').map(Number)) bench(bufferKb);

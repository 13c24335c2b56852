// The --passes case of the bench (issue 11): what the later pass (re-hashing what the main pass sent)
// costs on the "SYNC 1 % changed" case of the bench (scattered 64 KiB regions), with and without a
// bitmap, over the local pipe. Runs with --passes 1 and --passes 2 alternate, from the same starting
// state, so that both see the same load; the best --stat time of each counts. The rule: a cost
// over 5 % makes the later pass opt-in (default --passes 1).
//
// Alone, with the repo's dist/ (npm run build first):
//   node --import tsx scripts/bench-passes.ts [--size-mb N] [--rounds N]
import { closeSync, copyFileSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BasynRunner } from './bench-run';
import { sha256File, writeRandom } from '../test/helpers/images';

const MiB = 1024 * 1024;
const REGION = 64 * 1024;

export interface PassesCase {
  readonly bitmap: boolean;
  /** Best --stat seconds with --passes 1 and --passes 2. */
  readonly one: number;
  readonly two: number;
  /** two / one - 1, in %. */
  readonly costPercent: number;
}

function copyDurably(from: string, to: string): void {
  copyFileSync(from, to);
  const fd = openSync(to, 'r+');
  try {
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export async function runPassesBench(options: { controller: string; workDir: string; sizeMb: number; rounds: number; log: (text: string) => void }): Promise<PassesCase[]> {
  const size = options.sizeMb * MiB;
  const file = (name: string) => join(options.workDir, name);
  const [src, changed, work, bitmap] = [file('passes-src.img'), file('passes-changed.img'), file('passes-work.img'), file('passes.bitmap')];
  writeRandom(src, size);
  copyFileSync(src, changed);
  const fd = openSync(changed, 'r+');
  const slots = Math.floor(size / REGION);
  for (let region = 0; region < Math.max(1, Math.round(slots / 100)); region++) writeSync(fd, randomBytes(REGION), 0, REGION, Math.floor(Math.random() * slots) * REGION);
  closeSync(fd);
  const expect = await sha256File(changed);
  const runner = new BasynRunner(options.controller, options.workDir);
  const results: PassesCase[] = [];
  for (const withBitmap of [false, true]) {
    const best = { 1: Infinity, 2: Infinity };
    for (let round = 0; round < options.rounds; round++) {
      for (const passes of [1, 2] as const) {
        copyDurably(src, work);
        if (withBitmap) {
          rmSync(bitmap, { force: true });
          const setup = await runner.run(['-l', src, '-r', work, '-a', 'PUSH', '-m', 'SYNC', '-b', bitmap, '--update-bitmap']);
          if (!setup.ok) throw new Error(`bitmap set-up failed: ${setup.error}`);
        }
        const run = await runner.run(['-l', changed, '-r', work, '-a', 'PUSH', '-m', 'SYNC', '--passes', String(passes), ...(withBitmap ? ['-b', bitmap] : [])]);
        if (!run.ok || run.statSeconds === undefined) throw new Error(`--passes ${passes} failed: ${run.error}`);
        if ((await sha256File(work)) !== expect) throw new Error(`WRONG RESULT with --passes ${passes}`);
        best[passes] = Math.min(best[passes], run.statSeconds);
        options.log(`bench: passes ${withBitmap ? 'with bitmap' : 'no bitmap'} round ${round + 1}: --passes ${passes} ${run.statSeconds.toFixed(3)} s`);
      }
    }
    results.push({ bitmap: withBitmap, one: best[1], two: best[2], costPercent: (100 * (best[2] - best[1])) / best[1] });
  }
  return results;
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const option = (name: string, fallback: number) => {
    const index = argv.indexOf(name);
    return index >= 0 ? Number(argv[index + 1]) : fallback;
  };
  const workDir = mkdtempSync(join(tmpdir(), 'basyn-bench-passes-'));
  runPassesBench({ controller: join(__dirname, '..', 'dist', 'basyn.js'), workDir, sizeMb: option('--size-mb', 512), rounds: option('--rounds', 3), log: (text) => console.error(text) })
    .then((results) => {
      for (const result of results) {
        console.log(`SYNC 1 % changed${result.bitmap ? ', with bitmap' : ''}, pipe: --passes 1 ${result.one.toFixed(3)} s, --passes 2 ${result.two.toFixed(3)} s: cost ${result.costPercent.toFixed(1)} %`);
      }
    })
    .finally(() => rmSync(workDir, { recursive: true, force: true }));
}

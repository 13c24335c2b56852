// The --rsh command that runs test/helpers/tamper-agent.ts (a misbehaving agent) in MODE. The
// script is bundled once per test process with esbuild, so each run starts it as fast as the real
// agent (under tsx every start would compile it again).
import { buildSync } from 'esbuild';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TamperMode } from './tamper-agent';

let bundled: string | undefined;

function bundle(): string {
  if (bundled) return bundled;
  // A directory of its own: ava runs test files as worker threads of one process (one pid).
  const dir = mkdtempSync(join(tmpdir(), 'basyn-tamper-agent-'));
  const outfile = join(dir, 'tamper-agent.js');
  buildSync({ entryPoints: [join(__dirname, 'tamper-agent.ts')], bundle: true, platform: 'node', format: 'cjs', outfile, logLevel: 'warning' });
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  bundled = outfile;
  return outfile;
}

export function tamperCommand(mode: TamperMode): string {
  return `'${process.execPath}' '${bundle()}' ${mode}`;
}

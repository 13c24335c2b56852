// Runs the built CLI (bin/basyn -> dist/basyn.js) as a user would, capturing exit code and output.
// `npm test` builds first; run `npm run build` before `npx ava` by hand.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const BASYN = join(__dirname, '..', '..', 'bin', 'basyn');

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function basyn(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BASYN, ...args], { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
    child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`basyn ${args.join(' ')} timed out`)); }, options.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
    child.stdin.end(options.input ?? '');
  });
}

// Runs an external program (lvm, losetup) with an argument vector, never through a shell, and returns
// what it printed. The caller decides what a failure means; this module only says how it ended.
import { spawn } from 'node:child_process';

export interface ProgramResult {
  /** Exit code, or undefined when it was killed or could not start (see `failure`). */
  readonly code: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
  /** Why it did not run to an exit code: "not found", "killed by SIGKILL (timeout)", ... */
  readonly failure?: string;
}

/** Output kept per stream: lvm and losetup print a few lines; a runaway program is cut. */
const OUTPUT_MAX = 64 * 1024;

export function runProgram(program: string, args: readonly string[], timeoutMs = 120_000): Promise<ProgramResult> {
  return new Promise((resolve) => {
    // stdin closed: a program that would prompt (lvm's "Do you really want...?") gets EOF, not a hang.
    // Its own process group: a Ctrl-C meant for basyn must not cut an lvcreate or a release short (basyn
    // finishes or undoes what the program did; systemd's final SIGKILL still reaches it).
    const child = spawn(program, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LVM_SUPPRESS_FD_WARNINGS: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => { if (stdout.length < OUTPUT_MAX) stdout += text; });
    child.stderr.setEncoding('utf8').on('data', (text: string) => { if (stderr.length < OUTPUT_MAX) stderr += text; });
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ code: undefined, stdout, stderr, failure: error.code === 'ENOENT' ? `${program} not found` : error.message });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === null) resolve({ code: undefined, stdout, stderr, failure: `${program} killed by ${signal}${timedOut ? ` after ${timeoutMs / 1000} s` : ''}` });
      else resolve({ code, stdout, stderr });
    });
  });
}

/** The last non-empty line a failed program printed (its error), or how it ended. */
export function failureText(result: ProgramResult): string {
  if (result.failure) return result.failure;
  const line = result.stderr.split('\n').map((text) => text.trim()).filter(Boolean).pop();
  return line ? `${line} (exit code ${result.code})` : `exit code ${result.code}`;
}

// Runs `basyn tasks` as a user (or a systemd timer) would, with a private state folder, and can send it
// a signal (or SIGKILL) when its log reaches a given line.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BASYN, type RunResult } from './cli';

export interface TaskObject {
  readonly type: 'task';
  readonly task: string;
  readonly status: string;
  readonly runId: string;
  readonly phases: Record<string, number>;
  readonly changedBytes: number;
  readonly writtenBytes: number;
  readonly linkBytes: number;
  readonly error: { code: string; message: string } | null;
}

export interface TasksRun extends RunResult {
  /** The --json objects of type `task`, by task name. */
  readonly tasks: Record<string, TaskObject>;
  readonly summary?: Record<string, number>;
}

export interface TasksOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Send `signal` once stderr contains `when` (or `when()` is true); `group`: to the whole process group, as a terminal's Ctrl-C does. */
  readonly interrupt?: { readonly when: string | RegExp | (() => boolean); readonly signal: NodeJS.Signals; readonly delayMs?: number; readonly group?: boolean };
  readonly timeoutMs?: number;
}

/** Writes `text` as `dir`/tasks.conf and returns its path. */
export function writeConfig(dir: string, text: string): string {
  const file = join(dir, 'tasks.conf');
  writeFileSync(file, text);
  return file;
}

/** The environment of a run: state in `stateHome` (task locks, loop records), release retries fast. */
export function tasksEnv(stateHome: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, XDG_STATE_HOME: stateHome, BASYN_RELEASE_RETRY_MS: '50', ...extra };
}

export function runTasks(args: string[], options: TasksOptions = {}): Promise<TasksRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BASYN, 'tasks', ...args], { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: options.interrupt?.group });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
    const cue = options.interrupt;
    const check = () => {
      if (!cue || sent) return;
      const due = typeof cue.when === 'string' ? stderr.includes(cue.when) : cue.when instanceof RegExp ? cue.when.test(stderr) : cue.when();
      if (!due) return;
      sent = true;
      setTimeout(() => {
        // The run may have ended already (ESRCH): the test then fails on its exit code, not as an uncaught exception.
        try {
          if (cue.group) process.kill(-(child.pid as number), cue.signal);
          else child.kill(cue.signal);
        } catch { /* gone */ }
      }, cue.delayMs ?? 0);
    };
    const poll = typeof cue?.when === 'function' ? setInterval(check, 50) : undefined;
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
      check();
    });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`basyn tasks ${args.join(' ')} timed out; stderr: ${stderr}`)); }, options.timeoutMs ?? 240_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      clearInterval(poll);
      const objects = stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { type: string; task?: string });
      const tasks: Record<string, TaskObject> = {};
      for (const object of objects) if (object.type === 'task') tasks[object.task as string] = object as TaskObject;
      const summary = objects.find((object) => object.type === 'summary') as Record<string, number> | undefined;
      resolve({ code, signal, stdout, stderr, tasks, summary });
    });
  });
}

// One task of `basyn tasks`, from its lock to its release: each phase timed.
//   lock      <state>/task-NAME.lock, never waited for: held by a live run, the task is skipped (failed)
//   snapshot  the source's and target's resources acquired (an LVM snapshot, loop devices); with the
//             lock held, what a killed earlier run of this task left is removed first
//   sync      `basyn SOURCE TARGET -a PUSH -m MODE ... --json`, or with patch_dir `--diff PATCH`
//   apply     (patch_dir) `basyn patch PATCH TARGET`: the patch staged on the target's host, applied there
//   recheck   (recheck = true) `basyn ... --recheck`
//   release   every resource given back (resources/resource.ts), whatever happened before
// Each sync, apply and recheck is a child `basyn` process, the command a user could type (shown with
// --log-level debug): a task that crashes, hangs or is killed cannot take the other tasks with it, and
// each keeps the CLI's own, tested handling of signals (its agents stopped, its bitmap lock released).
// A signal to `basyn tasks` is passed on to the running children; the release still follows.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { BasynError, TaskFailure, basynError, systemErrorText } from '../../shared/errors';
import { LockFile, type LockRefusal } from '../lock-file';
import { unexpectedError } from '../command-errors';
import { resourceSchemeOf } from '../resources/index';
import { holdResources, newRunId, type EndpointRole, type HeldEndpoint } from '../resources/resource';
import { runProgram } from '../resources/run-program';
import type { Task } from './config';
import { deviceArgs, plainEndpoint } from './endpoint-args';

export type TaskStatus = 'ok' | 'failed' | 'skipped' | 'disabled' | 'interrupted';
export type Phase = 'snapshot' | 'sync' | 'apply' | 'recheck' | 'release';
export type LogLevel = 'debug' | 'info' | 'warning' | 'error';

export interface TaskOutcome {
  readonly task: string;
  readonly status: TaskStatus;
  readonly runId: string;
  /** Seconds per phase that ran. */
  readonly phases: Partial<Record<Phase, number>>;
  /** Bytes found different, written to the target, and carried over the link to a remote side. */
  readonly changedBytes: number;
  readonly writtenBytes: number;
  readonly linkBytes: number;
  /** patch_dir: the size of the patch made and applied (`--diff` does not report changed bytes). */
  readonly patchBytes?: number;
  readonly durationSeconds: number;
  readonly error?: { readonly code: string; readonly message: string };
}

export interface TaskEnvironment {
  /** How to run basyn itself: node and the script. */
  readonly basyn: readonly string[];
  readonly stateDir: string;
  readonly log: (level: LogLevel, text: string) => void;
  /** Fires on SIGINT/SIGTERM/SIGHUP; `signal()` says which, to pass on to the children. */
  readonly abort: AbortSignal;
  readonly signal: () => NodeJS.Signals;
  readonly verbose: boolean;
}


export async function runTask(task: Task, env: TaskEnvironment): Promise<TaskOutcome> {
  const started = Date.now();
  const runId = newRunId();
  const phases: Partial<Record<Phase, number>> = {};
  const figures: Figures = { changedBytes: 0, writtenBytes: 0, linkBytes: 0 };
  const outcome = (status: TaskStatus, error?: { code: string; message: string }): TaskOutcome => ({
    task: task.name, status, runId, phases, ...figures, durationSeconds: (Date.now() - started) / 1000, ...(error ? { error } : {}),
  });
  if (task.disabled) return outcome('disabled');

  let lock: LockFile;
  try {
    await fs.mkdir(env.stateDir, { recursive: true, mode: 0o700 });
    lock = await LockFile.acquire(join(env.stateDir, `task-${task.name}.lock`), (refusal) => lockRefused(refusal, env.stateDir));
  } catch (error) {
    const failure = asFailure(error);
    return outcome(failure.status === 'skipped' ? 'skipped' : 'failed', { code: failure.code, message: failure.message });
  }
  if (lock.tookOverFrom) env.log('info', `an earlier run (pid ${lock.tookOverFrom.pid}) did not end: what it left is cleaned up`);
  const timer = new PhaseTimer(phases, env);
  try {
    timer.start('snapshot');
    const held = (endpoint: string, role: EndpointRole): HeldEndpoint => ({
      endpoint,
      scheme: resourceSchemeOf(endpoint),
      context: {
        task: task.name, runId, role, settings: task.resources, stateDir: env.stateDir, leftoversAreOurs: true,
        log: (text) => env.log('info', text),
      },
    });
    // The source first: a missing target is made as large as the source's device.
    await holdResources([held(task.source, 'source')], async ([source]) => {
      if (task.createTargetIfMissing) await createTarget(task, source, env);
      await holdResources([held(task.target, 'target')], async ([target]) => {
        timer.start('sync');
        try {
          await syncPhases(task, source, target, env, timer, figures, runId);
        } finally {
          timer.start('release');
        }
      }, (text) => env.log('error', text));
    }, (text) => env.log('error', text));
    timer.stop();
    return outcome('ok');
  } catch (error) {
    timer.stop();
    const failure = env.abort.aborted ? new TaskFailure(String((env.abort.reason as Error).message), 'EINTR', 'interrupted') : asFailure(error);
    return outcome(failure.status, { code: failure.code, message: failure.message });
  } finally {
    await lock.release();
  }
}

function lockRefused(refusal: LockRefusal, stateDir: string): TaskFailure {
  switch (refusal.kind) {
    case 'alive': return basynError('TASK_RUNNING', refusal.owner.pid);
    case 'other-host': return basynError('TASK_RUNNING_ELSEWHERE', refusal.owner.host, refusal.owner.pid);
    case 'not-a-lock': return basynError('TASK_LOCK_NOT_OURS', stateDir, refusal.detail);
    case 'failed': return basynError('TASK_LOCK_UNREADABLE', stateDir, systemErrorText(refusal.error));
  }
}

function asFailure(error: unknown): TaskFailure {
  if (error instanceof TaskFailure) return error;
  if (error instanceof BasynError) return new TaskFailure(error.message, error.code);
  const unexpected = unexpectedError(error);
  return new TaskFailure(unexpected.message, unexpected.code);
}

/** Times one phase after another; each phase's end is logged. */
class PhaseTimer {
  private current?: { phase: Phase; since: number };

  constructor(private readonly phases: Partial<Record<Phase, number>>, private readonly env: TaskEnvironment) {}

  start(phase: Phase): void {
    this.stop();
    this.current = { phase, since: Date.now() };
  }

  stop(): void {
    if (!this.current) return;
    const seconds = (Date.now() - this.current.since) / 1000;
    this.phases[this.current.phase] = seconds;
    this.env.log('info', `${this.current.phase}: ${seconds.toFixed(2)} s`);
    this.current = undefined;
  }
}

async function syncPhases(
  task: Task, source: string, target: string, env: TaskEnvironment, timer: PhaseTimer,
  figures: Figures, runId: string,
): Promise<void> {
  const devices = deviceArgs(source, target);
  const record = (end: EndEvent | undefined) => {
    figures.changedBytes += end?.changedBytes ?? 0;
    figures.writtenBytes += end?.writtenBytes ?? 0;
    figures.linkBytes += end?.both ?? 0;
  };
  if (task.patchDir) {
    const patch = join(task.patchDir, `${task.name}-${runId}.patch`);
    record(await runBasyn([...devices, '-m', 'SYNC', '--diff', patch, ...task.syncOptions], env, true));
    figures.patchBytes = (await fs.stat(patch)).size;
    timer.start('apply');
    const to = plainEndpoint(target, 'target');
    const connection = task.syncOptions.flatMap((option, index, all) => (option === '--ssh-config' || option === '--identity' ? [option, all[index + 1]] : []));
    const host = to.kind === 'remote'
      ? ['-h', to.host, ...(to.user !== undefined ? ['-u', to.user] : []), ...(to.port !== undefined ? ['-p', String(to.port)] : []), ...connection]
      : [];
    await runBasyn(['patch', patch, to.path, ...host], env, false);
    await fs.unlink(patch).catch(() => undefined);
  } else {
    record(await runBasyn([...devices, '-m', task.mode, ...(task.bitmap ? ['-b', task.bitmap] : []), ...task.syncOptions], env, true));
  }
  if (task.recheck) {
    timer.start('recheck');
    await runBasyn([...devices, '--recheck', ...(task.bitmap && !task.patchDir ? ['-b', task.bitmap] : []), ...task.syncOptions], env, true);
  }
}

interface Figures {
  changedBytes: number;
  writtenBytes: number;
  linkBytes: number;
  patchBytes?: number;
}

/** The `end` event of a run's --json output (docs/json.md): the figures a task reports. */
interface EndEvent {
  exitCode: number;
  changedBytes?: number;
  writtenBytes?: number;
  both?: number;
  error?: { code: string; message: string };
}

/** Runs `basyn ARGS` (with --json when `json`), passing the run's signal on; throws unless it exits 0. */
function runBasyn(args: string[], env: TaskEnvironment, json: boolean): Promise<EndEvent | undefined> {
  if (env.abort.aborted) return Promise.reject(env.abort.reason);
  const argv = [...args, ...(json ? ['--json'] : []), ...(env.verbose ? ['--verbose'] : [])];
  env.log('debug', `running: basyn ${argv.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`)).join(' ')}`);
  return new Promise((resolve, reject) => {
    const [node, ...script] = env.basyn;
    // The child's stdin is a pipe this process holds: if it dies, even by SIGKILL, the run stops (main.ts).
    const child = spawn(node, [...script, ...argv], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, BASYN_STOP_WITH_STDIN: '1' } });
    child.stdin.on('error', () => undefined);
    const onAbort = () => child.kill(env.signal());
    env.abort.addEventListener('abort', onAbort);
    let end: EndEvent | undefined;
    let lastError = '';
    lines(child.stdout, (line) => {
      try {
        const event = JSON.parse(line) as { type?: string; message?: string } & EndEvent;
        if (event.type === 'end') end = event;
        else if (event.type === 'warning') env.log('warning', event.message ?? line);
      } catch {
        env.log('debug', line);
      }
    });
    lines(child.stderr, (line) => {
      if (line.trim()) lastError = line;
      env.log('debug', line);
    });
    child.once('error', (error) => { env.abort.removeEventListener('abort', onAbort); reject(basynError('TASK_SPAWN', error.message)); });
    child.once('close', (code, signal) => {
      env.abort.removeEventListener('abort', onAbort);
      if (code === 0) return resolve(end);
      if (env.abort.aborted) return reject(env.abort.reason);
      const message = end?.error?.message ?? (lastError || `basyn ${args[0] === 'patch' ? 'patch ' : ''}ended with ${signal ? `signal ${signal}` : `exit code ${code}`}`);
      reject(new TaskFailure(message, end?.error?.code ?? (code === 1 ? 'EUSAGE' : 'ESYNC')));
    });
  });
}

function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    const parts = (partial + text).split('\n');
    partial = parts.pop() as string;
    parts.forEach(onLine);
  });
  stream.on('end', () => { if (partial) onLine(partial); });
}

/** create_target_if_missing: a sparse file of the source's size, created (O_EXCL) only if nothing is there. */
async function createTarget(task: Task, source: string, env: TaskEnvironment): Promise<void> {
  const file = task.target.startsWith('loop://') ? task.target.slice('loop://'.length) : task.target;
  const exists = await fs.stat(file).then(() => true, (error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return false;
    throw basynError('TASK_TARGET', file, systemErrorText(error));
  });
  if (exists) return;
  const size = await deviceSize(source);
  const handle = await fs.open(file, 'wx', 0o600).catch((error: unknown) => {
    throw basynError('TASK_TARGET', file, systemErrorText(error));
  });
  try {
    await handle.truncate(size);
  } finally {
    await handle.close();
  }
  env.log('info', `created target ${file} (${size} bytes, sparse) as create_target_if_missing says`);
}

async function deviceSize(path: string): Promise<number> {
  const stat = await fs.stat(path).catch((error: unknown) => { throw basynError('TASK_SOURCE', path, systemErrorText(error)); });
  if (!stat.isBlockDevice()) return stat.size;
  const result = await runProgram('blockdev', ['--getsize64', path]);
  const size = Number(result.stdout.trim());
  if (result.code !== 0 || !Number.isSafeInteger(size)) throw basynError('TASK_SOURCE_SIZE', path);
  return size;
}

// `basyn tasks [--config FILE] [--task NAME]... [--jobs N] [--log-level LEVEL] [--json]`: the tasks
// of one config file (config.ts), checked in full before any runs, then run one after another (or
// --jobs at once), each as task-run.ts says. A failed task does not stop the others.
// Exit: 0 every task ok (or disabled), 3 a task failed (or was skipped as already running), 4
// interrupted (SIGINT/SIGTERM/SIGHUP: running tasks end and release what they hold, no new one starts),
// 1 a config or usage error (nothing ran). With --json, stdout carries one object per task at its end
// and a last `summary`; the log goes to stderr either way.
import { Command, Option } from 'commander';
import { EXIT_OK, basynError } from '../../shared/errors';
import { parseCommand, reportError } from '../command-errors';
import { printable } from '../../shared/remote-text';
import { defaultStateDir } from '../../remote/patch-journal';
import { DEFAULT_CONFIG, loadConfig, type Task } from './config';
import { runTask, type LogLevel, type TaskOutcome } from './task-run';

export const EXIT_TASK_FAILED = 3;
export const EXIT_INTERRUPTED = 4;
const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warning', 'error'];
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

interface TasksRawOptions {
  config: string;
  task?: string[];
  jobs?: string;
  logLevel: string;
  json?: boolean;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function buildTasksProgram(): Command {
  return new Command('basyn tasks')
    .description('Run the tasks of a config file: each syncs a SOURCE to a TARGET (see README, "Many volumes, many hosts").\nExit 0: all ok; 3: a task failed; 4: interrupted; 1: config or usage error (nothing ran).')
    .helpOption('--help', 'display help')
    .option('--config <file>', 'the tasks config (INI)', DEFAULT_CONFIG)
    .addOption(new Option('--task <name>', 'run only this task (repeatable); default: every task').argParser(collect))
    .option('--jobs <n>', 'tasks run at once (default: 1, one after another)')
    .option('--log-level <level>', 'debug, info, warning or error', 'info')
    .option('--json', 'one JSON object per task on stdout at its end, then a summary; the log goes to stderr')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
}

export async function tasksMain(argv: string[]): Promise<number> {
  const program = buildTasksProgram();
  const parsed = parseCommand(program, argv);
  if (parsed !== undefined) return parsed;
  const raw = program.opts<TasksRawOptions>();
  try {
    const level = raw.logLevel.toLowerCase() as LogLevel;
    if (!LEVELS.includes(level)) throw basynError('TASKS_LOG_LEVEL', LEVELS.join(', '), raw.logLevel);
    const jobs = raw.jobs === undefined ? 1 : Number(raw.jobs);
    if (!/^\d+$/.test(raw.jobs ?? '1') || jobs < 1 || jobs > 64) throw basynError('TASKS_JOBS', String(raw.jobs));
    const tasks = selectTasks(await loadConfig(raw.config), raw.task ?? [], raw.config);
    return await runTasks(tasks, { jobs, level, json: !!raw.json });
  } catch (error) {
    return reportError(error, (text) => process.stderr.write(text), false).exitCode;
  }
}

/** --task names: each must be a task of the config (an unknown one is a usage error, not a warning). */
function selectTasks(tasks: Task[], names: string[], config: string): Task[] {
  if (names.length === 0) return tasks;
  for (const name of names) {
    if (!tasks.some((task) => task.name === name)) {
      throw basynError('TASKS_UNKNOWN_TASK', name, config, tasks.length > 0 ? tasks.map((task) => task.name).join(', ') : 'no tasks');
    }
  }
  return tasks.filter((task) => names.includes(task.name));
}

interface RunSettings {
  readonly jobs: number;
  readonly level: LogLevel;
  readonly json: boolean;
}

async function runTasks(tasks: Task[], settings: RunSettings): Promise<number> {
  const controller = new AbortController();
  let signalled: NodeJS.Signals = 'SIGTERM';
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) return;
    signalled = signal;
    controller.abort(basynError('INTERRUPTED', signal));
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  const log = (task: string, level: LogLevel, text: string) => {
    if (LEVELS.indexOf(level) < LEVELS.indexOf(settings.level)) return;
    process.stderr.write(`[${task}] ${level === 'info' ? '' : `${level}: `}${printable(text, 4000)}\n`);
  };
  const outcomes: TaskOutcome[] = [];
  const queue = [...tasks];
  const worker = async () => {
    for (let task = queue.shift(); task; task = queue.shift()) {
      if (controller.signal.aborted) break;
      if (!task.disabled) log(task.name, 'info', `starting: ${task.source} -> ${task.target}`);
      const outcome = await runTask(task, {
        basyn: [process.execPath, process.argv[1]],
        stateDir: defaultStateDir(),
        log: (level, text) => log(task.name, level, text),
        abort: controller.signal,
        signal: () => signalled,
        verbose: settings.level === 'debug',
      });
      outcomes.push(outcome);
      report(outcome, settings, log);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(settings.jobs, Math.max(1, tasks.length)) }, worker));
  } finally {
    for (const signal of SIGNALS) process.off(signal, onSignal);
  }
  const failed = outcomes.filter((outcome) => outcome.status === 'failed' || outcome.status === 'skipped').length;
  const exitCode = controller.signal.aborted ? EXIT_INTERRUPTED : failed > 0 ? EXIT_TASK_FAILED : EXIT_OK;
  const count = (status: string) => outcomes.filter((outcome) => outcome.status === status).length;
  if (settings.json) {
    process.stdout.write(`${JSON.stringify({
      type: 'summary', exitCode, ok: count('ok'), failed: count('failed'), skipped: count('skipped'), disabled: count('disabled'),
      interrupted: count('interrupted'), notStarted: tasks.length - outcomes.length,
    })}\n`);
  }
  return exitCode;
}

const PHASES = ['snapshot', 'sync', 'apply', 'recheck', 'release'] as const;

/** The task's end: one log line (timings and bytes, or why it failed), and its JSON object. */
function report(outcome: TaskOutcome, settings: RunSettings, log: (task: string, level: LogLevel, text: string) => void): void {
  const timings = PHASES.filter((phase) => outcome.phases[phase] !== undefined).map((phase) => `${phase} ${(outcome.phases[phase] as number).toFixed(2)} s`).join(', ');
  const bytes = `${outcome.changedBytes} bytes changed, ${outcome.writtenBytes} written, ${outcome.linkBytes} over the link`;
  switch (outcome.status) {
    case 'ok': log(outcome.task, 'info', `ok: ${timings}; ${bytes}`); break;
    case 'disabled': log(outcome.task, 'info', 'disabled: not run'); break;
    case 'skipped': log(outcome.task, 'error', `skipped: ${outcome.error?.message}`); break;
    default: log(outcome.task, 'error', `${outcome.status}: ${outcome.error?.message}${timings ? ` (${timings})` : ''}`);
  }
  if (settings.json) process.stdout.write(`${JSON.stringify({ type: 'task', ...outcome, error: outcome.error ?? null })}\n`);
}

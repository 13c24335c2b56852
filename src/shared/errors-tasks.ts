// The errors of `basyn tasks` (local/tasks/), by their code in docs/errors.md: a config or command line
// that cannot be used is exit 1 before any task runs; a task that fails is exit 3 for the whole command
// (kind `task`, or `task-skipped` for a task that is not run). `where` is "FILE:LINE: key 'KEY'" (the
// task's line of that key, else [DEFAULT]'s). Raise one with basynError(CODE, ...) from errors.ts.

export const TASKS_ERRORS = {
  // The command line (tasks-command.ts).
  TASKS_JOBS: { code: 'EUSAGE', kind: 'usage', message: (n: string) => `--jobs must be a whole number from 1 to 64, got '${n}'` },
  TASKS_LOG_LEVEL: { code: 'EUSAGE', kind: 'usage', message: (levels: string, level: string) => `--log-level must be one of ${levels}, got '${level}'` },
  /** `tasks`: the config's task names, or "no tasks". */
  TASKS_UNKNOWN_TASK: { code: 'ETASKUNKNOWN', kind: 'usage', message: (name: string, file: string, tasks: string) => `Unknown task '${name}': ${file} has ${tasks}` },

  // The config file (config.ts): the whole file is checked before any task runs.
  TASKS_CONFIG_MISSING: { code: 'ECONFIG', kind: 'usage', message: (file: string, reason: string) => `Config file ${file}: ${reason}` },
  TASKS_CONFIG_SYNTAX: { code: 'ECONFIG', kind: 'usage', message: (file: string, line: number, text: string) => `${file}:${line}: expected [task] or key = value, got '${text}'` },
  TASKS_CONFIG_TASK_NAME: { code: 'ECONFIG', kind: 'usage', message: (file: string, line: number, task: string) => `${file}:${line}: [${task}]: a task name is 1 to 64 letters, digits, _ + - (no dots or blanks)` },
  TASKS_CONFIG_OUTSIDE_SECTION: { code: 'ECONFIG', kind: 'usage', message: (file: string, line: number, key: string) => `${file}:${line}: key '${key}' is outside any section; put it under [DEFAULT] or a [task]` },
  /** `where`: "FILE:LINE", or FILE when the key is on no line of its own. */
  TASKS_CONFIG_UNKNOWN_KEY: { code: 'ECONFIG', kind: 'usage', message: (where: string, key: string, known: string) => `${where}: unknown key '${key}' (known: ${known})` },
  TASKS_CONFIG_NO_ENDPOINT: { code: 'ECONFIG', kind: 'usage', message: (file: string, line: number, task: string, key: string) => `${file}:${line}: [${task}] has no '${key}'` },
  /** `what`: the message of the option the key stands for ("--zlevel must be between 0 and 9, got 12"). */
  TASKS_CONFIG_KEY: { code: 'ECONFIG', kind: 'usage', message: (where: string, what: string) => `${where}: ${what}` },
  TASKS_CONFIG_LIST: { code: 'ECONFIG', kind: 'usage', message: (where: string) => `${where}: one value expected (no key[] lists)` },
  TASKS_CONFIG_EMPTY: { code: 'ECONFIG', kind: 'usage', message: (where: string) => `${where}: empty value` },
  TASKS_CONFIG_FLAG: { code: 'ECONFIG', kind: 'usage', message: (where: string, value: string) => `${where}: expected true or false, got '${value}'` },
  TASKS_CONFIG_CREATE_TARGET: { code: 'ECONFIG', kind: 'usage', message: (where: string) => `${where}: needs a source and a target on this machine (it creates a local image file)` },
  TASKS_CONFIG_SNAPSHOT_NAME: { code: 'ECONFIG', kind: 'usage', message: (where: string) => `${where}: the source is not an lvm+snapshot:// endpoint` },
  TASKS_CONFIG_PATCH_DIR_BITMAP: { code: 'ECONFIG', kind: 'usage', message: (where: string) => `${where}: patch_dir and bitmap cannot be used together (the patch is made against the target itself)` },
  TASKS_CONFIG_PATCH_DIR: { code: 'ECONFIG', kind: 'usage', message: (where: string, dir: string) => `${where}: ${dir} is not a directory` },
  /** `what`: the message of the options together ("--diff can be used with -m SYNC only"). */
  TASKS_CONFIG_TASK: { code: 'ECONFIG', kind: 'usage', message: (file: string, line: number, task: string, what: string) => `${file}:${line}: [${task}]: ${what}` },
  TASKS_BOTH_REMOTE: { code: 'ECONFIG', kind: 'usage', message: (source: string, target: string) => `source ${source} and target ${target} are both remote: one side must be on this machine` },

  // A task that fails or is not run (task-run.ts): one log line, the task's `error` in --json.
  TASK_RUNNING: { code: 'ETASKRUNNING', kind: 'task-skipped', message: (pid: number) => `already running (pid ${pid})` },
  TASK_RUNNING_ELSEWHERE: { code: 'ETASKRUNNING', kind: 'task-skipped', message: (host: string, pid: number) => `already running on host ${host} (pid ${pid})` },
  TASK_LOCK_NOT_OURS: { code: 'ETASKLOCK', kind: 'task', message: (dir: string, what: string) => `the task lock in ${dir} is not a lock basyn wrote (${what}); move it away` },
  TASK_LOCK_UNREADABLE: { code: 'ETASKLOCK', kind: 'task', message: (dir: string, reason: string) => `Task lock in ${dir}: ${reason}` },
  TASK_TARGET: { code: 'ETARGET', kind: 'task', message: (file: string, reason: string) => `Target ${file}: ${reason}` },
  TASK_SOURCE: { code: 'ESOURCE', kind: 'task', message: (path: string, reason: string) => `Source ${path}: ${reason}` },
  TASK_SOURCE_SIZE: { code: 'ESOURCE', kind: 'task', message: (path: string) => `Could not read the size of ${path} (blockdev --getsize64)` },
  TASK_SPAWN: { code: 'ESPAWN', kind: 'task', message: (reason: string) => `Could not run basyn: ${reason}` },
} as const;

// The tasks config (`basyn tasks`, default /etc/basyn/tasks.conf): INI, parsed by the `ini` package.
// [DEFAULT] is inherited by every [task]; every key of every task (disabled ones too) is checked here,
// before any task runs, and a bad one is a TASKS_CONFIG_ error (errors-tasks.ts: exit 1) naming FILE:LINE and the key. `ini`
// does not say where a key was, so the lines are found by a scan of the text (`locate`), which also
// refuses what `ini` would silently reshape (keys outside a section, section names with dots).
import { promises as fs, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseIni } from 'ini';
import { basynError, systemErrorText } from '../../shared/errors';
import { parseSize } from '../../shared/size';
import { validateOptions, type RawOptions } from '../options';
import { resourceSchemeOf } from '../resources/index';
import type { ResourceSettings } from '../resources/resource';
import { deviceArgs, plainEndpoint } from './endpoint-args';

export const DEFAULT_CONFIG = '/etc/basyn/tasks.conf';
export const DEFAULT_SECTION = 'DEFAULT';
/** Task names become part of snapshot and lock file names: LVM's characters, no dots. */
const TASK_NAME = /^[A-Za-z0-9_][A-Za-z0-9_+-]{0,63}$/;

export interface Task {
  readonly name: string;
  /** The [section]'s line, for messages. */
  readonly line: number;
  readonly source: string;
  readonly target: string;
  readonly disabled: boolean;
  readonly recheck: boolean;
  readonly createTargetIfMissing: boolean;
  readonly mode: 'SYNC' | 'COPY';
  readonly bitmap?: string;
  readonly patchDir?: string;
  /** basyn options of the sync, checked by options.ts: --hash, --buffer, --chunk, --zlevel, --bwlimit, -F, -i. */
  readonly syncOptions: readonly string[];
  readonly resources: ResourceSettings;
}

/** Every key a task may have, with the basyn option it becomes (if it is one). */
const KEYS: Readonly<Record<string, string | undefined>> = {
  source: undefined,
  target: undefined,
  bitmap: '--bitmap',
  mode: '--mode',
  hash: '--hash',
  buffer: '--buffer',
  chunk: '--chunk',
  zlevel: '--zlevel',
  bwlimit: '--bwlimit',
  recheck: undefined,
  ssh_config: '--ssh-config',
  identity: '--identity',
  disabled: undefined,
  create_target_if_missing: undefined,
  lvm_snapshot_size: undefined,
  lvm_snapshot_name: undefined,
  lvm_program_path: undefined,
  patch_dir: undefined,
};

/** Where each section and key is: "section\0key" → line (the last one wins, as in `ini`). */
interface Places {
  readonly sections: Map<string, number>;
  readonly keys: Map<string, number>;
}

function locate(file: string, text: string): Places {
  const sections = new Map<string, number>();
  const keys = new Map<string, number>();
  let section: string | undefined;
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith(';') || trimmed.startsWith('#')) return;
    const header = /^\[(.*)\]$/.exec(trimmed);
    if (header) {
      section = header[1].trim();
      if (section !== DEFAULT_SECTION && !TASK_NAME.test(section)) {
        throw basynError('TASKS_CONFIG_TASK_NAME', file, line, section);
      }
      if (!sections.has(section)) sections.set(section, line);
      return;
    }
    const key = /^([^=]*?)\s*=/.exec(trimmed)?.[1];
    if (key === undefined || key === '') throw basynError('TASKS_CONFIG_SYNTAX', file, line, trimmed.slice(0, 80));
    if (section === undefined) throw basynError('TASKS_CONFIG_OUTSIDE_SECTION', file, line, key);
    keys.set(`${section}\0${key}`, line);
  });
  return { sections, keys };
}

type Values = Record<string, unknown>;

/** Reads, parses and checks the whole config; throws a TASKS_CONFIG_ error (exit 1) at the first problem. */
export async function loadConfig(file: string): Promise<Task[]> {
  const text = await fs.readFile(file, 'utf8').catch((error: unknown) => {
    throw basynError('TASKS_CONFIG_MISSING', file, systemErrorText(error));
  });
  return parseConfig(file, text);
}

export function parseConfig(file: string, text: string): Task[] {
  const places = locate(file, text);
  const parsed = parseIni(text) as Record<string, Values>;
  const defaults = parsed[DEFAULT_SECTION] ?? {};
  const tasks: Task[] = [];
  for (const [name, line] of places.sections) {
    if (name === DEFAULT_SECTION) continue;
    tasks.push(checkTask(file, name, line, { ...defaults, ...(parsed[name] ?? {}) }, places));
  }
  // Keys of [DEFAULT] are checked even when no task uses them (a typo there is still a typo).
  for (const key of Object.keys(defaults)) whereIs(file, places, [], key);
  return tasks;
}

/** "FILE:LINE: key 'k'" of the task's own key, else of [DEFAULT]'s. */
function whereIs(file: string, places: Places, sections: string[], key: string): string {
  let line: number | undefined;
  for (const section of [...sections, DEFAULT_SECTION]) {
    line ??= places.keys.get(`${section}\0${key}`) ?? places.keys.get(`${section}\0${key}[]`);
  }
  const where = line === undefined ? file : `${file}:${line}`;
  if (!(key in KEYS)) throw basynError('TASKS_CONFIG_UNKNOWN_KEY', where, key, Object.keys(KEYS).join(', '));
  return `${where}: key '${key}'`;
}

function checkTask(file: string, name: string, line: number, values: Values, places: Places): Task {
  const at = (key: string) => whereIs(file, places, [name], key);
  for (const key of Object.keys(values)) at(key); // unknown keys first
  const text = (key: string): string | undefined => {
    const value = values[key];
    if (value === undefined) return undefined;
    if (Array.isArray(value) || typeof value === 'object') throw basynError('TASKS_CONFIG_LIST', at(key));
    const string = String(value).trim();
    if (string === '') throw basynError('TASKS_CONFIG_EMPTY', at(key));
    return string;
  };
  const flag = (key: string): boolean => {
    const value = text(key)?.toLowerCase();
    if (value === undefined) return false;
    if (['true', 'yes', 'on', '1'].includes(value)) return true;
    if (['false', 'no', 'off', '0'].includes(value)) return false;
    throw basynError('TASKS_CONFIG_FLAG', at(key), value);
  };
  const relative = (path: string) => (isAbsolute(path) ? path : resolve(dirname(file), path));
  const endpoint = (key: 'source' | 'target', settings: ResourceSettings): string => {
    const value = text(key);
    if (value === undefined) throw basynError('TASKS_CONFIG_NO_ENDPOINT', file, line, name, key);
    const scheme = resourceSchemeOf(value);
    try {
      scheme?.check(value, key, settings);
      // A loop:// file and a local path are relative to the config file's folder, not to the cwd of a timer.
      if (value.startsWith('loop://')) return `loop://${relative(value.slice('loop://'.length))}`;
      if (scheme) return value;
      const plain = plainEndpoint(value, key);
      return plain.kind === 'local' ? relative(plain.path) : value;
    } catch (error) {
      throw basynError('TASKS_CONFIG_KEY', at(key), (error as Error).message);
    }
  };

  const snapshotSize = text('lvm_snapshot_size');
  let snapshotBytes: number | undefined;
  try {
    snapshotBytes = snapshotSize === undefined ? undefined : parseSize(snapshotSize, 'lvm_snapshot_size');
  } catch (error) {
    throw basynError('TASKS_CONFIG_KEY', at('lvm_snapshot_size'), (error as Error).message);
  }
  const resources: ResourceSettings = { lvmProgram: text('lvm_program_path'), snapshotSize: snapshotBytes, snapshotName: text('lvm_snapshot_name') };
  const source = endpoint('source', resources);
  const target = endpoint('target', resources);
  try {
    // Resources become local devices; what is left must have one side on this machine.
    const local = (endpoint: string) => (resourceSchemeOf(endpoint) ? '/basyn-config-check/device' : endpoint);
    deviceArgs(local(source), local(target));
  } catch (error) {
    throw basynError('TASKS_CONFIG_TASK', file, line, name, (error as Error).message);
  }
  if (flag('create_target_if_missing') && !(isLocalPath(source) && isLocalPath(target))) {
    throw basynError('TASKS_CONFIG_CREATE_TARGET', at('create_target_if_missing'));
  }
  if (resources.snapshotName !== undefined && !source.startsWith('lvm+snapshot://')) {
    // Checked with the snapshot's other rules when the source is one; otherwise it would be ignored.
    throw basynError('TASKS_CONFIG_SNAPSHOT_NAME', at('lvm_snapshot_name'));
  }

  // Each basyn option alone first (the error then belongs to its key), then all together (combinations).
  const raw: RawOptions = { local: '/basyn-config-check/source', remote: '/basyn-config-check/target', action: 'PUSH', mode: 'SYNC' };
  const syncOptions: string[] = [];
  const mode = (text('mode') ?? 'SYNC').toUpperCase();
  const bitmap = text('bitmap');
  const patchDir = text('patch_dir');
  for (const key of ['mode', 'hash', 'buffer', 'chunk', 'zlevel', 'bwlimit', 'bitmap', 'ssh_config', 'identity']) {
    const value = text(key);
    if (value === undefined) continue;
    const given = key === 'bitmap' || key === 'ssh_config' || key === 'identity' ? relative(value) : value;
    const one = optionValue(key, given);
    try {
      validateOptions({ ...raw, ...(key === 'bitmap' ? {} : { mode: 'SYNC' }), ...one }, false);
    } catch (error) {
      throw basynError('TASKS_CONFIG_KEY', at(key), (error as Error).message);
    }
    Object.assign(raw, one);
    if (key !== 'mode' && key !== 'bitmap') syncOptions.push(KEYS[key] as string, given);
  }
  try {
    validateOptions({ ...raw, ...(patchDir ? { diff: '/basyn-config-check/patch' } : {}) }, false);
  } catch (error) {
    throw basynError('TASKS_CONFIG_TASK', file, line, name, (error as Error).message);
  }
  if (patchDir !== undefined && bitmap !== undefined) {
    throw basynError('TASKS_CONFIG_PATCH_DIR_BITMAP', at('patch_dir'));
  }
  if (patchDir !== undefined) {
    const dir = relative(patchDir);
    let isDirectory = false;
    try { isDirectory = statSync(dir).isDirectory(); } catch { /* reported below */ }
    if (!isDirectory) throw basynError('TASKS_CONFIG_PATCH_DIR', at('patch_dir'), dir);
  }
  return {
    name, line, source, target,
    disabled: flag('disabled'),
    recheck: flag('recheck'),
    createTargetIfMissing: flag('create_target_if_missing'),
    mode: mode as 'SYNC' | 'COPY',
    bitmap: bitmap === undefined ? undefined : relative(bitmap),
    patchDir: patchDir === undefined ? undefined : relative(patchDir),
    syncOptions,
    resources,
  };
}

/** On this machine: a resource, or a local path (after `endpoint()` made it absolute). */
function isLocalPath(endpoint: string): boolean {
  return resourceSchemeOf(endpoint) !== undefined || endpoint.startsWith('/');
}

/** The RawOptions field a key sets. */
function optionValue(key: string, value: string): RawOptions {
  switch (key) {
    case 'ssh_config': return { sshConfig: value };
    case 'identity': return { identity: [value] };
    default: return { [key]: value };
  }
}

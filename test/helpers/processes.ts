// The process table, from /proc: which agents a run started, and whether they are gone.
import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** Whether /proc can be read here (Linux): without it the process checks cannot be made. */
export const HAS_PROC = existsSync('/proc/self/stat');

/** Fields after `pid (comm)` of /proc/PID/stat (comm may contain spaces: split after the last ')'). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function allPids(): number[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
}

/** Pids of the direct children of `pid`. */
export function childrenOf(pid: number): number[] {
  if (!HAS_PROC) return [];
  return allPids().filter((candidate) => Number(statFields(candidate)?.[1]) === pid);
}

/** Pids of every process below `pid` (children, their children, ...). */
export function descendantsOf(pid: number): number[] {
  if (!HAS_PROC) return [];
  const parents = new Map<number, number>();
  for (const candidate of allPids()) {
    const parent = Number(statFields(candidate)?.[1]);
    if (Number.isInteger(parent)) parents.set(candidate, parent);
  }
  const found: number[] = [];
  const below = new Set([pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [candidate, parent] of parents) {
      if (below.has(parent) && !below.has(candidate)) {
        below.add(candidate);
        found.push(candidate);
        grew = true;
      }
    }
  }
  return found;
}

/** The command line of `pid` (arguments joined by spaces), '' when it is gone. */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Running, i.e. not gone and not a zombie waiting to be reaped. */
export function alive(pid: number): boolean {
  const fields = statFields(pid);
  return fields !== undefined && fields[0] !== 'Z';
}

/** The processes still running after up to `ms` (a killed process can take a moment on a busy host). */
export async function survivors(pids: number[], ms = 5000): Promise<number[]> {
  const deadline = Date.now() + ms;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  return pids.filter(alive);
}

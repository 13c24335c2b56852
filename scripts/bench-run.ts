// Running and timing the processes of the benchmark: shell commands for the ceilings (openssl, cat, ssh)
// and basyn itself, with its --stat line, the agents' peak RSS (the LOG line each agent sends before
// CLOSED, printed under --debug) and the controller's own peak RSS and CPU time (a --require preload).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Timed {
  /** Wall-clock seconds from spawn to exit. */
  readonly seconds: number;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `command` (argv, or a string for `sh -c`) and times it. */
export function timed(command: string | string[], env: NodeJS.ProcessEnv = process.env): Promise<Timed> {
  const [file, ...args] = typeof command === 'string' ? ['sh', '-c', command] : command;
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
    child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
    child.once('error', reject);
    child.once('close', (code) => resolve({ seconds: Number(process.hrtime.bigint() - started) / 1e9, code, stdout, stderr }));
  });
}

/** Runs a shell command that must succeed; returns its time. */
export async function mustRun(command: string | string[]): Promise<Timed> {
  const result = await timed(command);
  if (result.code !== 0) {
    const shown = typeof command === 'string' ? command : command.join(' ');
    throw new Error(`${shown} failed with exit code ${result.code}: ${result.stderr.trim().split('\n').slice(-5).join('\n')}`);
  }
  return result;
}

/** The smallest time of `runs` runs of `command` (the ceilings: the machine at its least disturbed). */
export async function bestOf(runs: number, command: string | string[], overheadSeconds = 0): Promise<number> {
  let best = Infinity;
  for (let run = 0; run < runs; run++) best = Math.min(best, (await mustRun(command)).seconds);
  return Math.max(0.001, best - overheadSeconds);
}

export interface BasynRun {
  readonly ok: boolean;
  readonly code: number | null;
  readonly wallSeconds: number;
  /** --stat's Time: from the devices being open to the end of the sync (undefined for a recheck alone). */
  readonly statSeconds?: number;
  /** Protocol bytes from / to the remote agent. */
  readonly rx?: number;
  readonly tx?: number;
  /** Peak RSS in KiB. */
  readonly controllerKiB?: number;
  readonly localAgentKiB?: number;
  readonly remoteAgentKiB?: number;
  /** CPU seconds of each process (the agents report theirs at close, with their peak RSS). */
  readonly controllerCpu?: number;
  readonly localAgentCpu?: number;
  readonly remoteAgentCpu?: number;
  readonly error?: string;
}

/** Starts basyn with a preload that reports the controller's peak RSS and CPU time at exit. */
export class BasynRunner {
  private readonly preload: string;

  constructor(private readonly controller: string, workDir: string) {
    this.preload = join(workDir, 'bench-preload.js');
    writeFileSync(
      this.preload,
      "process.on('exit',()=>{const u=process.resourceUsage();require('fs').writeSync(2," +
        '`bench: controller peak RSS ${u.maxRSS} KiB, cpu ${((u.userCPUTime+u.systemCPUTime)/1e6).toFixed(3)} s\\n`)})\n',
    );
  }

  /** `extraEnv`: added to basyn's environment (e.g. BASYN_HASH_THREADS, which its local agents inherit). */
  async run(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<BasynRun> {
    // No ssh-agent: the key given with -i is the only identity, as on a fresh machine.
    const env = { ...process.env, SSH_AUTH_SOCK: '', ...extraEnv };
    // `basyn patch` has no --stat (its net time is the wall time less the startup, bench.ts).
    const extra = args[0] === 'patch' ? ['--debug'] : ['--stat', '--debug'];
    const result = await timed([process.execPath, '--require', this.preload, this.controller, ...args, ...extra], env);
    const stat = /Traffic: Rx:(\d+)B, Tx:(\d+)B.*Time: ([\d.]+)s/.exec(result.stdout) ?? /Time: ([\d.]+)s/.exec(result.stdout);
    const agent = (role: string) => new RegExp(`debug: ${role} agent: peak RSS (\\d+) KiB(?:, cpu ([\\d.]+) s)?`).exec(result.stderr);
    const [local, remote] = [agent('local'), agent('remote')];
    const controller = /bench: controller peak RSS (\d+) KiB, cpu ([\d.]+) s/.exec(result.stderr);
    const number = (text: string | undefined) => (text === undefined ? undefined : Number(text));
    // The message, not --debug's lines and stack trace.
    const errorLines = result.stderr.split('\n').filter((line) => line.trim() && !/^(debug|bench): /.test(line) && !/^\s+at /.test(line));
    return {
      ok: result.code === 0,
      code: result.code,
      wallSeconds: result.seconds,
      statSeconds: stat ? Number(stat.length === 4 ? stat[3] : stat[1]) : undefined,
      rx: stat?.length === 4 ? Number(stat[1]) : undefined,
      tx: stat?.length === 4 ? Number(stat[2]) : undefined,
      controllerKiB: number(controller?.[1]),
      localAgentKiB: number(local?.[1]),
      remoteAgentKiB: number(remote?.[1]),
      controllerCpu: number(controller?.[2]),
      localAgentCpu: number(local?.[2]),
      remoteAgentCpu: number(remote?.[2]),
      error: result.code === 0 ? undefined : `exit code ${result.code}: ${errorLines.slice(0, 2).join(' / ') || '(no message)'}`,
    };
  }
}

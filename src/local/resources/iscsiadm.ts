// open-iscsi's `iscsiadm`, run with an argument vector (never a shell), and what its output means.
// The commands basyn runs (PORTAL is `host:port`, `[v6]:port`):
//
//   iscsiadm -m discovery -t sendtargets -p PORTAL -o nonpersistent   targets offered; no records kept
//   iscsiadm -m session                                               logged-in sessions (exit 21: none)
//   iscsiadm -m node -T IQN -p PORTAL                                 does a node record exist (21: no)
//   iscsiadm -m node -T IQN -p PORTAL,TPGT -o new                     create the node record
//   iscsiadm -m node -T IQN -p PORTAL -o update -n NAME -v VALUE      CHAP settings into the record
//   iscsiadm -m node -T IQN -p PORTAL --login | --logout
//   iscsiadm -m node -T IQN -p PORTAL -o delete                       remove the record basyn created
//
// Exit codes (open-iscsi include/iscsi_err.h) that change what basyn does: 15 a session exists, 21 no
// records / sessions / targets found. Others are failures, reported with iscsiadm's last error line.
import { spawn } from 'node:child_process';
import { basynError } from '../../shared/errors';
import { printable } from '../../shared/remote-text';

export const ISCSI_ERR_SESS_EXISTS = 15;
export const ISCSI_ERR_NO_OBJS_FOUND = 21;

/** Output kept per stream: iscsiadm prints a few lines; a runaway program is cut. */
const OUTPUT_MAX = 64 * 1024;
/** Discovery, login and logout wait on the network (open-iscsi's own timeouts are 15-120 s). */
const COMMAND_TIMEOUT_MS = 180_000;

export interface AdmResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** One target portal as discovery and session listings print it: `ADDR:PORT,TPGT IQN`. */
export interface PortalTarget {
  readonly address: string;
  readonly port: number;
  readonly tpgt: number;
  readonly iqn: string;
  /** The session id (`-m session` only): tells a session basyn opened from a later one. */
  readonly sid?: number;
}

/** `10.0.0.10:3260,1 iqn...` or `[fe80::1]:3260,1 iqn...` (the address without brackets). */
function parsePortalTarget(text: string): PortalTarget | undefined {
  const match = /^\[?([^\]\s]+?)\]?:(\d+),(\d+)\s+(\S+)/.exec(text.trim());
  if (!match) return undefined;
  return { address: match[1], port: Number(match[2]), tpgt: Number(match[3]), iqn: match[4] };
}

/** The last line iscsiadm printed on stderr (its error), made printable, or its exit code. */
export function admFailure(result: AdmResult): string {
  const line = result.stderr.split('\n').map((text) => text.replace(/^iscsiadm:\s*/, '').trim()).filter(Boolean).pop();
  return line ? `${printable(line, 300)} (iscsiadm exit code ${result.code})` : `iscsiadm exit code ${result.code}`;
}

export class Iscsiadm {
  /** `env` is the environment iscsiadm runs in; its PATH is where `iscsiadm` is looked for. */
  constructor(private readonly env: NodeJS.ProcessEnv, private readonly program = 'iscsiadm') {}

  /**
   * Runs iscsiadm; resolves with how it ended. `abort` kills it (SIGTERM): only for commands that
   * change nothing, since a login or logout killed halfway would leave iscsid's work unknown.
   */
  run(args: readonly string[], abort?: AbortSignal): Promise<AdmResult> {
    return new Promise((resolve, reject) => {
      if (abort?.aborted) return reject(abort.reason);
      const child = spawn(this.program, args, { stdio: ['ignore', 'pipe', 'pipe'], env: this.env });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (text: string) => { if (stdout.length < OUTPUT_MAX) stdout += text; });
      child.stderr.setEncoding('utf8').on('data', (text: string) => { if (stderr.length < OUTPUT_MAX) stderr += text; });
      const onAbort = () => child.kill('SIGTERM');
      abort?.addEventListener('abort', onAbort, { once: true });
      const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
      const done = () => { clearTimeout(timer); abort?.removeEventListener('abort', onAbort); };
      child.once('error', (error: NodeJS.ErrnoException) => {
        done();
        reject(error.code === 'ENOENT'
          ? basynError('ISCSIADM_MISSING')
          : basynError('ISCSIADM_NOT_STARTED', error.message));
      });
      child.once('close', (code, signal) => {
        done();
        if (abort?.aborted) return reject(abort.reason);
        if (code === null) return reject(basynError('ISCSIADM_KILLED', args.slice(0, 2).join(' '), String(signal), signal === 'SIGKILL' ? ` (no answer in ${COMMAND_TIMEOUT_MS / 1000} s)` : ''));
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** SendTargets discovery; resolves with the targets offered, or with the failed result. */
  async discover(portal: string, abort: AbortSignal): Promise<{ targets: PortalTarget[] } | { failed: AdmResult }> {
    const result = await this.run(['-m', 'discovery', '-t', 'sendtargets', '-p', portal, '-o', 'nonpersistent'], abort);
    if (result.code !== 0) return { failed: result };
    return { targets: result.stdout.split('\n').map(parsePortalTarget).filter((target) => target !== undefined) };
  }

  /** The logged-in sessions (`tcp: [SID] ADDR:PORT,TPGT IQN (non-flash)`). */
  async sessions(abort?: AbortSignal): Promise<PortalTarget[]> {
    const result = await this.run(['-m', 'session'], abort);
    if (result.code === ISCSI_ERR_NO_OBJS_FOUND) return [];
    if (result.code !== 0) throw basynError('ISCSIADM_SESSIONS', admFailure(result));
    return result.stdout.split('\n')
      .map((line) => /^\S+:\s+\[(\d+)\]\s+(.*)$/.exec(line))
      .flatMap((match) => {
        const target = match ? parsePortalTarget(match[2]) : undefined;
        return match && target ? [{ ...target, sid: Number(match[1]) }] : [];
      });
  }

  async nodeExists(iqn: string, portal: string, abort?: AbortSignal): Promise<boolean> {
    const result = await this.run(['-m', 'node', '-T', iqn, '-p', portal], abort);
    if (result.code === ISCSI_ERR_NO_OBJS_FOUND) return false;
    if (result.code !== 0) throw basynError('ISCSIADM_NODE_RECORD', iqn, portal, admFailure(result));
    return true;
  }

  /** `-m node -T IQN -p PORTAL ...rest`; resolves with how it ended. */
  node(iqn: string, portal: string, ...rest: string[]): Promise<AdmResult> {
    return this.run(['-m', 'node', '-T', iqn, '-p', portal, ...rest]);
  }
}

// Sets up the recording fake `iscsiadm` (fake-iscsiadm.cjs) first on PATH, with its portal, targets and
// cues, a by-path folder the endpoint is told to look in (BASYN_ISCSI_BY_PATH) and a run folder for
// its records (BASYN_ISCSI_RUN_DIR); reads back the calls it logged and the sessions it holds. Loop
// devices the fake attached are detached when the test ends, whatever happened.
import type { ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rootFaultsUnavailable } from './faults';

export const PORTAL = '127.0.0.1:3260';
export const IQN = 'iqn.2026-11.test.basyn:disk1';

export interface FakeTarget {
  readonly luns: Record<string, string>;
  readonly chap?: { readonly username: string; readonly password: string };
}

export interface Cues {
  discovery?: 'refused';
  login?: 'timeout' | 'auth';
  loginDelayMs?: number;
  logoutFailures?: number;
  noLun?: boolean;
}

export interface Call {
  readonly argv: string[];
  readonly pid: number;
  readonly ppid: number;
  /** The caller's command line (/proc/PPID/cmdline): what the process list showed of basyn. */
  readonly parent: string[];
}

export interface FakeSession {
  readonly sid: number;
  readonly iqn: string;
  readonly address: string;
  readonly port: number;
  readonly devices: Record<string, { loop: string; link: string }>;
}

/** Why the fake cannot run here (it attaches loop devices), or undefined. */
export function fakeIscsiUnavailable(): string | undefined {
  return rootFaultsUnavailable();
}

export class FakeIscsi {
  readonly bin: string;
  readonly byPath: string;
  readonly runDir: string;
  /** The environment a run needs: the fake first on PATH, its folder, the test-only by-path folder. */
  readonly env: NodeJS.ProcessEnv;
  private config: { byPath: string; portals: Record<string, { tpgt: number; targets: Record<string, FakeTarget> }>; cues: Cues };

  constructor(t: ExecutionContext, readonly dir: string, targets: Record<string, FakeTarget>, extraEnv: NodeJS.ProcessEnv = {}) {
    this.bin = join(dir, 'bin');
    this.byPath = join(dir, 'by-path');
    this.runDir = join(dir, 'run');
    for (const folder of [this.bin, this.byPath]) mkdirSync(folder, { recursive: true });
    const wrapper = join(this.bin, 'iscsiadm');
    writeFileSync(wrapper, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(__dirname, 'fake-iscsiadm.cjs'))} "$@"\n`);
    chmodSync(wrapper, 0o755);
    this.config = { byPath: this.byPath, portals: { [PORTAL]: { tpgt: 1, targets } }, cues: {} };
    this.save();
    this.env = {
      ...process.env,
      PATH: `${this.bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      FAKE_ISCSI_DIR: dir,
      BASYN_ISCSI_BY_PATH: this.byPath,
      BASYN_ISCSI_RUN_DIR: this.runDir,
      ...extraEnv,
    };
    t.teardown(() => this.detachAll());
  }

  cue(cues: Cues): void {
    this.config.cues = { ...cues };
    this.save();
  }

  private save(): void {
    writeFileSync(join(this.dir, 'config.json'), JSON.stringify(this.config, null, 1));
  }

  calls(): Call[] {
    const file = join(this.dir, 'calls.log');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Call);
  }

  /** The calls, each as one string (`-m node -T iqn -p portal --login`), for readable assertions. */
  commands(): string[] {
    return this.calls().map((call) => call.argv.join(' '));
  }

  sessions(): FakeSession[] {
    const file = join(this.dir, 'state.json');
    if (!existsSync(file)) return [];
    return (JSON.parse(readFileSync(file, 'utf8')) as { sessions: FakeSession[] }).sessions;
  }

  nodes(): Record<string, { settings: Record<string, string> }> {
    const file = join(this.dir, 'state.json');
    if (!existsSync(file)) return {};
    return (JSON.parse(readFileSync(file, 'utf8')) as { nodes: Record<string, { settings: Record<string, string> }> }).nodes;
  }

  /** Logs in as an administrator would (not through basyn): the session basyn must leave alone. */
  adminLogin(iqn = IQN, portal = PORTAL): void {
    const run = (...args: string[]) => execFileSync(join(this.bin, 'iscsiadm'), args, { env: this.env, stdio: 'ignore' });
    run('-m', 'node', '-T', iqn, '-p', `${portal},1`, '-o', 'new');
    run('-m', 'node', '-T', iqn, '-p', portal, '--login');
  }

  /** Links left in the by-path folder. */
  links(): string[] {
    return readdirSync(this.byPath);
  }

  /** Files left in the run folder (records; lock files are kept on purpose, they hold nothing). */
  records(): string[] {
    return existsSync(this.runDir) ? readdirSync(this.runDir).filter((name) => !name.endsWith('.lock')) : [];
  }

  private detachAll(): void {
    for (const session of this.sessions()) {
      for (const { loop } of Object.values(session.devices)) {
        try {
          execFileSync('losetup', ['--detach', loop], { stdio: 'ignore' });
        } catch {
          // already detached
        }
      }
    }
  }
}

/** Loop devices whose backing file is `image` (`losetup -j`): none once every session is logged out. */
export function loopsOf(image: string): string[] {
  return execFileSync('losetup', ['-j', image], { encoding: 'utf8' }).split('\n').filter(Boolean).map((line) => line.split(':')[0]);
}

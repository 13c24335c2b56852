// `sshTest`: AVA's `test` for tests that need a private sshd, and `sshFixture`, the set-up every SSH test
// file shares (kept apart from sshd.ts so that scripts can start an sshd without loading AVA).
import test from 'ava';
import { mkdirSync } from 'node:fs';
import { tempDir } from './images';
import { startSshd, sshdUnavailable, type Sshd } from './sshd';

/**
 * Why the SSH tests are skipped on this machine (no sshd, not root), or undefined. Never in CI: there a
 * missing sshd makes startSshd() fail loudly instead of quietly skipping the tests.
 */
export const SKIP_SSH = process.env.CI ? undefined : sshdUnavailable();
if (SKIP_SSH) console.warn(`SSH tests skipped: ${SKIP_SSH}`);

/** `test` for tests that need an sshd: skipped (see SKIP_SSH) where none can run. */
export const sshTest = (SKIP_SSH ? test.skip : test) as typeof test;

/** What an SSH test file shares: its scratch dir, a bare HOME, the env of its runs and its private sshd. */
export interface SshFixture {
  readonly scratch: ReturnType<typeof tempDir>;
  /** `scratch/home`: no ~/.ssh/config, no default keys. */
  readonly home: string;
  /** process.env with HOME = `home` and no SSH_AUTH_SOCK: a run uses only the keys and files it passes. */
  readonly env: NodeJS.ProcessEnv;
  /** The file's sshd, started before its first test (not when SKIP_SSH) and stopped after its last. */
  readonly sshd: Sshd;
}

/**
 * Sets up an SSH test file: call it at the top level, once. `sshd` may be used in tests and helpers
 * they call (it stands for the sshd the `before` hook starts; using it before then throws).
 */
export function sshFixture(prefix: string): SshFixture {
  const scratch = tempDir(prefix);
  const home = scratch.path('home');
  mkdirSync(home);
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  delete env.SSH_AUTH_SOCK;
  let started: Sshd | undefined;
  test.before(async () => { if (!SKIP_SSH) started = await startSshd(); });
  test.after.always(async () => { await started?.stop(); scratch.cleanup(); });
  // The hook starts the sshd after the test file has run its top level: a stand-in forwards to it.
  const sshd = new Proxy({} as Sshd, {
    get: (_, key) => {
      if (!started) throw new Error(`the private sshd is not running (${SKIP_SSH ?? 'the before hook has not run'})`);
      const value = started[key as keyof Sshd];
      return typeof value === 'function' ? value.bind(started) : value;
    },
  });
  return { scratch, home, env, sshd };
}

// `sshTest`: AVA's `test` for tests that need a private sshd (kept apart from sshd.ts so that scripts
// can start an sshd without loading AVA).
import test from 'ava';
import { sshdUnavailable } from './sshd';

/**
 * Why the SSH tests are skipped on this machine (no sshd, not root), or undefined. Never in CI: there a
 * missing sshd makes startSshd() fail loudly instead of quietly skipping the tests.
 */
export const SKIP_SSH = process.env.CI ? undefined : sshdUnavailable();
if (SKIP_SSH) console.warn(`SSH tests skipped: ${SKIP_SSH}`);

/** `test` for tests that need an sshd: skipped (see SKIP_SSH) where none can run. */
export const sshTest = (SKIP_SSH ? test.skip : test) as typeof test;

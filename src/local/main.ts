// Entry point of dist/basyn.js (bin/basyn).
import { main } from './cli';
import { unexpectedError } from './command-errors';

/** Longest wait for stdout and stderr to drain at the end (a reader that stopped reading). */
const DRAIN_MAX_MS = 30_000;

// A reader that goes away (`basyn --verbose | head -1`, a closed log pipe) must change nothing about
// the sync: without a listener, the EPIPE would be an uncaught exception that kills the controller
// mid-run (its agents then stop with the destination half written). What can no longer be shown
// is dropped; the exit code still tells the outcome.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

// A run started by `basyn tasks` (task-run.ts) gets its stdin from a pipe the runner holds open: when
// the runner dies, even by SIGKILL, the pipe ends, and the run stops as on SIGTERM (its locks and the
// agents go with it) instead of syncing on, unseen, while the next `basyn tasks` finds its locks busy.
if (process.env.BASYN_STOP_WITH_STDIN === '1') {
  process.stdin.on('error', () => undefined);
  process.stdin.once('close', () => process.kill(process.pid, 'SIGTERM'));
  process.stdin.resume();
}

/** Resolves once everything written to `stream` so far has been handed to the OS, or it is gone. */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) resolve();
    else stream.write('', () => resolve());
  });
}

main(process.argv.slice(2)).then(
  async (code) => {
    process.exitCode = code;
    // Exit even if a stray handle lingers, but not before the last lines (the error message among
    // them) have left: process.exit() drops what a slow pipe reader has not taken yet.
    const cap = new Promise<void>((resolve) => setTimeout(resolve, DRAIN_MAX_MS).unref());
    await Promise.race([Promise.all([drained(process.stdout), drained(process.stderr)]), cap]);
    setTimeout(() => process.exit(code), 50).unref();
  },
  (error) => {
    process.stderr.write(`${unexpectedError(error).message}\n`);
    process.exit(2);
  },
);

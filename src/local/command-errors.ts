// How every basyn command (the sync, patch, check-host, tasks, completion) ends on an error: commander's
// errors are exit 1 (commander has printed them), anything else is one printable line on stderr with
// the error's exit code, and the stack only with --debug. One place, so the commands cannot drift.
import { CommanderError, type Command } from 'commander';
import { BasynError, EXIT_OK, EXIT_USAGE, basynError } from '../shared/errors';
import { printable } from '../shared/remote-text';

/** Parses `argv` into `program`: undefined when the command is to run, else the exit code (--help: 0). */
export function parseCommand(program: Command, argv: string[]): number | undefined {
  try {
    program.parse(argv, { from: 'user' });
    return undefined;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    throw error;
  }
}

/** An error no code of basyn's raised on purpose: a bug, or a system error nothing below caught (exit 2). */
export function unexpectedError(error: unknown): BasynError {
  return basynError('UNEXPECTED', (error as Error)?.message ?? String(error));
}

/**
 * Says `error` on `stderr` as one line (remote text and paths cannot drive the terminal), with its
 * stack when `debug`; returns it as a BasynError (its exitCode is the command's). `known` turns an
 * error that is not a BasynError into one (default: unexpectedError).
 */
export function reportError(error: unknown, stderr: (text: string) => void, debug: boolean, known: (error: unknown) => BasynError = unexpectedError): BasynError {
  const basyn = error instanceof BasynError ? error : known(error);
  stderr(`${printable(basyn.message, 4000)}\n`);
  if (debug) stderr(`${(error as Error)?.stack ?? String(error)}\n`);
  return basyn;
}


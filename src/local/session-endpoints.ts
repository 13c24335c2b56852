// What the SOURCE TARGET form adds to a run (iblocksync's rules), between opening the devices and the
// first write:
//  - a missing TARGET image file is created at the source's size (sparse, 0600) when the destination
//    is opened for writing; a missing path under /dev is refused by the agent (a device is never made);
//  - a TARGET smaller than the SOURCE is exit 2, as in the -l/-r form;
//  - a larger one asks `Source is 1.00 GiB, target 2.00 GiB; proceed? [y/N]` on a terminal, and
//    without one is exit 1 unless -f/--force (the tail beyond the source's size is left as it is).
import { createInterface } from 'node:readline';
import { BasynError, basynError } from '../shared/errors';
import type { Options } from './options';
import { humanBytes } from './progress';
import type { Side } from './session-agents';

/**
 * The read-only OPEN of the TARGET failed: a missing file (ENOENT) is one to create later, when the
 * run will write (a SYNC or COPY, not --diff); anything else is the run's error.
 */
export function targetMissing(options: Options, error: unknown): boolean {
  return options.endpoints !== undefined && options.mode !== undefined && options.diff === undefined
    && error instanceof BasynError && error.code === 'ENOENT';
}

/** Asks on the terminal (stdin/stderr); true for y/yes. Ctrl-C is an interrupt, never a yes. */
export function askTerminal(question: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const prompt = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    let settled = false;
    const finish = (answer: boolean | Error): void => {
      if (settled) return;
      settled = true;
      prompt.close();
      process.stdin.pause();
      if (answer instanceof Error) reject(answer);
      else resolve(answer);
    };
    prompt.on('SIGINT', () => finish(basynError('INTERRUPTED', 'SIGINT')));
    prompt.on('close', () => finish(false)); // EOF (Ctrl-D): no
    prompt.question(question, (answer) => finish(/^\s*y(es)?\s*$/i.test(answer)));
  });
}

export type Ask = (question: string) => Promise<boolean>;

/** SOURCE TARGET sizes (`target.size` is the source's when the target is to be created). */
export async function checkEndpointSizes(options: Options, source: Side, target: Side, ask: Ask = askTerminal): Promise<void> {
  const run = options.endpoints;
  if (!run) return;
  if (source.size === 0) throw basynError('DEVICE_EMPTY');
  if (target.size < source.size) {
    throw basynError('SIZE_TARGET_SMALLER', run.target.spec, target.size, run.source.spec, source.size);
  }
  if (target.size === source.size || options.force) return;
  const question = `Source is ${humanBytes(source.size, 2)}, target ${humanBytes(target.size, 2)}; proceed? [y/N] `;
  if (!options.connection.interactive || !process.stderr.isTTY) {
    throw basynError('USAGE_TARGET_LARGER', run.target.spec, target.size, run.source.spec, source.size);
  }
  if (!(await ask(question))) throw basynError('USAGE_NOT_CONFIRMED');
}

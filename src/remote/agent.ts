// The agent's bundle entry (dist/agent.js), uploaded at each run and started by the loader: it serves
// the controller on stdin/stdout (serve.ts has the protocol loop) and exits when that is done.
import { EXIT_SYNC } from '../shared/errors';
import { serveAgent } from './serve';

process.stdout.on('error', () => process.exit(EXIT_SYNC));
// Exits as soon as the service is done: after CLOSED, after a fatal error, or at once when stdin
// ends (the controller is gone; queued work is dropped, see serve.ts).
// stdout is a pipe or socket: the kernel has a copy of each buffer once its write callback runs.
void serveAgent(process.stdin, process.stdout, { outputCopies: true }).done.then((code) => process.exit(code));

// Entry point of dist/basyn.js (bin/basyn).
import { main } from './cli';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Agents and sockets are closed by now; exit even if a stray handle lingers.
    setTimeout(() => process.exit(code), 50).unref();
  },
  (error) => {
    process.stderr.write(`Unexpected error: ${(error as Error)?.message ?? String(error)}\n`);
    process.exit(2);
  },
);

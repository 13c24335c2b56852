// The sync suite (test/helpers/sync-suite.ts), every case, with both agents served in this process
// (transport/in-process.ts) by the code under test: the CLI's main() from source, nothing spawned
// but the agents' hashing threads (two, whatever the cores: hash-threads.test.ts compares them with
// hashing in the main thread).
import { main } from '../src/local/cli';
import { InProcessTransport } from '../src/local/transport/in-process';
import { limiter } from './helpers/cli';
import { defineSyncSuite } from './helpers/sync-suite';

// A few runs at once: each one installs its signal handlers, and they share this process's CPU.
const slot = limiter(3);

defineSyncSuite({
  name: 'in-process',
  coverage: 'full',
  run: (args) => slot(async () => {
    let stdout = '';
    let stderr = '';
    const io = { stdout: (text: string) => { stdout += text; }, stderr: (text: string) => { stderr += text; } };
    const code = await main(args, { io, transports: () => new InProcessTransport({ hashThreads: 2 }) });
    return { code, signal: null, stdout, stderr };
  }),
});

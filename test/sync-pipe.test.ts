// The sync suite (test/helpers/sync-suite.ts) run as a user runs basyn without -h: the built CLI
// (bin/basyn), both agents child node processes over pipes. Like ssh and --rsh it runs the `link`
// subset (each action and mode, chunks, odd sizes, refusals, zero blocks, traffic, bitmaps): the
// repetitions that only vary the engine run in-process (sync-in-process.test.ts), where they cost no
// node processes; here they cost three each, about a minute of CI's two cores for no new coverage.
import { basyn } from './helpers/cli';
import { defineSyncSuite } from './helpers/sync-suite';

// Both agents hash in two threads (BASYN_HASH_THREADS), whatever the cores of the machine.
defineSyncSuite({ name: 'pipe', coverage: 'link', run: (args) => basyn(args, { env: { ...process.env, BASYN_HASH_THREADS: '2' } }) });

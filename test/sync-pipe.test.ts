// The sync suite (test/helpers/sync-suite.ts), every case, run as a user runs basyn without -h: the
// built CLI (bin/basyn), both agents child node processes over pipes.
import { basyn } from './helpers/cli';
import { defineSyncSuite } from './helpers/sync-suite';

defineSyncSuite({ name: 'pipe', coverage: 'full', run: (args) => basyn(args) });

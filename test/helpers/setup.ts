// Loaded by ava before every test file (package.json, "ava.require"): the environment every basyn
// process the tests start inherits (the local agents too; the controller passes BASYN_HASH_THREADS on to
// the remote ones, src/local/transport/agent-start.ts).
//
// NODE_EXTRA_CA_CERTS makes every node process read and parse that CA file as it starts (measured on
// the 2-core CI machine with a 220 KB bundle: 0.045 CPU-s per process, a third of a bare node's start),
// and one basyn run is three node processes (the controller and two agents). basyn makes no TLS
// connection, so the basyn processes the tests start, and the agents they start, go without it.
delete process.env.NODE_EXTRA_CA_CERTS;

// The agents' hashing threads (src/remote/hash-pool.ts) cost more than they save on a test's few MiB:
// each agent starts one per core on its first HASH, measured at 0.3-0.6 CPU-s per run over the pipe
// (a run is 0.7 CPU-s without them); test/cli-bitmap.test.ts took 82.4 CPU-s with them, 68.7 without.
// So the tests hash in the agents' main thread unless they ask for threads (BASYN_HASH_THREADS in the
// env they give a run: hash-threads, sync-pipe, faults-source), or the environment of `npm test` does.
process.env.BASYN_HASH_THREADS ??= '1';

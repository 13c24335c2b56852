// Loaded by ava before every test file (package.json, "ava.require").
//
// NODE_EXTRA_CA_CERTS makes every node process read and parse that CA file as it starts (measured on
// the 2-core CI machine with a 220 KB bundle: 0.045 CPU-s per process, a third of a bare node's start),
// and one basyn run is three node processes (the controller and two agents). basyn makes no TLS
// connection, so the basyn processes the tests start, and the agents they start, go without it.
delete process.env.NODE_EXTRA_CA_CERTS;

// Lets the bench (and any script) import test helpers that declare AVA tests at module level, such as
// `sshTest` in test/helpers/sshd.ts: outside the AVA CLI, `require('ava')` throws "Test files must be run
// with the AVA CLI". Imported before those helpers, this puts an inert `test` in the require cache: every
// property is the same no-op, so `test(...)`, `test.skip` and `test.serial.cb(...)` declare nothing.
import { Module } from 'node:module';

let path: string | undefined;
try {
  path = require.resolve('ava');
} catch {
  path = undefined; // no ava installed: nothing imports it either
}
if (path && !require.cache[path]) {
  const inert: object = new Proxy(() => undefined, { get: (_target, key) => (key === '__esModule' ? false : inert), apply: () => undefined });
  const stub = new Module(path);
  stub.filename = path;
  stub.loaded = true;
  stub.exports = inert;
  require.cache[path] = stub;
}

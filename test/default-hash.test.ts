// The digest a run uses when --hash is not given (issue 15 target 8): the salted fast XXH128 without a
// bitmap (its digests never leave the run), SHA1 with -b (a bitmap keeps Python basyn's unsalted
// default); any --hash or --algo given still wins. Pure option parsing: no devices are opened.
import test from 'ava';
import { validateOptions } from '../src/local/options';

const base = { local: '/dev/shm/a.img', remote: '/dev/shm/b.img', action: 'PUSH', mode: 'SYNC' };

test('no --hash, no -b: XXH128, salted', (t) => {
  const options = validateOptions(base, false);
  t.is(options.hash.name, 'XXH128');
  t.true(options.hash.salted);
});

test('no --hash with -b: SHA1, unsalted (Python basyn bitmaps)', (t) => {
  const options = validateOptions({ ...base, bitmap: '/dev/shm/a.bitmap' }, false);
  t.is(options.hash.name, 'SHA1');
  t.false(options.hash.salted);
});

test('a --recheck alone and a COPY without -b use XXH128 too', (t) => {
  t.is(validateOptions({ local: base.local, remote: base.remote, recheck: true }, false).hash.name, 'XXH128');
  t.is(validateOptions({ ...base, mode: 'COPY' }, false).hash.name, 'XXH128');
});

test('--hash and --algo still choose, with or without -b', (t) => {
  t.is(validateOptions({ ...base, hash: 'sha1' }, false).hash.name, 'SHA1');
  t.is(validateOptions({ ...base, algo: 'SHA256' }, false).hash.name, 'SHA256');
  t.is(validateOptions({ ...base, bitmap: '/dev/shm/a.bitmap', hash: 'XXH3' }, false).hash.name, 'XXH3');
});

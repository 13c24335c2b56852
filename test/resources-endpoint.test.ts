// lvm+snapshot:// and loop:// registered with the endpoint parser (resources/register.ts): they parse as
// SOURCE/TARGET endpoints of the positional form and are acquired and released through resource.ts's
// withResources, as the command line uses them (in-process: no sync is the point here).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import '../src/local/resources/register';
import { parseEndpoint } from '../src/local/endpoint';
import { withResources } from '../src/local/resource';
import { FakeLvm } from './helpers/fake-lvm';
import { basyn } from './helpers/cli';
import { tempDir, writeSparse } from './helpers/images';
import { mountTmpfs, rootTest } from './helpers/root-devices';

const MiB = 1024 * 1024;

const scratch = tempDir('basyn-resources-');
process.env.XDG_STATE_HOME = scratch.path('state');
test.after.always(() => scratch.cleanup());

test('lvm+snapshot:// as TARGET is refused; a bad spelling names what is expected', (t) => {
  t.throws(() => parseEndpoint('lvm+snapshot://vg0/data', 'target'), { message: /^lvm\+snapshot:\/\/vg0\/data: an LVM snapshot can only be a SOURCE/ });
  t.throws(() => parseEndpoint('lvm+snapshot://vg0', 'source'), { message: /expected lvm\+snapshot:\/\/VG\/LV/ });
  t.throws(() => parseEndpoint('lvm+snapshot://vg0/data?size=big', 'source'), { message: /size expects a size/ });
  t.throws(() => parseEndpoint('loop://', 'target'), { message: /expected loop:\/\/FILE/ });
});

test.serial('lvm+snapshot:// as SOURCE: the fake lvm on PATH makes basyn-<LV>-<run id>, the body reads it, release removes it', async (t) => {
  const lvm = new FakeLvm(scratch.path('lvm'));
  const origin = randomBytes(8192);
  lvm.addVolume('vg0', 'data', origin);
  const path = process.env.PATH;
  process.env.PATH = `${lvm.bin}:${path}`;
  t.teardown(() => { process.env.PATH = path; });
  const endpoint = parseEndpoint('lvm+snapshot://vg0/data?size=1G&name=nightly', 'source');
  if (endpoint.kind !== 'resource') return t.fail(`parsed as ${endpoint.kind}`);
  const seen = await withResources([endpoint.resource], new AbortController().signal, async ([device]) => {
    t.regex(device, /\/vg0\/nightly-\d{8}T\d{6}-\d+$/);
    t.true(readFileSync(device).equals(origin));
    return device;
  });
  t.deepEqual(lvm.volumes('vg0'), ['data']);
  t.deepEqual(lvm.calls().filter((argv) => argv[0] === 'lvremove').map((argv) => argv[argv.length - 1]), [`vg0/${seen.split('/').pop()}`]);
});

rootTest.serial('loop:// as TARGET: attached for the body (read-write), detached after, even when the body fails', async (t) => {
  const file = scratch.path('disk.img');
  writeFileSync(file, Buffer.alloc(1024 * 1024));
  const endpoint = parseEndpoint(`loop://${file}`, 'target');
  if (endpoint.kind !== 'resource') return t.fail(`parsed as ${endpoint.kind}`);
  const failure = await t.throwsAsync(withResources([endpoint.resource], new AbortController().signal, async ([device]) => {
    t.regex(device, /^\/dev\/loop\d+$/);
    t.true(execFileSync('losetup', ['-j', file], { encoding: 'utf8' }).startsWith(`${device}:`));
    execFileSync('dd', [`of=${device}`, 'bs=4096', 'count=1', 'conv=fsync', 'status=none'], { input: Buffer.alloc(4096, 7) });
    throw new Error('the sync failed');
  }));
  t.is(failure?.message, 'the sync failed');
  t.is(execFileSync('losetup', ['-j', file], { encoding: 'utf8' }), '', 'detached');
  t.true(readFileSync(file).subarray(0, 4096).equals(Buffer.alloc(4096, 7)), 'the write went to the file');
});

rootTest.serial('loop:// as TARGET over a sparse file whose holes its file system cannot fill: a warning before the attach; none once the file is allocated', async (t) => {
  // Linux's loop driver completes a write its backing file took only in part as a success (root-devices.ts
  // attachLoop): a file system that fills up during the sync would lose data unseen. The run itself is fine
  // here (only 1 MiB of the source is not zeros), so the warning is all that tells.
  const space = scratch.path('small-fs');
  mkdirSync(space);
  t.teardown(mountTmpfs(space, '4M'));
  const file = `${space}/disk.img`;
  writeSparse(file, 16 * MiB);
  const source = scratch.path('warn-source.img');
  writeSparse(source, 16 * MiB, [{ offset: 3 * MiB, data: randomBytes(MiB) }]);

  const warned = await basyn([source, `loop://${file}`], { timeoutMs: 120_000 });
  t.is(warned.code, 0, warned.stderr);
  t.regex(warned.stderr, new RegExp(`^loop://${file}: ${file} has 16\\.0 MiB not yet allocated and its file system only 4\\.0 MiB free; .*Allocate the file first: fallocate -l ${16 * MiB} ${file}$`, 'm'));
  t.true(readFileSync(file).equals(readFileSync(source)), 'synced all the same');

  execFileSync('truncate', ['-s', `${2 * MiB}`, file]);
  execFileSync('fallocate', ['-l', `${2 * MiB}`, file]);
  writeSparse(source, 2 * MiB, [{ offset: 0, data: randomBytes(MiB) }]);
  const quiet = await basyn([source, `loop://${file}`], { timeoutMs: 120_000 });
  t.is(quiet.code, 0, quiet.stderr);
  t.notRegex(quiet.stderr, /not yet allocated/);
  t.true(readFileSync(file).equals(readFileSync(source)));
});

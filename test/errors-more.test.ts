// Rows of docs/errors.md's "Other messages" that a pure function of basyn raises (a tasks config, an
// endpoint's spelling, an ssh config, the wire codec): each made for real here, in-process and without
// I/O beyond a temp folder, and checked against its row (exit code and message pattern) and its table
// row (the stable code). errors-doc.test.ts does the same for the main table with whole runs; the
// rows here need no run, so they cost milliseconds.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BasynError, ERROR_ROWS, type ErrorCode } from '../src/shared/errors';
import { decode, MSG } from '../src/shared/protocol';
import { parseConfig } from '../src/local/tasks/config';
import { deviceArgs } from '../src/local/tasks/endpoint-args';
import { LVM_SNAPSHOT } from '../src/local/resources/lvm-snapshot';
import { LOOP } from '../src/local/resources/loop';
import { loadSshConfig, parseJumpHost } from '../src/local/transport/ssh-config';
import { docRows, messagePattern } from './helpers/errors-doc';

const ROWS = docRows();

const dir = mkdtempSync(join(tmpdir(), 'basyn-errors-more-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const config = (text: string) => () => parseConfig(join(dir, 'tasks.conf'), text);
const TASK = '[db]\nsource = a.img\ntarget = b.img\n';

/** Each code with one or more calls that must throw exactly that row's error. */
const CASES: Partial<Record<ErrorCode, Array<() => unknown>>> = {
  TASKS_CONFIG_TASK_NAME: [config('[db.main]\nsource = a.img\ntarget = b.img\n')],
  TASKS_CONFIG_OUTSIDE_SECTION: [config('source = a.img\n[db]\ntarget = b.img\n')],
  TASKS_CONFIG_NO_ENDPOINT: [config('[db]\nsource = a.img\n')],
  TASKS_CONFIG_LIST: [config('[db]\nsource = a.img\ntarget[] = b.img\ntarget[] = c.img\n')],
  TASKS_CONFIG_EMPTY: [config('[db]\nsource = a.img\ntarget =\n')],
  TASKS_CONFIG_FLAG: [config(`${TASK}recheck = maybe\n`)],
  TASKS_CONFIG_CREATE_TARGET: [config('[db]\nsource = a.img\ntarget = backup:/srv/b.img\ncreate_target_if_missing = yes\n')],
  TASKS_CONFIG_SNAPSHOT_NAME: [config(`${TASK}lvm_snapshot_name = nightly\n`)],
  TASKS_CONFIG_PATCH_DIR_BITMAP: [config(`${TASK}patch_dir = ${dir}\nbitmap = db.bitmap\n`)],
  TASKS_CONFIG_PATCH_DIR: [config(`${TASK}patch_dir = ${join(dir, 'no-such-folder')}\n`)],
  TASKS_CONFIG_TASK: [config('[db]\nsource = one:/srv/a.img\ntarget = two:/srv/b.img\n')],
  TASKS_BOTH_REMOTE: [() => deviceArgs('one:/srv/a.img', 'two:/srv/b.img')],
  LVM_URL: [() => LVM_SNAPSHOT.check('lvm+snapshot://vg', 'source', {})],
  LVM_UNKNOWN_PARAMETER: [() => LVM_SNAPSHOT.check('lvm+snapshot://vg/db?colour=red', 'source', {})],
  LVM_SIZE_ZERO: [() => LVM_SNAPSHOT.check('lvm+snapshot://vg/db?size=0', 'source', {})],
  LVM_SNAPSHOT_NAME: [() => LVM_SNAPSHOT.check('lvm+snapshot://vg/db?name=a%20b', 'source', {})],
  LVM_SNAPSHOT_AS_TARGET: [() => LVM_SNAPSHOT.check('lvm+snapshot://vg/db', 'target', {})],
  LOOP_URL: [() => LOOP.check('loop://', 'source', {})],
  SSH_CONFIG_JUMP_HOST: [() => parseJumpHost('admin@')],
  SSH_CONFIG_JUMP_PORT: [() => parseJumpHost('jump:70000')],
  SSH_CONFIG_INCLUDE_DEPTH: [() => {
    writeFileSync(join(dir, 'ssh_config'), `Include ${join(dir, 'ssh_config')}\n`);
    return loadSshConfig(join(dir, 'ssh_config'), dir);
  }],
  PROTOCOL_PAYLOAD_SHORT: [() => decode(MSG.READ, 1, Buffer.alloc(3))],
  PROTOCOL_TRAILING_BYTES: [() => decode(MSG.FLUSH, 1, Buffer.alloc(2))],
  PROTOCOL_UNKNOWN_MESSAGE: [() => decode(0xee, 1, Buffer.alloc(0))],
  PROTOCOL_HELLO_MAGIC: [() => decode(MSG.HELLO, 0, Buffer.alloc(64))],
};

for (const [code, calls] of Object.entries(CASES)) {
  test(`${code}: made for real, it is its row`, (t) => {
    const doc = ROWS.get(code);
    if (!doc) return t.fail(`${code} has no row in docs/errors.md`);
    const row = ERROR_ROWS[code as ErrorCode];
    for (const call of calls ?? []) {
      const error = t.throws(call);
      if (!(error instanceof BasynError)) {
        t.fail(`not a BasynError: ${String(error)}`);
        continue;
      }
      t.log(error.message);
      t.is(error.exitCode, doc.exit, 'exit code');
      t.is(error.code, row.code, 'stable code');
      t.regex(error.message, messagePattern(doc.message));
    }
  });
}

test('the cases are rows of the "Other messages" and task tables (the main table has errors-doc.test.ts)', (t) => {
  t.true(Object.keys(CASES).length >= 25);
  for (const code of Object.keys(CASES)) t.true(code in ERROR_ROWS, code);
});

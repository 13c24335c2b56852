// The tables of the errors module (src/shared/errors.ts: ERROR_TABLES, and DEVICE_ERRORS) against
// docs/errors.md: every row of a table has the row of the same code in the doc (in its main table or
// in "Other messages"), with the exit code of the error basynError makes of it and the same message
// (the builder fed with its own parameter names as the doc's placeholders, `<option>`, gives the doc's
// text), and every row of the doc is a row of a table. test/errors-doc.test.ts then makes each message
// of the main table happen for real.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  COMMANDER_ERRORS, DEVICE_ERRORS, ERROR_ROWS, ERROR_TABLES, EXIT_SYNC, basynError, deviceError, deviceWriteError, devicePathError,
  type ErrorCode,
} from '../src/shared/errors';
import { docRows, messagePattern } from './helpers/errors-doc';

const rows = docRows();

/** Each builder with the doc's placeholders for its arguments. */
const PLACEHOLDERS: Record<keyof typeof DEVICE_ERRORS, string> = {
  DEVICE_NOT_FOUND: DEVICE_ERRORS.DEVICE_NOT_FOUND.message('<path>'),
  DEVICE_NOT_CREATED: DEVICE_ERRORS.DEVICE_NOT_CREATED.message('<path>'),
  DEVICE_NO_SUCH_USER: DEVICE_ERRORS.DEVICE_NO_SUCH_USER.message('<path>'),
  DEVICE_PATH_NOT_DIRECTORY: DEVICE_ERRORS.DEVICE_PATH_NOT_DIRECTORY.message('<path>'),
  DEVICE_IS_DIRECTORY: DEVICE_ERRORS.DEVICE_IS_DIRECTORY.message('<path>'),
  DEVICE_IS_FIFO: DEVICE_ERRORS.DEVICE_IS_FIFO.message('<path>'),
  DEVICE_IS_CHARACTER_DEVICE: DEVICE_ERRORS.DEVICE_IS_CHARACTER_DEVICE.message('<path>'),
  DEVICE_SYMLINK_LOOP: DEVICE_ERRORS.DEVICE_SYMLINK_LOOP.message('<path>'),
  DEVICE_NOT_READABLE: DEVICE_ERRORS.DEVICE_NOT_READABLE.message('<path>'),
  DEVICE_NOT_WRITABLE: DEVICE_ERRORS.DEVICE_NOT_WRITABLE.message('<path>'),
  DEVICE_ON_READ_ONLY_FS: DEVICE_ERRORS.DEVICE_ON_READ_ONLY_FS.message('<path>'),
  DEVICE_BUSY: DEVICE_ERRORS.DEVICE_BUSY.message('<path>'),
  IO_NO_SPACE: DEVICE_ERRORS.IO_NO_SPACE.message('Write of <n> bytes at offset <offset> of <path>'),
  IO_ERROR: DEVICE_ERRORS.IO_ERROR.message('Flush of <path>'),
  IO_READ_ERROR: DEVICE_ERRORS.IO_READ_ERROR.message('<path>', '<offset>', '<length>', '<reason>'),
};

/** A builder's parameter names, from its source text: `(option, min) => ...` gives option, min. */
function parameterNames(builder: (...values: never[]) => string): string[] {
  // `(a, b) => ...`, or `a => ...` (a compiler may drop the parentheses of a single parameter).
  const source = builder.toString();
  const list = /^\(([^)]*)\)/.exec(source)?.[1] ?? /^(\w+)\s*=>/.exec(source)?.[1] ?? '';
  return list.split(',').map((name) => name.trim().split(/[\s=:]/)[0]).filter(Boolean);
}


test('every row of every table is a row of docs/errors.md with the exit code of its error and the same message', (t) => {
  const tables = Object.entries(ERROR_TABLES);
  t.true(tables.length >= 8, `${tables.length} tables`);
  const count = tables.reduce((sum, [, table]) => sum + Object.keys(table).length, 0);
  t.is(Object.keys(ERROR_ROWS).length, count, 'no code is a row of two tables');
  t.true(count >= 200, `${count} rows`);
  for (const [code, row] of Object.entries(ERROR_ROWS)) {
    const builder = row.message as (...values: string[]) => string;
    const error = (basynError as (code: ErrorCode, ...values: string[]) => Error & { exitCode: number; code: string })(code as ErrorCode, ...parameterNames(builder).map((name) => `<${name}>`));
    const doc = rows.get(code);
    if (!doc) {
      t.fail(`${code} has no row in docs/errors.md (message: ${error.message})`);
      continue;
    }
    t.is(doc.exit, error.exitCode, `${code}: exit`);
    t.is(error.code, row.code, `${code}: the stable code`);
    t.regex(row.code, /^E[A-Z_]+$/, `${code}: the stable code`);
    // The doc's text, or its stable prefix (…), read with the builder's own placeholders; or the doc
    // spells a value out where the builder has a parameter (64M for <max>M).
    t.true(messagePattern(doc.message).test(error.message) || messagePattern(error.message).test(doc.message), `${code}: the doc says ${doc.message}, the code ${error.message}`);
  }
});

test('every row of docs/errors.md is a row of a table (or a device error, or commander\'s own)', (t) => {
  t.true(rows.size >= 200, `${rows.size} rows`);
  const elsewhere = new Set<string>([...COMMANDER_ERRORS, ...Object.keys(DEVICE_ERRORS)]);
  t.deepEqual([...rows.keys()].filter((code) => !(code in ERROR_ROWS) && !elsewhere.has(code)), [], 'rows of the doc missing in the tables');
  t.deepEqual(COMMANDER_ERRORS.filter((code) => !rows.has(code)), [], "commander's rows are in the doc");
});

test('the main table of docs/errors.md (the one errors-doc.test.ts runs) holds exit 1 and 2 only', (t) => {
  const main = [...rows.entries()].filter(([, row]) => row.section === 'main');
  t.true(main.length >= 100, `${main.length} rows`);
  t.deepEqual(main.filter(([, row]) => row.exit !== 1 && row.exit !== 2).map(([code]) => code), []);
});

test('parameterNames reads what the builders are written with (it can fail)', (t) => {
  t.deepEqual(parameterNames(ERROR_ROWS.USAGE_OUT_OF_RANGE.message), ['option', 'min', 'max', 'value']);
  t.deepEqual(parameterNames(ERROR_ROWS.USAGE_MODE_MISSING.message), []);
  t.false(messagePattern('Option <option> must be given').test('Option -x must be given now'));
});

test('every device error of errors.ts is a row of docs/errors.md with exit 2 and the same message', (t) => {
  t.true(Object.keys(DEVICE_ERRORS).length >= 13);
  for (const [code, message] of Object.entries(PLACEHOLDERS)) {
    const row = rows.get(code);
    if (!row) {
      t.fail(`${code} has no row in docs/errors.md`);
      continue;
    }
    t.is(row.exit, EXIT_SYNC, `${code}: exit`);
    t.is(row.message, message, `${code}: message`);
  }
});

test('every DEVICE_ and IO_ row of docs/errors.md is a device error of errors.ts (or a controller check)', (t) => {
  // DEVICE_EMPTY is the controller's size check (session), not an agent error.
  const controller = new Set(['DEVICE_EMPTY']);
  const documented = [...rows.keys()].filter((code) => /^(DEVICE|IO)_/.test(code) && !controller.has(code));
  t.true(documented.length >= 13, `${documented.length} rows`);
  t.deepEqual(documented.filter((code) => !(code in DEVICE_ERRORS)), [], 'rows of the doc missing in errors.ts');
});

test('the agent raises each device error with the code of its table row', (t) => {
  const cases: Array<[keyof typeof DEVICE_ERRORS, ReturnType<typeof deviceError>]> = [
    ['DEVICE_NOT_FOUND', deviceError('/d', { code: 'ENOENT' }, false)],
    ['DEVICE_PATH_NOT_DIRECTORY', deviceError('/d', { code: 'ENOTDIR' }, false)],
    ['DEVICE_NOT_READABLE', deviceError('/d', { code: 'EACCES' }, false)],
    ['DEVICE_NOT_WRITABLE', deviceError('/d', { code: 'EPERM' }, true)],
    ['DEVICE_SYMLINK_LOOP', deviceError('/d', { code: 'ELOOP' }, false)],
    ['DEVICE_ON_READ_ONLY_FS', deviceError('/d', { code: 'EROFS' }, true)],
    ['DEVICE_BUSY', deviceError('/d', { code: 'EBUSY' }, true)],
    ['DEVICE_IS_DIRECTORY', devicePathError('/d', 'DEVICE_IS_DIRECTORY')],
    ['DEVICE_IS_FIFO', devicePathError('/d', 'DEVICE_IS_FIFO')],
    ['DEVICE_IS_CHARACTER_DEVICE', devicePathError('/d', 'DEVICE_IS_CHARACTER_DEVICE')],
    ['IO_NO_SPACE', deviceWriteError('Write of 1 bytes at offset 0 of /d', { code: 'ENOSPC' })],
    ['IO_ERROR', deviceWriteError('Flush of /d', { code: 'EIO' })],
  ];
  for (const [code, error] of cases) {
    const errno = DEVICE_ERRORS[code].errno;
    // EPERM is reported with its own errno under the EACCES row's message.
    t.is(error.code, code === 'DEVICE_NOT_WRITABLE' ? 'EPERM' : errno, code);
    t.is(error.exitCode, EXIT_SYNC, code);
    if (code.startsWith('DEVICE_')) t.is(error.message, (rows.get(code)?.message ?? '').replace('<path>', '/d'), `${code}: the row's message`);
  }
  t.is(deviceWriteError('Write of 1 bytes at offset 0 of /d', { code: 'ENOSPC' }).message, 'Write of 1 bytes at offset 0 of /d failed: no space left on device (ENOSPC); nothing more is written to it');
  t.is(deviceWriteError('Flush of /d', { code: 'EIO' }).message, 'Flush of /d failed: i/o error (EIO); nothing more is written to it');
});

test("the agent's own errors: each raised with its table row's code as the ERROR code, exit 2 at the controller", (t) => {
  const cases: Array<[ReturnType<typeof basynError>, string, string]> = [
    [basynError('AGENT_NOT_OPEN'), 'ENOTOPEN', 'no device is open'],
    [basynError('AGENT_RANGE', 4096, 512, '/d', 4000), 'ERANGE', 'range 4096+512 is beyond the end of /d (4000 bytes)'],
    [basynError('AGENT_UNKNOWN_HASH', 99), 'EHASH', 'unknown hash id 99'],
    [basynError('AGENT_READ_ONLY', '/d'), 'EROFS', '/d is open read-only'],
    [basynError('AGENT_END_OF_DEVICE', 8192), 'EEOF', 'unexpected end of device at 8192'],
    [basynError('AGENT_STOPPED'), 'ESTOPPED', 'agent stopped'],
    [basynError('AGENT_UNEXPECTED', 'message type 9'), 'EPROTO', 'unexpected message type 9'],
    [basynError('AGENT_HASH_THREAD', 'exit code 1'), 'EWORKER', 'hashing thread failed: exit code 1'],
  ];
  t.is(cases.length, Object.keys(ERROR_ROWS).filter((code) => code.startsWith('AGENT_')).length, 'every AGENT_ row is here');
  for (const [error, code, message] of cases) {
    t.is(error.name, 'AgentError');
    t.is(error.code, code);
    t.is(error.exitCode, EXIT_SYNC);
    t.is(error.message, message);
  }
});

test('basynError makes the class of the row: the exit code and instanceof follow the table', (t) => {
  t.is(basynError('USAGE_MODE_MISSING').exitCode, 1);
  t.is(basynError('BITMAP_EMPTY', '/b', 'fix').name, 'BitmapError');
  t.is(basynError('STATE_FILE_SYMLINK_LOOP', 'Bitmap', '/b').name, 'StateFileError');
  t.is(basynError('PATCH_EMPTY').name, 'PatchError');
  t.is(basynError('TASK_RUNNING', 7).status, 'skipped');
  t.is(basynError('TASK_SPAWN', 'x').exitCode, 3);
  t.is(basynError('RECHECK_MISMATCH', 'found').name, 'MismatchError');
  t.is(basynError('INTERRUPTED', 'SIGINT').message, 'Interrupted by user');
});

test('outside the tables, src/ builds no message of its own: a BasynError made with a text is an "internal:" invariant', (t) => {
  // A new user-visible error belongs in a table (and so in docs/errors.md): this finds one written
  // inline, `new SyncError(`...`)` and the like, in any file of src/ but the errors module itself.
  const classes = 'UsageError|StateFileError|BitmapError|SyncError|ProtocolError|MismatchError|AgentError|PatchError|ResourceError|TaskFailure';
  const inline = new RegExp(`new (?:${classes})\\(\\s*([\`'"])(.{0,40})`, 'g');
  const root = join(__dirname, '..', 'src');
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts') && !/^shared\/errors/.test(file));
  t.true(files.length > 50, `${files.length} files`);
  const found: string[] = [];
  for (const file of files) {
    for (const match of readFileSync(join(root, file), 'utf8').matchAll(inline)) {
      if (!match[2].startsWith('internal: ')) found.push(`${file}: ${match[0]}`);
    }
  }
  t.deepEqual(found, []);
  // The check can fail: an inline message is found.
  t.is([..."throw new SyncError(`disk ${x} failed`, 'EX')".matchAll(inline)].length, 1);
});

test('the device rows found without an errno are raised with their row\'s errno code and message', (t) => {
  for (const row of ['DEVICE_NOT_CREATED', 'DEVICE_NO_SUCH_USER'] as const) {
    const error = devicePathError('/d', row);
    t.is(error.code, DEVICE_ERRORS[row].errno, row);
    t.is(error.message, (rows.get(row)?.message ?? '').replace('<path>', '/d'), row);
  }
});

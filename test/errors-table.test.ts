// The tables of the errors module (src/shared/errors.ts: USAGE_ERRORS, SYNC_ERRORS, DEVICE_ERRORS) against
// docs/errors.md: every row of a table has the row of the same code in the doc, with the table's exit
// code and the same message (the builder fed with its own parameter names as the doc's placeholders,
// `<option>`, gives the doc's text), and every row of the doc of those kinds (USAGE_, DEVICE_, IO_) has
// its row in a table. test/errors-doc.test.ts then makes each message happen for real.
import test, { type ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_ERRORS, COMMANDER_ERRORS, DEVICE_ERRORS, EXIT_SYNC, EXIT_USAGE, SYNC_ERRORS, USAGE_ERRORS, agentError, deviceError, deviceWriteError, unsyncableDeviceError } from '../src/shared/errors';

/** code → { exit, message } from the rows between the errors:begin/end markers (parsed on its own, not with the code's help). */
function docRows(): Map<string, { exit: number; message: string }> {
  const text = readFileSync(join(__dirname, '..', 'docs', 'errors.md'), 'utf8');
  const table = /<!-- errors:begin -->\n([\s\S]*?)<!-- errors:end -->/.exec(text)?.[1] ?? '';
  const rows = new Map<string, { exit: number; message: string }>();
  for (const line of table.split('\n')) {
    const match = /^\| `([A-Z0-9_]+)` \| (\d) \| `([^`]*)` \|/.exec(line);
    if (match) rows.set(match[1], { exit: Number(match[2]), message: match[3].replace(/\\\|/g, '|') });
  }
  return rows;
}

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
  const list = /^\(([^)]*)\)/.exec(builder.toString())?.[1] ?? '';
  return list.split(',').map((name) => name.trim().split(/[\s=:]/)[0]).filter(Boolean);
}

/** A message template as a regex: `<name>` is any text, a final `…` allows more after it. */
function pattern(template: string): RegExp {
  const prefix = template.endsWith('…');
  const body = prefix ? template.slice(0, -1) : template;
  const literal = body.split(/<[^<>]+>/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${literal.join('.+?')}${prefix ? '' : '$'}`, 's');
}

/**
 * Checks one table of the errors module against the doc: each row there with `exit` and the same
 * message, and every row of the doc whose code `belongs` (minus `elsewhere`) in the table.
 */
function checkTable(t: ExecutionContext, builders: Record<string, (...values: never[]) => string>, exit: number, belongs: (code: string) => boolean, elsewhere: readonly string[] = []): void {
  for (const [code, builder] of Object.entries(builders)) {
    const message = (builder as (...values: string[]) => string)(...parameterNames(builder).map((name) => `<${name}>`));
    const row = rows.get(code);
    if (!row) {
      t.fail(`${code} has no row in docs/errors.md (message: ${message})`);
      continue;
    }
    t.is(row.exit, exit, `${code}: exit`);
    // The doc's text, or its stable prefix (…), read with the builder's own placeholders; or the doc
    // spells a value out where the builder has a parameter (64M for <max>M).
    t.true(pattern(row.message).test(message) || pattern(message).test(row.message), `${code}: the doc says ${row.message}, the code ${message}`);
  }
  const documented = [...rows.keys()].filter(belongs);
  t.deepEqual(documented.filter((code) => !(code in builders) && !elsewhere.includes(code)), [], 'rows of the doc missing in the table');
  t.deepEqual(elsewhere.filter((code) => !rows.has(code)), [], 'the rows made elsewhere are in the doc');
}

test('every command-line error of errors.ts is a row of docs/errors.md with exit 1 and the same message, and the other way round', (t) => {
  t.true(Object.keys(USAGE_ERRORS).length >= 60, `${Object.keys(USAGE_ERRORS).length} rows`);
  // commander prints four of them itself, before any of basyn's code runs.
  checkTable(t, USAGE_ERRORS, EXIT_USAGE, (code) => code.startsWith('USAGE_'), COMMANDER_ERRORS);
});

test('every error of a started run in errors.ts is a row of docs/errors.md with exit 2 and the same message, and the other way round', (t) => {
  const builders = Object.fromEntries(Object.entries(SYNC_ERRORS).map(([code, row]) => [code, row.message]));
  t.true(Object.keys(builders).length >= 12);
  checkTable(t, builders, EXIT_SYNC, (code) => /^(DEVICE_EMPTY|SIZE_|RECHECK_|INTERRUPTED|LINK_|WRAPPER_|REMOTE_)/.test(code));
  // Each row's stable code is what --json and a failed task report.
  for (const [code, row] of Object.entries(SYNC_ERRORS)) t.regex(row.code, /^E[A-Z]+$/, code);
});

test('parameterNames reads what the builders are written with (it can fail)', (t) => {
  t.deepEqual(parameterNames(USAGE_ERRORS.USAGE_OUT_OF_RANGE), ['option', 'min', 'max', 'value']);
  t.deepEqual(parameterNames(USAGE_ERRORS.USAGE_MODE_MISSING), []);
  t.false(pattern('Option <option> must be given').test('Option -x must be given now'));
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
    ['DEVICE_IS_DIRECTORY', unsyncableDeviceError('/d', 'DEVICE_IS_DIRECTORY')],
    ['DEVICE_IS_FIFO', unsyncableDeviceError('/d', 'DEVICE_IS_FIFO')],
    ['DEVICE_IS_CHARACTER_DEVICE', unsyncableDeviceError('/d', 'DEVICE_IS_CHARACTER_DEVICE')],
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
  const cases: Array<[keyof typeof AGENT_ERRORS, ReturnType<typeof agentError>, string]> = [
    ['ENOTOPEN', agentError('ENOTOPEN'), 'no device is open'],
    ['ERANGE', agentError('ERANGE', 4096, 512, '/d', 4000), 'range 4096+512 is beyond the end of /d (4000 bytes)'],
    ['EHASH', agentError('EHASH', 99), 'unknown hash id 99'],
    ['EROFS', agentError('EROFS', '/d'), '/d is open read-only'],
    ['EEOF', agentError('EEOF', 8192), 'unexpected end of device at 8192'],
    ['ESTOPPED', agentError('ESTOPPED'), 'agent stopped'],
    ['EPROTO', agentError('EPROTO', 'message type 9'), 'unexpected message type 9'],
    ['EWORKER', agentError('EWORKER', 'it ended (exit code 1)'), 'hashing thread failed: it ended (exit code 1)'],
  ];
  t.deepEqual(cases.map(([code]) => code).sort(), Object.keys(AGENT_ERRORS).sort(), 'every row is here');
  for (const [code, error, message] of cases) {
    t.is(error.code, code);
    t.is(error.exitCode, EXIT_SYNC);
    t.is(error.message, message);
  }
});

// --help and the man page basyn(1) come from one source (src/local/manual.ts and cli.ts's option
// definitions): every option --help lists is in the built man page, the man page in dist/ is what the
// sources make now, --help fits 80 columns and ends with examples, and man(1) renders the page.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildProgram } from '../src/local/cli';
import { EXAMPLES, HELP_EXAMPLES } from '../src/local/manual';
import { basyn } from './helpers/cli';
import { tempDir } from './helpers/images';

const ROOT = join(__dirname, '..');
const MAN_PAGE = join(ROOT, 'dist', 'basyn.1');

/** The option terms of --help ("-l, --local <device>"), from its Options: block. */
function helpOptions(help: string): string[] {
  const block = help.slice(help.indexOf('\nOptions:\n'), help.indexOf('\nCommands'));
  return [...block.matchAll(/^ {2}(-\S.*?)(?: {2,}|$)/gm)].map((match) => match[1]);
}

/** man's text without roff fonts: what a reader sees. */
function rendered(roff: string): string | undefined {
  const result = spawnSync('man', ['-l', '-'], { input: roff, encoding: 'utf8', env: { ...process.env, MANWIDTH: '80', MAN_KEEP_FORMATTING: '', MANPAGER: 'cat', PAGER: 'cat' } });
  // eslint-disable-next-line no-control-regex -- man may overstrike (x BACKSPACE x) for bold
  return result.status === 0 ? result.stdout.replace(/.\u0008/g, '') : undefined;
}

test('--help fits 80 columns, lists the commands and ends with examples', async (t) => {
  const result = await basyn(['--help'], { env: { ...process.env, COLUMNS: '200' } });
  t.is(result.code, 0);
  const lines = result.stdout.trimEnd().split('\n');
  t.deepEqual(lines.filter((line) => line.length > 80), [], 'no line over 80 columns');
  t.regex(result.stdout, /^Usage: basyn \[options\] -l DEVICE -r DEVICE/);
  for (const word of ['patch', 'tasks', 'check-host', 'completion']) t.regex(result.stdout, new RegExp(`^ {2}basyn ${word}\\b`, 'm'));
  const examples = result.stdout.slice(result.stdout.indexOf('\nExamples:\n'));
  t.true(HELP_EXAMPLES >= 2 && HELP_EXAMPLES <= 3);
  for (const example of EXAMPLES.slice(0, HELP_EXAMPLES)) t.true(examples.includes(`\n  ${example.command}\n`), example.command);
  t.is(lines[lines.length - 1], `  ${EXAMPLES[HELP_EXAMPLES - 1].command}`, 'the examples come last');
  t.true(helpOptions(result.stdout).length >= 30, 'the option list was found');
});

test('the help of each subcommand fits 80 columns too', async (t) => {
  for (const word of ['patch', 'check-host']) {
    const result = await basyn([word, '--help'], { env: { ...process.env, COLUMNS: '200' } });
    t.is(result.code, 0, word);
    t.regex(result.stdout, new RegExp(`^Usage: basyn ${word} `), word);
    t.deepEqual(result.stdout.split('\n').filter((line) => line.length > 80), [], `basyn ${word} --help`);
  }
});

test('every option of --help is in the man page, with its description', async (t) => {
  const help = (await basyn(['--help'])).stdout;
  const page = rendered(readFileSync(MAN_PAGE, 'utf8'));
  if (page === undefined) {
    // CI has man: .ci/run installs man-db.
    if (process.env.CI) t.fail('man(1) cannot render the page');
    else t.log('man(1) is not installed here: only the roff source was built');
    return;
  }
  const flat = page.replace(/\s+/g, ' ').replace(/‐ /g, '');
  for (const term of helpOptions(help)) {
    t.true(flat.includes(term.replace(/[<>]/g, '')), `man page lists ${term}`);
  }
  for (const option of buildProgram().options) {
    const start = option.description.split(' ').slice(0, 4).join(' ');
    t.true(flat.includes(start), `man page describes ${option.flags}: "${start}"`);
  }
  for (const heading of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'COMMANDS', 'EXIT STATUS', 'FILES', 'BITMAPS', 'SSH', 'EXAMPLES']) {
    t.regex(page, new RegExp(`^${heading}$`, 'm'), heading);
  }
  for (const example of EXAMPLES) t.true(page.includes(example.command), example.command);
});

test('the man page in dist/ is what the sources make now (rebuilt by npm run build)', (t) => {
  const temp = tempDir();
  try {
    execFileSync(process.execPath, ['--import', 'tsx', join('scripts', 'build-man.mts'), temp.path('basyn.1')], { cwd: ROOT });
    const date = /^\.TH .*$/m; // the build date
    t.is(readFileSync(MAN_PAGE, 'utf8').replace(date, ''), readFileSync(temp.path('basyn.1'), 'utf8').replace(date, ''));
  } finally {
    temp.cleanup();
  }
});

// The numbers the docs state, against the constants in the code: docs/protocol.md's message table (§3)
// and its table of limits (§6), the README's window and its Code map. A constant changed (or a module
// removed) without its doc fails here.
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { COMMIT_EVERY_BUFFERS, COMMIT_EVERY_BYTES } from '../src/local/bitmap-sync';
import { IN_FLIGHT_BYTES } from '../src/local/engine';
import { RPC_WINDOW } from '../src/local/peer';
import { MIN_ZERO_RUN_BYTES, ZERO_RUN_GRANULE } from '../src/shared/block-codec';
import { ENCODING, MAX_BUFFER_SIZE, MAX_FRAME_LENGTH, MSG, PROTOCOL_VERSION } from '../src/shared/protocol';

const ROOT = join(__dirname, '..');
const protocolDoc = readFileSync(join(ROOT, 'docs', 'protocol.md'), 'utf8');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The text of section `## N. ...` up to the next `## `. */
function section(text: string, number: number): string {
  const start = text.search(new RegExp(`^## ${number}\\. `, 'm'));
  if (start < 0) throw new Error(`no section ${number}`);
  const rest = text.slice(start + 1);
  const end = rest.search(/^## /m);
  return end < 0 ? rest : rest.slice(0, end);
}

/** The cells of every table row (`| a | b |`) of `text`, separator rows left out. */
function rows(text: string): string[][] {
  return text.split('\n')
    .filter((line) => line.startsWith('|') && !/^\|[\s|:-]+\|$/.test(line))
    .map((line) => line.slice(1, -1).split('|').map((cell) => cell.trim()));
}

/** "64 MiB + 64 KiB", "32 MiB", "64" as a number of bytes (or a plain number). */
function quantity(text: string): number {
  return text.split('+').reduce((sum, term) => {
    const match = /^\s*(\d+)\s*(KiB|MiB|GiB)?\s*$/.exec(term);
    if (!match) throw new Error(`not a quantity: '${text}'`);
    const unit = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[match[2] as 'KiB' | 'MiB' | 'GiB'] ?? 1;
    return sum + Number(match[1]) * unit;
  }, 0);
}

test('docs/protocol.md §3: the message table has every message type with its code, and nothing else', (t) => {
  const documented = rows(section(protocolDoc, 3))
    .filter((cells) => /^0x[0-9a-f]{2}$/.test(cells[0]))
    .map((cells) => [cells[1], Number(cells[0])] as const);
  t.deepEqual(Object.fromEntries(documented), { ...MSG });
});

test('docs/protocol.md §3: the block encoding table has every encoding with its number, and nothing else', (t) => {
  const documented = rows(section(protocolDoc, 3))
    .filter((cells) => cells.length === 3 && /^\d+$/.test(cells[0]) && /^[A-Z]+$/.test(cells[1]))
    .map((cells) => [cells[1], Number(cells[0])] as const);
  t.deepEqual(Object.fromEntries(documented), { ...ENCODING });
});

test('docs/protocol.md §6: every limit equals its constant in the code', (t) => {
  const code: Record<string, number> = {
    PROTOCOL_VERSION,
    MAX_BUFFER_SIZE,
    MAX_FRAME_LENGTH,
    RPC_WINDOW,
    'IN_FLIGHT_BYTES.compare': IN_FLIGHT_BYTES.compare,
    'IN_FLIGHT_BYTES.copy': IN_FLIGHT_BYTES.copy,
    ZERO_RUN_GRANULE,
    MIN_ZERO_RUN_BYTES,
    COMMIT_EVERY_BYTES,
    COMMIT_EVERY_BUFFERS,
  };
  const documented = Object.fromEntries(
    rows(section(protocolDoc, 6)).filter((cells) => cells[0].startsWith('`')).map((cells) => [cells[0].replace(/`/g, ''), quantity(cells[1])]),
  );
  t.deepEqual(documented, code);
});

test('docs/protocol.md and README: every "N requests in flight" is RPC_WINDOW', (t) => {
  const claims = [...`${protocolDoc}\n${readme}`.matchAll(/(\d+) requests (?:are )?in flight/g)].map((match) => Number(match[1]));
  t.true(claims.length >= 2, `the docs state the window: ${JSON.stringify(claims)}`);
  t.deepEqual(claims, claims.map(() => RPC_WINDOW));
});

test('README Code map: every module it names exists', (t) => {
  const map = readme.slice(readme.indexOf('## Code map'));
  const named = [...map.matchAll(/^\| `(src\/[^`]+\.ts)` \|/gm)].map((match) => match[1]);
  t.true(named.length >= 30, `the map names the modules: ${named.length}`);
  t.deepEqual(named.filter((path) => !existsSync(join(ROOT, path))), [], 'named in the Code map but missing');
  // And the other way: a module the map leaves out is one a newcomer cannot place.
  const modules = (readdirSync(join(ROOT, 'src'), { recursive: true }) as string[])
    .filter((file) => file.endsWith('.ts')).map((file) => `src/${file.split(sep).join('/')}`);
  t.true(modules.length >= 30);
  t.deepEqual(modules.filter((path) => !named.includes(path)).sort(), [], 'modules of src/ missing in the Code map');
});

test('README: every "protocol N" it shows (--version, --verbose) is PROTOCOL_VERSION', (t) => {
  const shown = [...readme.matchAll(/\bprotocol (\d+)\b/g)].map((match) => Number(match[1]));
  t.true(shown.length >= 2, 'the --version and --verbose examples');
  t.deepEqual([...new Set(shown)], [PROTOCOL_VERSION]);
});

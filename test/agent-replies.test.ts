// Replies from a misbehaving agent, met through the real controller path (CLI, --rsh transport, rpc,
// engine): the agent side is test/helpers/tamper-agent.ts, the real agent with exactly one reply
// changed. A DATA block of the wrong length or a DIGESTS payload of the wrong size is a protocol
// error: exit 2, one line, and nothing written from it.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { DEFAULT_HASH } from '../src/local/option-values';
import { hashByName } from '../src/shared/hash';
import { basyn, hasStackTrace } from './helpers/cli';
import { devices, random, sha256 } from './helpers/scenario';
import { tamperCommand } from './helpers/tamper';

const SIZE = 4 * 1024 * 1024;
/** The digests a 2 MiB buffer's 32 chunks of 64 KiB take with the default digest of a run without -b. */
const CHUNK_DIGESTS_LENGTH = 32 * (hashByName(DEFAULT_HASH.withoutBitmap)?.digestLength ?? NaN);

for (const mode of ['short-data', 'long-data'] as const) {
  test(`a DATA block ${mode === 'short-data' ? 'shorter' : 'longer'} than the range read is a protocol error and nothing is written (PULL from the agent)`, async (t) => {
    const source = random(SIZE);
    const destination = random(SIZE);
    const where = devices(t, 'PULL', source, destination);
    const result = await basyn([...where.args, '-h', 'tampered', '--rsh', tamperCommand(mode), '-a', 'PULL', '-m', 'COPY'], { timeoutMs: 240_000 });
    t.is(result.code, 2, result.stderr);
    t.regex(result.stderr, /^Protocol error: the remote agent sent a block of \d+ bytes for a read of 2097152 bytes at offset 0\n$/);
    t.false(hasStackTrace(result.stderr));
    t.is(sha256(readFileSync(where.destination)), sha256(destination), 'nothing written to the destination');
    t.is(sha256(readFileSync(where.source)), sha256(source), 'the source is unchanged');
  });
}

for (const mode of ['short-digests', 'long-digests'] as const) {
  test(`a DIGESTS payload ${mode === 'short-digests' ? 'one byte short' : 'one digest too long'} is a protocol error and nothing is written (PUSH SYNC to the agent)`, async (t) => {
    const source = random(SIZE);
    const destination = random(SIZE);
    const where = devices(t, 'PUSH', source, destination);
    const result = await basyn([...where.args, '-h', 'tampered', '--rsh', tamperCommand(mode), '-a', 'PUSH', '-m', 'SYNC'], { timeoutMs: 240_000 });
    t.is(result.code, 2, result.stderr);
    const sent = mode === 'short-digests' ? CHUNK_DIGESTS_LENGTH - 1 : CHUNK_DIGESTS_LENGTH * 2;
    t.is(result.stderr, `Protocol error: the remote agent sent ${sent} bytes of digests for 2097152 bytes at offset 0, expected ${CHUNK_DIGESTS_LENGTH}\n`);
    t.false(hasStackTrace(result.stderr));
    t.is(sha256(readFileSync(where.destination)), sha256(destination), 'nothing written to the destination');
  });
}

test('a DIGESTS payload of the wrong size from a bitmap-only source is refused before it reaches the bitmap', async (t) => {
  const source = random(SIZE);
  const where = devices(t, 'PULL', source, Buffer.alloc(0));
  const bitmap = where.dir.path('source.bitmap');
  const result = await basyn(['-r', where.remote, '-h', 'tampered', '--rsh', tamperCommand('short-digests'), '-a', 'PULL', '-m', 'SYNC', '-b', bitmap], { timeoutMs: 240_000 });
  t.is(result.code, 2, result.stderr);
  t.regex(result.stderr, /^Protocol error: the remote agent sent 19 bytes of digests for 2097152 bytes at offset 0, expected 20\n$/);
});

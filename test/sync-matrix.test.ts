// PUSH and PULL x SYNC and COPY, with and without --chunk, every hash, buffer sizes that do not divide
// the device: after each run the destination file equals the source file, byte for byte.
import test from 'ava';
import { assertSynced, devices, edited, random, run, type Action } from './helpers/scenario';

const KIB = 1024;
/** Five 64 KiB buffers and a short sixth one. */
const SIZE = 5 * 64 * KIB + 1234;
const ACTIONS: Action[] = ['PUSH', 'PULL'];
const MODES = ['SYNC', 'COPY'] as const;
/** default; 0 = off; 4 KiB divides the 64 KiB buffer; 24 KiB does not (short last chunk of 16 KiB). */
const CHUNKS = [undefined, 0, 4, 24];
/** Python basyn's eight, and our salted XXH128. */
const HASHES = ['SHA1', 'SHA224', 'SHA256', 'SHA384', 'SHA512', 'BLAKE2B', 'BLAKE2S', 'MD5', 'XXH128'];

/** Differences in the first byte, inside a chunk of buffer 1, across the buffer 2/3 border, and in the last byte. */
function destinationFor(source: Buffer): Buffer {
  const changed = edited(source, [0, 64 * KIB + 5000, 3 * 64 * KIB - 10, SIZE - 1]);
  return edited(changed, [64 * KIB + 30 * KIB], 4 * KIB);
}

for (const action of ACTIONS) {
  for (const mode of MODES) {
    for (const chunk of CHUNKS) {
      const chunkArgs = chunk !== undefined ? ['--chunk', String(chunk)] : [];
      test(`${[action, mode, ...chunkArgs].join(' ')}: scattered differences`, async (t) => {
        const source = random(SIZE);
        const where = devices(t, action, source, destinationFor(source));
        await run(t, [...where.args, '-a', action, '-m', mode, '--buffer', '64', ...chunkArgs]);
        await assertSynced(t, where, source);
      });
    }
    test(`${action} ${mode}: every byte differs`, async (t) => {
      const source = random(SIZE);
      const where = devices(t, action, source, random(SIZE));
      await run(t, [...where.args, '-a', action, '-m', mode, '--buffer', '64']);
      await assertSynced(t, where, source);
    });
  }
}

test('actions and modes are case-insensitive (push / sync, Pull / Copy)', async (t) => {
  for (const [action, mode, sourceAction] of [['push', 'sync', 'PUSH'], ['Pull', 'Copy', 'PULL']] as const) {
    const source = random(SIZE);
    const where = devices(t, sourceAction, source, destinationFor(source));
    await run(t, [...where.args, '-a', action, '-m', mode, '--buffer', '64']);
    await assertSynced(t, where, source);
  }
});

for (const hash of HASHES) {
  test(`--hash ${hash}: PUSH SYNC --chunk 4`, async (t) => {
    const source = random(SIZE);
    const where = devices(t, 'PUSH', source, destinationFor(source));
    await run(t, [...where.args, '-a', 'PUSH', '-m', 'SYNC', '--hash', hash, '--buffer', '64', '--chunk', '4']);
    await assertSynced(t, where, source);
  });
  test(`--hash ${hash.toLowerCase()}: PULL SYNC`, async (t) => {
    const source = random(SIZE);
    const where = devices(t, 'PULL', source, destinationFor(source));
    await run(t, [...where.args, '-a', 'PULL', '-m', 'SYNC', '--hash', hash.toLowerCase(), '--buffer', '64']);
    await assertSynced(t, where, source);
  });
}

// 100,003 bytes: a prime, so no buffer or chunk size divides it.
const ODD_SIZE = 100_003;
for (const [buffer, chunk] of [[1, undefined], [3, 1], [7, 2], [64, 5], [128, undefined]] as const) {
  for (const action of ACTIONS) {
    test(`${action} SYNC --buffer ${buffer}${chunk ? ` --chunk ${chunk}` : ''} on a ${ODD_SIZE}-byte device`, async (t) => {
      const source = random(ODD_SIZE);
      const where = devices(t, action, source, edited(source, [1, 4096, 50_000, ODD_SIZE - 2, ODD_SIZE - 1]));
      const chunkArgs = chunk ? ['--chunk', String(chunk)] : [];
      await run(t, [...where.args, '-a', action, '-m', 'SYNC', '--buffer', String(buffer), ...chunkArgs]);
      await assertSynced(t, where, source);
    });
  }
}

test('--zlevel 0 and 1 still sync (raw and fast deflate blocks)', async (t) => {
  for (const zlevel of ['0', '1']) {
    const source = Buffer.from('compressible text '.repeat(SIZE / 18 + 1)).subarray(0, SIZE);
    const where = devices(t, 'PUSH', source, random(SIZE));
    await run(t, [...where.args, '-a', 'PUSH', '-m', 'COPY', '--buffer', '64', '--zlevel', zlevel]);
    await assertSynced(t, where, source);
  }
});

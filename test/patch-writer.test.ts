// PatchWriter (src/local/patch-writer.ts) keeps records in offset order although the engine's workers
// finish buffers out of order and call bufferDone concurrently. Regression: two bufferDone calls in
// flight used to interleave their records (buffer 1's record between two of buffer 0's), which made
// a patch that `basyn patch` rightly refused (CI run of stop 8, patch-kill trials).
import test from 'ava';
import { readFileSync } from 'node:fs';
import { BdsyncDecoder } from '../src/shared/bdsync-format';
import { hashByName, type HashAlgorithm } from '../src/shared/hash';
import { PatchDecoder } from '../src/shared/patch-format';
import { ENCODING } from '../src/shared/protocol';
import { decodeBlock, encodeBlock } from '../src/shared/block-codec';
import { PatchWriter, type DiffFormat } from '../src/local/patch-writer';
import { tempDir } from './helpers/images';

const BUFFER = 65536;
const RECORD = 4096;

const raw = (fill: number) => {
  const bytes = Buffer.alloc(RECORD, fill);
  return { encoding: ENCODING.RAW, rawLength: RECORD, bytes } as const;
};

async function offsetsWritten(format: DiffFormat, finishOrder: number[]): Promise<number[]> {
  const dir = tempDir('basyn-patch-writer-');
  try {
    const file = dir.path('p.patch');
    const writer = await PatchWriter.create(file, {
      format, digest: hashByName('SHA256') as HashAlgorithm, sizeMode: 'strict', blockSize: RECORD, bufferSize: BUFFER,
      sourceSize: 4 * BUFFER, targetSize: 4 * BUFFER, targetName: 'target', bitmapPreImages: false,
      preImageOf: async () => Buffer.alloc(32),
    });
    // Three records in every buffer, written in reverse order within it.
    for (let buffer = 0; buffer < 4; buffer++) {
      for (const at of [2, 1, 0]) await writer.write(buffer * BUFFER + at * 2 * RECORD, raw(buffer * 16 + at + 1));
    }
    // Every buffer's bufferDone in flight at once, in the given order (the engine does not await one before the next).
    await Promise.all(finishOrder.map((index) => writer.bufferDone(index)));
    await writer.finish();
    const bytes = readFileSync(file);
    if (format === 'basyn') {
      const decoder = new PatchDecoder();
      const events = decoder.push(bytes);
      decoder.end();
      return events.flatMap((event) => (event.kind === 'record' ? [event.record.offset] : []));
    }
    const decoder = new BdsyncDecoder();
    const events = decoder.push(bytes);
    decoder.end();
    return events.flatMap((event) => (event.kind === 'record' ? [event.record.offset] : []));
  } finally {
    dir.cleanup();
  }
}

const expected = [0, 1, 2, 3].flatMap((buffer) => [0, 1, 2].map((at) => buffer * BUFFER + at * 2 * RECORD));

for (const format of ['basyn', 'bdsync'] as const) {
  for (const order of [[0, 1, 2, 3], [3, 2, 1, 0], [1, 0, 3, 2]]) {
    test(`${format}: bufferDone calls in flight together (order ${order.join(',')}) give records in offset order`, async (t) => {
      t.deepEqual(await offsetsWritten(format, order), expected);
    });
  }
}

test('basyn: a block that travelled as RUNS (zeros and data) is stored as one RAW, DEFLATE or ZERO record of the same bytes', async (t) => {
  const dir = tempDir('basyn-patch-writer-');
  t.teardown(() => dir.cleanup());
  const file = dir.path('p.patch');
  const writer = await PatchWriter.create(file, {
    format: 'basyn', digest: hashByName('SHA256') as HashAlgorithm, sizeMode: 'strict', blockSize: 4 * BUFFER, bufferSize: 4 * BUFFER,
    sourceSize: 4 * BUFFER, targetSize: 4 * BUFFER, targetName: 'target', bitmapPreImages: false, preImageOf: async () => Buffer.alloc(32),
  });
  const data = Buffer.alloc(4 * BUFFER);
  data.write('a record among zeros', 5000);
  const block = await encodeBlock(data, 6);
  t.is(block.encoding, ENCODING.RUNS);
  await writer.write(0, block);
  await writer.bufferDone(0);
  await writer.finish();
  const decoder = new PatchDecoder();
  const records = decoder.push(readFileSync(file)).flatMap((event) => (event.kind === 'record' ? [event.record] : []));
  decoder.end();
  t.is(records.length, 1);
  t.true([ENCODING.RAW, ENCODING.DEFLATE, ENCODING.ZERO].includes(records[0].encoding as 0 | 1 | 2), `record encoding ${records[0].encoding}`);
  t.true((await decodeBlock({ encoding: records[0].encoding as 0 | 1 | 2, rawLength: records[0].length, bytes: records[0].data })).equals(data));
});

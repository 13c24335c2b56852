// Offsets <-> buffer and chunk indexes, including the short last buffer and the short last chunk.
import test from 'ava';
import { appendExtent, bufferCount, bufferExtent, chunkExtents, type Extent } from '../src/shared/geometry';

test('bufferCount rounds up: a partial last buffer counts', (t) => {
  t.is(bufferCount(0, 64), 0);
  t.is(bufferCount(1, 64), 1);
  t.is(bufferCount(63, 64), 1);
  t.is(bufferCount(64, 64), 1);
  t.is(bufferCount(65, 64), 2);
  t.is(bufferCount(2 ** 40 + 1, 2 * 1024 * 1024), 2 ** 19 + 1);
});

test('bufferExtent: full buffers, then a short last one', (t) => {
  t.deepEqual(bufferExtent(0, 150, 64), { offset: 0, length: 64 });
  t.deepEqual(bufferExtent(1, 150, 64), { offset: 64, length: 64 });
  t.deepEqual(bufferExtent(2, 150, 64), { offset: 128, length: 22 });
  t.deepEqual(bufferExtent(0, 1, 64), { offset: 0, length: 1 });
  t.deepEqual(bufferExtent(1, 128, 64), { offset: 64, length: 64 });
});

test('the buffers of a device cover it exactly, without overlap', (t) => {
  for (const [size, buffer] of [[1, 1], [1000, 7], [65537, 65536], [65536, 65536], [3 * 4096 - 1, 4096]]) {
    let next = 0;
    for (let index = 0; index < bufferCount(size, buffer); index++) {
      const extent = bufferExtent(index, size, buffer);
      t.is(extent.offset, next);
      t.true(extent.length > 0 && extent.length <= buffer);
      next += extent.length;
    }
    t.is(next, size, `size ${size} buffer ${buffer}`);
  }
});

test('chunkExtents: absolute offsets, short last chunk when the chunk does not divide the buffer', (t) => {
  t.deepEqual(chunkExtents({ offset: 1000, length: 10 }, 4), [
    { offset: 1000, length: 4 },
    { offset: 1004, length: 4 },
    { offset: 1008, length: 2 },
  ]);
  t.deepEqual(chunkExtents({ offset: 64, length: 64 }, 16).map((extent) => extent.offset), [64, 80, 96, 112]);
  t.deepEqual(chunkExtents({ offset: 0, length: 5 }, 5), [{ offset: 0, length: 5 }]);
  t.deepEqual(chunkExtents({ offset: 0, length: 3 }, 8), [{ offset: 0, length: 3 }], 'a chunk larger than a short last buffer');
  t.deepEqual(chunkExtents({ offset: 0, length: 0 }, 8), []);
});

test('appendExtent merges touching extents and keeps gaps', (t) => {
  const extents: Extent[] = [];
  appendExtent(extents, { offset: 0, length: 64 });
  appendExtent(extents, { offset: 64, length: 64 });
  appendExtent(extents, { offset: 192, length: 10 });
  appendExtent(extents, { offset: 202, length: 1 });
  appendExtent(extents, { offset: 300, length: 5 });
  t.deepEqual(extents, [
    { offset: 0, length: 128 },
    { offset: 192, length: 11 },
    { offset: 300, length: 5 },
  ]);
});

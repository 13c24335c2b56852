// Compression micro-benchmark for the block codec (src/shared/block-codec.ts): fflate's deflateSync /
// inflateSync against node:zlib's deflateRawSync / inflateRawSync (both raw DEFLATE, so either side can
// decode the other's blocks), at levels 1, 6 and 9, on one 2 MiB buffer (basyn's default buffer size)
// of each kind of data. Also node:zlib's asynchronous deflateRaw with two blocks in flight: it runs on
// libuv's thread pool, off the agent's main thread, which is what an agent could use instead of a worker.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateRaw, deflateRawSync, inflateRawSync } from 'node:zlib';
import { deflateSync as fflateDeflate, inflateSync as fflateInflate } from 'fflate';

export const BLOCK_SIZE = 2 * 1024 * 1024;
const LEVELS = [1, 6, 9] as const;
/** Each figure is the best of several timed loops, each at least this long. */
const LOOP_MS = 200;
const LOOPS = 2;

export interface CompressionRow {
  readonly data: string;
  readonly library: string;
  readonly level: number;
  /** Compressed size / raw size. */
  readonly ratio: number;
  readonly compressMBps: number;
  /** Undefined where decompression is not measured separately (the async row). */
  readonly decompressMBps?: number;
}

/** The three kinds of block: incompressible, text-like, mostly zero. */
export function sampleBlocks(root: string): Array<{ name: string; data: Buffer }> {
  const random = randomBytes(BLOCK_SIZE);
  // Text-like: real JavaScript from node_modules (present after `npm ci`), else generated log lines.
  const source = join(root, 'node_modules', 'typescript', 'lib', 'typescript.js');
  let text: Buffer;
  let textName: string;
  if (existsSync(source) && readFileSync(source).length >= BLOCK_SIZE) {
    text = readFileSync(source).subarray(0, BLOCK_SIZE);
    textName = 'text (JS source: typescript.js)';
  } else {
    const lines: string[] = [];
    for (let index = 0; lines.join('').length < BLOCK_SIZE; index++) {
      const digest = createHash('sha1').update(String(index)).digest('hex');
      lines.push(`2026-01-${String((index % 28) + 1).padStart(2, '0')} 12:${String(index % 60).padStart(2, '0')}:00 host sshd[${index % 9000}]: Accepted publickey for backup from 10.0.${index % 256}.${(index * 7) % 256} port ${1024 + (index % 60000)} ssh2: ED25519 SHA256:${digest}\n`);
    }
    text = Buffer.from(lines.join('')).subarray(0, BLOCK_SIZE);
    textName = 'text (generated log lines)';
  }
  // Mostly zero: a block of a sparse-ish disk image, 1 % of it random data in 4 KiB pieces.
  const zero = Buffer.alloc(BLOCK_SIZE);
  for (let piece = 0; piece < 5; piece++) randomBytes(4096).copy(zero, Math.floor((piece * BLOCK_SIZE) / 5));
  return [
    { name: 'random', data: random },
    { name: textName, data: text },
    { name: 'mostly zero (1 % data)', data: zero },
  ];
}

/** MB/s of `operation` on `bytes` bytes per call: the best of LOOPS loops of at least LOOP_MS each. */
function throughput(bytes: number, operation: () => void): number {
  let best = Infinity;
  for (let loop = 0; loop < LOOPS; loop++) {
    const started = process.hrtime.bigint();
    let calls = 0;
    let elapsed: number;
    do {
      operation();
      calls++;
      elapsed = Number(process.hrtime.bigint() - started) / 1e6;
    } while (elapsed < LOOP_MS);
    best = Math.min(best, elapsed / calls);
  }
  return bytes / 1e6 / (best / 1000);
}

async function asyncThroughput(data: Buffer, level: number, inFlight: number): Promise<number> {
  const once = () => new Promise<void>((resolve, reject) => deflateRaw(data, { level }, (error) => (error ? reject(error) : resolve())));
  let best = Infinity;
  for (let loop = 0; loop < LOOPS; loop++) {
    const started = process.hrtime.bigint();
    let blocks = 0;
    let elapsed: number;
    do {
      await Promise.all(Array.from({ length: inFlight }, once));
      blocks += inFlight;
      elapsed = Number(process.hrtime.bigint() - started) / 1e6;
    } while (elapsed < LOOP_MS);
    best = Math.min(best, elapsed / blocks);
  }
  return data.length / 1e6 / (best / 1000);
}

export async function runCompressionBench(root: string, log: (text: string) => void): Promise<CompressionRow[]> {
  const rows: CompressionRow[] = [];
  for (const { name, data } of sampleBlocks(root)) {
    for (const level of LEVELS) {
      const zlibOut = deflateRawSync(data, { level });
      const fflateOut = fflateDeflate(data, { level });
      // Interchangeable: each library inflates the other's output to the same bytes.
      if (!inflateRawSync(fflateOut).equals(data) || !Buffer.from(fflateInflate(zlibOut, { out: new Uint8Array(data.length) })).equals(data)) {
        throw new Error(`fflate and node:zlib disagree on ${name} at level ${level}`);
      }
      rows.push({
        data: name, library: 'node:zlib deflateRawSync', level, ratio: zlibOut.length / data.length,
        compressMBps: throughput(data.length, () => deflateRawSync(data, { level })),
        decompressMBps: throughput(data.length, () => inflateRawSync(zlibOut, { maxOutputLength: data.length })),
      });
      rows.push({
        data: name, library: 'fflate deflateSync', level, ratio: fflateOut.length / data.length,
        compressMBps: throughput(data.length, () => fflateDeflate(data, { level })),
        decompressMBps: throughput(data.length, () => fflateInflate(fflateOut, { out: new Uint8Array(data.length) })),
      });
      rows.push({
        data: name, library: 'node:zlib deflateRaw async, 2 in flight', level, ratio: zlibOut.length / data.length,
        compressMBps: await asyncThroughput(data, level, 2),
      });
      for (const row of rows.slice(-3)) {
        log(`  ${name.padEnd(32)} ${row.library.padEnd(40)} level ${level}: ratio ${row.ratio.toFixed(3)}, ` +
          `compress ${row.compressMBps.toFixed(0)} MB/s${row.decompressMBps ? `, decompress ${row.decompressMBps.toFixed(0)} MB/s` : ''}`);
      }
    }
  }
  return rows;
}

/** Digest speeds in this process (node:crypto, one thread; and hash-wasm's XXH128 when installed), for choosing a faster digest. */
export async function runDigestBench(): Promise<Array<{ name: string; MBps: number }>> {
  const data = randomBytes(BLOCK_SIZE);
  const rows = ['sha1', 'sha256', 'sha512', 'md5', 'blake2b512', 'blake2s256']
    .filter((name) => {
      try {
        createHash(name);
        return true;
      } catch {
        return false;
      }
    })
    .map((name) => ({ name: `${name} (node:crypto)`, MBps: throughput(data.length, () => createHash(name).update(data).digest()) }));
  try {
    type Hasher = { init(): unknown; update(data: Uint8Array): unknown; digest(format: 'binary'): Uint8Array };
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional: a missing package means no row
    const { createXXHash128 } = require('hash-wasm/dist/xxhash128.umd.min.js') as { createXXHash128(low?: number, high?: number): Promise<Hasher> };
    const hasher = await createXXHash128(1, 2);
    rows.push({ name: 'xxh128 (hash-wasm, WebAssembly)', MBps: throughput(data.length, () => { hasher.init(); hasher.update(data); hasher.digest('binary'); }) });
  } catch {
    // hash-wasm is not a dependency (yet, or any more): no row
  }
  return rows;
}

if (require.main === module) {
  void runCompressionBench(join(__dirname, '..'), console.log).then(async () => {
    for (const row of await runDigestBench()) console.log(`  ${row.name.padEnd(34)} ${row.MBps.toFixed(0)} MB/s`);
  });
}

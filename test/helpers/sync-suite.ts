// The sync suite, defined once and run over every transport the engine can use (restic runs one
// backend test suite against every backend): in-process (test/sync-in-process.test.ts), the local
// pipe, ssh2 against the test sshd, and --rsh through the OpenSSH client. Each transport is a way to
// run basyn with the devices given; the cases do not know which one they use.
//
// What is covered: PUSH/PULL x SYNC/COPY, with and without chunks (dividing the buffer or not), every
// hash, device sizes that no buffer or chunk divides, 0 / 1 / buffer-1 / buffer / buffer+1 bytes, a
// larger destination (its tail untouched) and a smaller one (refused), zero blocks (a sparse image),
// what travels (--stat traffic), and bitmaps (created, reused, --chunk, bitmap-only). After every
// sync both files are compared whole, by digest.
//
// Coverage: the in-process transport runs every case; the pipe, ssh and --rsh run the cases marked
// `link` (each action and mode, chunks, odd sizes, refusals, zero blocks, traffic, bitmaps), which
// exercise what a transport can get wrong, and leave out the repetitions that only vary the engine.
import test, { type ExecutionContext } from 'ava';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { parseStat, type RunResult } from './cli';
import { patch, sha256File, writeSparse } from './images';
import { assertSynced, devices, edited, random, sha256, withTail, type Action, type Devices } from './scenario';

export interface SuiteTransport {
  /** Shown in every test title: in-process, pipe, ssh, rsh. */
  readonly name: string;
  /** 'full': every case; 'link': the representative subset (see the header). */
  readonly coverage: 'full' | 'link';
  /** Why the transport cannot run here (e.g. no sshd): every case is then skipped with this reason. */
  readonly skip?: string;
  /** Runs basyn with `args` (devices and options); adds what it takes to reach the remote device. */
  run(args: string[]): Promise<RunResult>;
}

interface Case {
  readonly title: string;
  /** Also run over ssh and --rsh. */
  readonly link?: boolean;
  run(t: ExecutionContext, basyn: Runner): Promise<void>;
}

type Runner = (args: string[], code?: number) => Promise<RunResult>;

const KIB = 1024;
const BUFFER = 64 * KIB;
const ACTIONS: Action[] = ['PUSH', 'PULL'];
const MODES = ['SYNC', 'COPY'] as const;
const EMPTY_MESSAGE = 'One of the devices is size 0. There is nothing to sync.\n';
const cases: Case[] = [];
const define = (title: string, body: Case['run'], link = false): void => { cases.push({ title, run: body, link }); };

// -- actions, modes, chunks, hashes ------------------------------------------------------------

/** Five 64 KiB buffers and a short sixth one. */
const SIZE = 5 * BUFFER + 1234;
/** default; 0 = off; 4 KiB divides the 64 KiB buffer; 24 KiB does not (short last chunk of 16 KiB). */
const CHUNKS = [undefined, 0, 4, 24];
/** Python basyn's eight, and our salted XXH128. */
const HASHES = ['SHA1', 'SHA224', 'SHA256', 'SHA384', 'SHA512', 'BLAKE2B', 'BLAKE2S', 'MD5', 'XXH128'];

/** Differences in the first byte, inside a chunk of buffer 1, across the buffer 2/3 border, and in the last byte. */
function scattered(source: Buffer): Buffer {
  const changed = edited(source, [0, BUFFER + 5000, 3 * BUFFER - 10, SIZE - 1]);
  return edited(changed, [BUFFER + 30 * KIB], 4 * KIB);
}

for (const action of ACTIONS) {
  for (const mode of MODES) {
    for (const chunk of CHUNKS) {
      const chunkArgs = chunk !== undefined ? ['--chunk', String(chunk)] : [];
      define(`${[action, mode, ...chunkArgs].join(' ')}: scattered differences`, async (t, basyn) => {
        const source = random(SIZE);
        const where = devices(t, action, source, scattered(source));
        await basyn([...where.args, '-a', action, '-m', mode, '--buffer', '64', ...chunkArgs]);
        await assertSynced(t, where, source);
      }, chunk === 4 || (chunk === 24 && mode === 'SYNC' && action === 'PULL'));
    }
    define(`${action} ${mode}: every byte differs`, async (t, basyn) => {
      const source = random(SIZE);
      const where = devices(t, action, source, random(SIZE));
      await basyn([...where.args, '-a', action, '-m', mode, '--buffer', '64']);
      await assertSynced(t, where, source);
    });
  }
}

define('actions and modes are case-insensitive (push / sync, Pull / Copy)', async (t, basyn) => {
  for (const [action, mode, sourceAction] of [['push', 'sync', 'PUSH'], ['Pull', 'Copy', 'PULL']] as const) {
    const source = random(SIZE);
    const where = devices(t, sourceAction, source, scattered(source));
    await basyn([...where.args, '-a', action, '-m', mode, '--buffer', '64']);
    await assertSynced(t, where, source);
  }
});

for (const hash of HASHES) {
  define(`--hash ${hash}: PUSH SYNC --chunk 4`, async (t, basyn) => {
    const source = random(SIZE);
    const where = devices(t, 'PUSH', source, scattered(source));
    await basyn([...where.args, '-a', 'PUSH', '-m', 'SYNC', '--hash', hash, '--buffer', '64', '--chunk', '4']);
    await assertSynced(t, where, source);
  }, hash === 'XXH128');
  define(`--hash ${hash.toLowerCase()}: PULL SYNC`, async (t, basyn) => {
    const source = random(SIZE);
    const where = devices(t, 'PULL', source, scattered(source));
    await basyn([...where.args, '-a', 'PULL', '-m', 'SYNC', '--hash', hash.toLowerCase(), '--buffer', '64']);
    await assertSynced(t, where, source);
  });
}

define('--zlevel 0 and 1 still sync (raw and fast deflate blocks)', async (t, basyn) => {
  for (const zlevel of ['0', '1']) {
    const source = Buffer.from('compressible text '.repeat(SIZE / 18 + 1)).subarray(0, SIZE);
    const where = devices(t, 'PUSH', source, random(SIZE));
    await basyn([...where.args, '-a', 'PUSH', '-m', 'COPY', '--buffer', '64', '--zlevel', zlevel]);
    await assertSynced(t, where, source);
  }
});

// -- sizes -------------------------------------------------------------------------------------

// 100,003 bytes: a prime, so no buffer or chunk size divides it.
const ODD_SIZE = 100_003;
for (const [buffer, chunk] of [[1, undefined], [3, 1], [7, 2], [64, 5], [128, undefined]] as const) {
  for (const action of ACTIONS) {
    define(`${action} SYNC --buffer ${buffer}${chunk ? ` --chunk ${chunk}` : ''} on a ${ODD_SIZE}-byte device`, async (t, basyn) => {
      const source = random(ODD_SIZE);
      const where = devices(t, action, source, edited(source, [1, 4096, 50_000, ODD_SIZE - 2, ODD_SIZE - 1]));
      const chunkArgs = chunk ? ['--chunk', String(chunk)] : [];
      await basyn([...where.args, '-a', action, '-m', 'SYNC', '--buffer', String(buffer), ...chunkArgs]);
      await assertSynced(t, where, source);
    }, buffer === 7 && action === 'PULL');
  }
}

for (const action of ACTIONS) {
  for (const mode of MODES) {
    for (const [name, size] of [['1 byte', 1], ['one buffer - 1', BUFFER - 1], ['exactly one buffer', BUFFER], ['one buffer + 1', BUFFER + 1]] as const) {
      define(`${action} ${mode}: ${name}`, async (t, basyn) => {
        const source = random(size);
        const where = devices(t, action, source, edited(source, [0, size - 1]));
        await basyn([...where.args, '-a', action, '-m', mode, '--buffer', '64']);
        await assertSynced(t, where, source);
      }, mode === 'SYNC' && ((size === 1 && action === 'PUSH') || (size === BUFFER + 1 && action === 'PULL')));
    }
    define(`${action} ${mode}: a larger destination keeps its tail untouched`, async (t, basyn) => {
      const source = random(3 * BUFFER + 100);
      const destination = random(source.length + 70_000);
      const where = devices(t, action, source, destination);
      await basyn([...where.args, '-a', action, '-m', mode, '--buffer', '64', '--chunk', '8']);
      await assertSynced(t, where, source, withTail(source, destination));
    }, action === 'PULL' && mode === 'SYNC');
  }

  for (const [name, sourceSize, destinationSize] of [['empty source', 0, 100], ['empty destination', 100, 0], ['both empty', 0, 0]] as const) {
    define(`${action}: ${name} is refused with exit 2`, async (t, basyn) => {
      const source = random(sourceSize);
      const destination = random(destinationSize);
      const where = devices(t, action, source, destination);
      const result = await basyn([...where.args, '-a', action, '-m', 'SYNC'], 2);
      t.is(result.stderr, EMPTY_MESSAGE);
      await assertSynced(t, where, source, destination);
    }, action === 'PUSH' && sourceSize > 0);
  }
}

define('no -a: an empty device is reported the same way', async (t, basyn) => {
  const where = devices(t, 'PUSH', Buffer.alloc(0), random(10));
  const result = await basyn(where.args, 2);
  t.is(result.stderr, EMPTY_MESSAGE);
});

define('PUSH: a smaller remote device is refused with exit 2 and left unchanged', async (t, basyn) => {
  const source = random(3 * BUFFER);
  const destination = random(3 * BUFFER - 1);
  const where = devices(t, 'PUSH', source, destination);
  const result = await basyn([...where.args, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64'], 2);
  t.is(result.stderr, `Cannot PUSH because remote device size (${destination.length}) is smaller than local (${source.length})\n`);
  await assertSynced(t, where, source, destination);
}, true);

define('PULL: a smaller local device is refused with exit 2 and left unchanged', async (t, basyn) => {
  const source = random(3 * BUFFER);
  const destination = random(BUFFER);
  const where = devices(t, 'PULL', source, destination);
  const result = await basyn([...where.args, '-a', 'PULL', '-m', 'COPY', '--buffer', '64'], 2);
  t.is(result.stderr, `Cannot PULL because remote device size (${source.length}) is greater than local (${destination.length})\n`);
  await assertSynced(t, where, source, destination);
});

define('a device path given twice (same file as source and destination) is a usage error; the file stays intact', async (t, basyn) => {
  const where = devices(t, 'PUSH', Buffer.alloc(0), Buffer.alloc(0));
  const content = random(BUFFER + 7);
  writeFileSync(where.source, content);
  const result = await basyn(['-l', where.source, '-r', where.source, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64'], 1);
  t.regex(result.stderr, /^-l\/--local and -r\/--remote are the same file/);
  t.is(await sha256File(where.source), sha256(content));
});

// -- zero blocks ---------------------------------------------------------------------------------

// A sparse image: zero buffers travel as a ZERO marker, so even COPY moves almost nothing.
const SPARSE_SIZE = 300 * 1024 * 1024;
const SPARSE_WRITES = [
  { offset: 1000, data: Buffer.from('first write') },
  { offset: 157_286_400 - 3, data: Buffer.from('across a 2 MiB buffer border') },
  { offset: SPARSE_SIZE - 5, data: Buffer.from('last!') },
];

for (const [action, mode] of [['PUSH', 'SYNC'], ['PULL', 'COPY']] as const) {
  define(`${action} ${mode}: a 300 MiB sparse image with scattered writes`, async (t, basyn) => {
    const where = devices(t, action, Buffer.alloc(0), Buffer.alloc(0));
    writeSparse(where.source, SPARSE_SIZE, SPARSE_WRITES);
    writeSparse(where.destination, SPARSE_SIZE, [{ offset: 200_000_000, data: Buffer.from('stale data on the destination') }]);
    const before = await sha256File(where.source);
    const result = await basyn([...where.args, '-a', action, '-m', mode, '--stat']);
    const stat = parseStat(result.stdout);
    t.is(stat.size, SPARSE_SIZE);
    t.true(stat.both < 1024 * 1024, `traffic ${stat.both} bytes for a mostly zero device`);
    t.is(await sha256File(where.source), before, 'the source is unchanged');
    t.is(await sha256File(where.destination), before, 'the destination holds the source');
  }, mode === 'COPY');
}

// -- what travels (--stat) -----------------------------------------------------------------------

const TRAFFIC_SIZE = 10 * BUFFER;
const PLACES = [['first byte', 0], ['middle', 5 * BUFFER + 12_345], ['last byte', TRAFFIC_SIZE - 1]] as const;
/** The data direction's bytes: sent to the remote agent for PUSH, received from it for PULL. */
const dataBytes = (action: Action, stat: ReturnType<typeof parseStat>) => (action === 'PUSH' ? stat.tx : stat.rx);

for (const action of ACTIONS) {
  define(`${action} SYNC: identical devices, little traffic and nothing written`, async (t, basyn) => {
    const source = random(TRAFFIC_SIZE);
    const where = devices(t, action, source, source);
    const written = statSync(where.destination).mtimeMs;
    const stat = parseStat((await basyn([...where.args, '-a', action, '-m', 'SYNC', '--buffer', '64', '--stat'])).stdout);
    t.is(statSync(where.destination).mtimeMs, written, 'the destination was not written to');
    t.is(stat.size, TRAFFIC_SIZE);
    t.true(stat.both < TRAFFIC_SIZE / 100, `Both ${stat.both} bytes for ${TRAFFIC_SIZE} identical bytes`);
    await assertSynced(t, where, source);
  });

  define(`${action} COPY: identical devices, every byte travels anyway`, async (t, basyn) => {
    const source = random(TRAFFIC_SIZE);
    const where = devices(t, action, source, source);
    const stat = parseStat((await basyn([...where.args, '-a', action, '-m', 'COPY', '--buffer', '64', '--stat'])).stdout);
    t.true(dataBytes(action, stat) >= TRAFFIC_SIZE, `random data is sent whole: ${JSON.stringify(stat)}`);
    await assertSynced(t, where, source);
  });

  for (const [place, offset] of PLACES) {
    define(`${action} SYNC: one changed byte (${place}) sends one buffer`, async (t, basyn) => {
      const source = random(TRAFFIC_SIZE);
      const where = devices(t, action, source, edited(source, [offset]));
      const stat = parseStat((await basyn([...where.args, '-a', action, '-m', 'SYNC', '--buffer', '64', '--stat'])).stdout);
      t.true(dataBytes(action, stat) >= BUFFER, `the differing buffer travels: ${JSON.stringify(stat)}`);
      t.true(stat.both < 2 * BUFFER, `only one buffer travels: ${JSON.stringify(stat)}`);
      await assertSynced(t, where, source);
    });

    define(`${action} SYNC --chunk 4: one changed byte (${place}) sends one 4 KiB chunk`, async (t, basyn) => {
      const source = random(TRAFFIC_SIZE);
      const where = devices(t, action, source, edited(source, [offset]));
      const stat = parseStat((await basyn([...where.args, '-a', action, '-m', 'SYNC', '--buffer', '64', '--chunk', '4', '--stat'])).stdout);
      t.true(dataBytes(action, stat) >= 4 * KIB, `the differing chunk travels: ${JSON.stringify(stat)}`);
      t.true(stat.both < 8 * KIB, `only one chunk travels: ${JSON.stringify(stat)}`);
      await assertSynced(t, where, source);
    }, action === 'PULL' && place === 'middle');
  }
}

define('a second SYNC right after the first finds nothing to send', async (t, basyn) => {
  const source = random(TRAFFIC_SIZE);
  const where = devices(t, 'PUSH', source, random(TRAFFIC_SIZE));
  const first = parseStat((await basyn([...where.args, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64', '--stat'])).stdout);
  t.true(first.tx >= TRAFFIC_SIZE);
  const second = parseStat((await basyn([...where.args, '-a', 'PUSH', '-m', 'SYNC', '--buffer', '64', '--stat'])).stdout);
  t.true(second.both < TRAFFIC_SIZE / 100, `second run: ${JSON.stringify(second)}`);
  await assertSynced(t, where, source);
});

// -- bitmaps -----------------------------------------------------------------------------------

const BITMAP_SIZE = 8 * BUFFER + 333;
const bitmapArgs = (where: Devices, action: Action, bitmap: string, extra: string[] = []) =>
  [...where.args, '-a', action, '-m', 'SYNC', '--buffer', '64', '-b', bitmap, '--stat', ...extra];

for (const action of ACTIONS) {
  define(`${action} -b: a missing bitmap is created, then reused: only what changed on the source travels`, async (t, basyn) => {
    let source = random(BITMAP_SIZE);
    const where = devices(t, action, source, random(BITMAP_SIZE));
    const bitmap = where.dir.path('bitmap');

    const first = parseStat((await basyn(bitmapArgs(where, action, bitmap))).stdout);
    t.is(readFileSync(bitmap).subarray(0, 8).toString('latin1'), 'BASYNBMP');
    t.true(first.both >= BITMAP_SIZE, 'a new bitmap knows nothing and the destination differs everywhere: everything is sent');
    await assertSynced(t, where, source);

    const unchanged = parseStat((await basyn(bitmapArgs(where, action, bitmap))).stdout);
    t.true(unchanged.both < BITMAP_SIZE / 50, `unchanged source: ${JSON.stringify(unchanged)}`);

    source = edited(source, [5 * BUFFER + 17]);
    writeFileSync(where.source, source);
    const changed = parseStat((await basyn(bitmapArgs(where, action, bitmap))).stdout);
    t.true(changed.both >= BUFFER && changed.both < 2 * BUFFER, `one changed buffer: ${JSON.stringify(changed)}`);
    await assertSynced(t, where, source);
  });

  define(`${action} -b --chunk 4: only the changed chunks travel, the destination is never read`, async (t, basyn) => {
    const size = 16 * BUFFER + 1000;
    let source = random(size);
    const where = devices(t, action, source, random(size));
    const bitmap = where.dir.path('bitmap');
    const sync = bitmapArgs(where, action, bitmap, ['--chunk', '4']);
    await basyn(sync);
    await assertSynced(t, where, source);

    // One byte changes on the source; another chunk of the same buffer changes behind basyn's back
    // on the destination: it survives, because the destination is not read.
    source = edited(source, [5 * BUFFER + 4 * KIB * 3 + 7]);
    writeFileSync(where.source, source);
    const behind = 5 * BUFFER + 4 * KIB * 9;
    patch(where.destination, behind, Buffer.from('behind our back'));
    const stat = parseStat((await basyn(sync)).stdout);
    t.true(dataBytes(action, stat) >= 4 * KIB && dataBytes(action, stat) < 2 * 4 * KIB, `one 4 KiB chunk travelled: ${JSON.stringify(stat)}`);
    t.is(readFileSync(where.destination).toString('latin1', behind, behind + 15), 'behind our back');
    patch(where.destination, behind, source.subarray(behind, behind + 15));
    await assertSynced(t, where, source);

    // A second change in the same buffer: its buffer digest was left unknown by the partial write,
    // so the chunk digests decide again.
    source = edited(source, [5 * BUFFER + 100], 13);
    writeFileSync(where.source, source);
    const again = parseStat((await basyn(sync)).stdout);
    t.true(dataBytes(action, again) < 2 * 4 * KIB, JSON.stringify(again));
    await assertSynced(t, where, source);
    const unchanged = parseStat((await basyn(sync)).stdout);
    t.true(unchanged.both < 4 * KIB, JSON.stringify(unchanged));
  }, true);

  define(`${action} bitmap-only mode (no destination): reports what changed since the last run`, async (t, basyn) => {
    const source = random(BITMAP_SIZE);
    const where = devices(t, action, source, Buffer.alloc(0));
    const bitmap = where.dir.path('bitmap');
    const changes = where.dir.path('changes.txt');
    const onlySource = action === 'PUSH' ? ['-l', where.source] : ['-r', where.source];
    const args = [...onlySource, '-a', action, '-m', 'SYNC', '--buffer', '64', '-b', bitmap];

    t.is((await basyn(args)).stdout, `Changed since last run: ${BITMAP_SIZE} bytes in 1 range\n`);
    t.is((await basyn(args)).stdout, 'Changed since last run: 0 bytes in 0 ranges\n');

    patch(where.source, 3 * BUFFER + 1, Buffer.from([0xff ^ source[3 * BUFFER + 1]]));
    patch(where.source, BITMAP_SIZE - 1, Buffer.from([0xff ^ source[BITMAP_SIZE - 1]]));
    const second = await basyn([...args, '--changes', changes]);
    t.is(second.stdout, `Changed since last run: ${BUFFER + 333} bytes in 2 ranges\n`);
    t.is(readFileSync(changes, 'utf8'), `${3 * BUFFER} ${BUFFER}\n${8 * BUFFER} 333\n`);
    t.is(readFileSync(where.destination).length, 0, 'the destination file was not touched');
  }, action === 'PULL');
}

/** Registers every case (or the `link` subset) for `transport`, titled `[name] case`. */
export function defineSyncSuite(transport: SuiteTransport): void {
  const chosen = transport.coverage === 'full' ? cases : cases.filter((entry) => entry.link);
  for (const entry of chosen) {
    const title = `[${transport.name}] ${entry.title}`;
    if (transport.skip) {
      test.skip(`${title} (skipped: ${transport.skip})`, () => undefined);
      continue;
    }
    test(title, async (t) => {
      const basyn: Runner = async (args, code = 0) => {
        const result = await transport.run(args);
        if (result.code !== code) {
          t.fail(`basyn ${args.join(' ')} exited ${result.code}, expected ${code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
        }
        return result;
      };
      await entry.run(t, basyn);
    });
  }
}

/** How many cases each coverage runs (for the report in the test files). */
export const CASE_COUNTS = { full: cases.length, link: cases.filter((entry) => entry.link).length };

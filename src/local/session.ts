// One run: start the agents (transport), handshake, open the devices, check sizes and the bitmap,
// run the engine, close (flush) the destination, then --stat and --recheck.
// Nothing is opened for writing until every check that can fail with exit 1 has passed.
import { createHash, randomBytes } from 'node:crypto';
import { VERSION } from '../shared/build-info';
import { BitmapError, MismatchError, SyncError, BasynError, UsageError, describeSystemError } from '../shared/errors';
import { printable, REMOTE_TEXT_MAX } from '../shared/remote-text';
import type { Extent } from '../shared/geometry';
import { BITMAP_FILE, BitmapStore } from './bitmap-store';
import { describeBitmap, destinationIdentity, NO_DESTINATION } from './bitmap-identity';
import { runEngine } from './engine';
import { decodeBlock } from '../shared/block-codec';
import { PatchWriter } from './patch-writer';
import type { Options } from './options';
import { Peer } from './peer';
import { statLine, type Reporter } from './progress';
import { recheck } from './recheck';
import { assertNotSameFile, checkReplaceable, replaceStateFile, resolveStatePath, type ForbiddenPlace, type StateFileKind } from './state-file';
import { bitmapLayoutOf, verifyBitmap } from './verify-bitmap';
import { transportsFor, type TransportFor } from './transport/index';
import { throttleLink } from './transport/throttle';
import type { AgentLink } from './transport/transport';

interface Side {
  readonly peer: Peer;
  readonly path: string;
  size: number;
}

/** What the run's phases share: the agents started so far, and the run's interrupt. */
interface Run {
  readonly sides: Side[];
  readonly links: AgentLink[];
  /** Fires on SIGINT/SIGTERM/SIGHUP; its reason is the "Interrupted by ..." error. */
  readonly abort: AbortSignal;
}

/** How long killed agents may take to be gone before the run ends (and the bitmap lock goes) anyway. */
const AGENT_STOP_TIMEOUT_MS = 10_000;

/**
 * Runs one sync (or check, or recheck) as `options` say. `transports` starts each side's agent: by
 * default what the options say (transport/index.ts); tests hand in others, e.g. the in-process agent.
 * SIGINT, SIGTERM and SIGHUP end it at any phase, from the TCP connect to the final flush: exit 2 with
 * "Interrupted by ...", the agents killed and gone before the bitmap lock is released.
 */
export async function runSession(options: Options, reporter: Reporter, transports: TransportFor = transportsFor(options.connection)): Promise<void> {
  const controller = new AbortController();
  const state: Run = { sides: [], links: [], abort: controller.signal };
  const interrupt = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) return;
    const error = new SyncError(signal === 'SIGINT' ? 'Interrupted by user' : `Interrupted by ${signal}`, 'EINTR');
    controller.abort(error);
    for (const side of state.sides) side.peer.rpc.fail(error);
    for (const link of state.links) link.kill();
  };
  process.on('SIGINT', interrupt).on('SIGTERM', interrupt).on('SIGHUP', interrupt);
  try {
    await run(options, reporter, transports, state);
  } catch (error) {
    await stopAgents(state.links);
    // Whatever the run was doing when the signal came, the signal is why it ended.
    throw controller.signal.aborted ? controller.signal.reason : await explain(error, state.sides);
  } finally {
    process.off('SIGINT', interrupt).off('SIGTERM', interrupt).off('SIGHUP', interrupt);
  }
  // A signal that came as the run ended still means the user wanted it stopped: never exit 0 then.
  if (controller.signal.aborted) throw controller.signal.reason;
}

/** Kills every agent and waits (bounded) until each is gone. */
async function stopAgents(links: readonly AgentLink[]): Promise<void> {
  for (const link of links) link.kill();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, AGENT_STOP_TIMEOUT_MS); });
  await Promise.race([Promise.all(links.map((link) => link.exited)), timeout]);
  clearTimeout(timer);
}

async function run(options: Options, reporter: Reporter, transports: TransportFor, state: Run): Promise<void> {
  const { sides, links, abort } = state;
  // A salted hash gets a fresh random seed each run, shared by both sides.
  const seed = options.hash.salted ? randomBytes(8).readBigUInt64LE(0) : 0n;
  const connect = async (role: 'local' | 'remote', path: string): Promise<Side> => {
    const started = await transports(role).start(abort);
    const link = role === 'remote' && options.bwlimit > 0 ? throttleLink(started, options.bwlimit) : started;
    links.push(link);
    forwardStderr(link, role, reporter);
    const peer = await Peer.connect(role, link, (text) => reporter.debug(`${role} agent: ${text}`), abort);
    const side: Side = { peer, path, size: 0 };
    sides.push(side);
    return side;
  };
  if (options.connection.host) reporter.verbose(`Using SSH connection to host ${options.connection.host}`);
  else reporter.verbose('Using pipeline connection');
  // --verify-bitmap reads the destination only: the source is not even connected.
  const wanted = (role: 'local' | 'remote') => !options.verifyBitmap || (role === 'remote') === (options.action === 'PUSH');
  // Both settle (each is bounded) before a failure is reported, so no agent is left starting unseen.
  const connected = await Promise.allSettled([
    options.local && wanted('local') ? connect('local', options.local) : undefined,
    options.remote && wanted('remote') ? connect('remote', options.remote) : undefined,
  ]);
  const failed = connected.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
  const [local, remote] = connected.map((result) => (result.status === 'fulfilled' ? result.value : undefined));
  reporter.verbose('Connection established, agents are on-line');

  // Everything is opened read-only first; the destination is reopened for writing after the checks.
  await Promise.all(
    [local, remote].map(async (side) => {
      if (side) side.size = await side.peer.open(side.path, false, options.hash, seed);
    }),
  );
  if (local) reporter.verbose(`Local device ${local.path} size is ${local.size}B`);
  if (remote) reporter.verbose(`Remote device ${remote.path} size is ${remote.size}B`);
  if (options.diff) {
    await diffDevices(options, reporter, local, remote);
    await Promise.all(sides.map((side) => side.peer.close()));
    return;
  }
  if (local && remote && Math.min(local.size, remote.size) === 0) {
    throw new SyncError('One of the devices is size 0. There is nothing to sync.', 'EEMPTY');
  }
  const figures = { changedBuffers: 0, changedBytes: 0, writtenBytes: 0 };
  const sourceSide = options.action === 'PULL' ? remote : local;
  reporter.json?.track(() => ({
    ...figures,
    deviceSize: (options.action ? sourceSide?.size : undefined) ?? local?.size ?? remote?.size ?? 0,
    received: remote?.peer.rpc.bytesIn ?? 0,
    sent: remote?.peer.rpc.bytesOut ?? 0,
    zeroBlocks: sides.reduce((sum, side) => sum + side.peer.counters.zeroBlocksWritten, 0),
    sides: sides.map((side) => ({ role: side.peer.role, path: side.path, size: side.size, bytesRead: side.peer.counters.bytesRead, bytesWritten: side.peer.counters.bytesWritten })),
  }));
  reporter.json?.emit({
    type: 'start',
    version: VERSION,
    action: options.action ?? null,
    mode: options.mode ?? null,
    local: local ? { path: local.path, size: local.size } : null,
    remote: remote ? { path: remote.path, size: remote.size, host: options.connection.host ?? null } : null,
    options: {
      bufferSize: options.bufferSize, chunkSize: options.chunkSize, hash: options.hash.name, zlevel: options.zlevel,
      bitmap: options.bitmap ?? null, recheck: options.recheck, repair: options.repair, verifyBitmap: options.verifyBitmap,
    },
  });
  if (options.verifyBitmap) {
    await verifyDestination(options, reporter, (local ?? remote) as Side);
    await Promise.all(sides.map((side) => side.peer.close()));
    return;
  }

  const push = options.action === 'PUSH';
  const source = push ? local : remote;
  const destination = push ? remote : local;
  if (options.action) checkSizes(options, source, destination);
  // -b and --changes are checked (--changes resolved once) before anything is written.
  const changesPath = await checkStateFiles(options);
  const bitmap = options.bitmap && source ? await loadBitmap(options, source, destination) : undefined;
  try {
    const started = Date.now();
    if (options.mode && source) Object.assign(figures, await syncDevices(options, reporter, seed, source, destination, bitmap, changesPath));
    else await bitmap?.open(); // --recheck -b without -m: only invalidations are written

    if (options.stat) {
      const size = options.action === 'PULL' ? (remote?.size ?? 0) : (local?.size ?? remote?.size ?? 0);
      const traffic = remote ? { received: remote.peer.rpc.bytesIn, sent: remote.peer.rpc.bytesOut } : undefined;
      reporter.print(`${statLine(size, (Date.now() - started) / 1000, traffic)}\n`);
    }

    // A recheck that finds differences still ends the bitmap's run cleanly: its entries were invalidated.
    let mismatch: MismatchError | undefined;
    if (options.recheck) {
      if (!local || !remote) throw new UsageError('--recheck needs both devices');
      await recheckDevices(options, reporter, seed, local, remote, source, bitmap).catch((error: unknown) => {
        if (!(error instanceof MismatchError)) throw error;
        mismatch = error;
      });
    }
    await bitmap?.finish();
    if (mismatch) throw mismatch;
  } catch (error) {
    // The agents go before the bitmap's lock does: no write of this run can land after the next run took it.
    if (bitmap) await stopAgents(links);
    throw error;
  } finally {
    await bitmap?.close();
  }

  await Promise.all(sides.map((side) => side.peer.close()));
}

/** -a: the source must not be empty nor larger than the destination. */
function checkSizes(options: Options, source?: Side, destination?: Side): void {
  if (!source) throw new SyncError('internal: no source device');
  if (source.size === 0) throw new SyncError('One of the devices is size 0. There is nothing to sync.', 'EEMPTY');
  if (destination && destination.size < source.size) {
    const [remote, local] = options.action === 'PUSH' ? [destination, source] : [source, destination];
    throw new SyncError(options.action === 'PUSH'
      ? `Cannot PUSH because remote device size (${remote.size}) is smaller than local (${local.size})`
      : `Cannot PULL because remote device size (${remote.size}) is greater than local (${local.size})`, 'ESIZE');
  }
}

/** -b: locks and checks the bitmap against this run (exit 1 on any mismatch: nothing written yet). */
async function loadBitmap(options: Options, source: Side, destination?: Side): Promise<BitmapStore> {
  const bitmap = await BitmapStore.load(options.bitmap as string, {
    layout: { deviceSize: source.size, bufferSize: options.bufferSize, chunkSize: options.chunkSize, hash: options.hash },
    destination: destination ? await identityOf(options, destination) : NO_DESTINATION,
    reset: options.resetBitmap,
    adoptChunkSize: options.chunkSizeDefaulted,
    update: options.updateBitmap,
  });
  if (!options.mode && bitmap.blank) {
    await bitmap.close();
    throw new BitmapError(`Bitmap ${options.bitmap} does not exist (or was not made for this run): --recheck -b without -m only invalidates entries of an existing bitmap`, 'EBITMAPMISSING');
  }
  return bitmap;
}

function identityOf(options: Options, destination: Side) {
  const remote = options.action === 'PUSH';
  return destinationIdentity({ path: destination.path, size: destination.size, ...(remote ? { host: options.connection.host, port: options.connection.port } : {}) });
}

interface SyncFigures {
  changedBuffers: number;
  changedBytes: number;
  writtenBytes: number;
}

/** -a/-m: the sync itself, from opening the destination for writing to its final flush. */
async function syncDevices(
  options: Options, reporter: Reporter, seed: bigint, source: Side, destination: Side | undefined, bitmap?: BitmapStore, changesPath?: string,
): Promise<SyncFigures> {
  const none = { changedBuffers: 0, changedBytes: 0, writtenBytes: 0 };
  if (!options.action || !options.mode) return none;
  if (destination) destination.size = await destination.peer.open(destination.path, true, options.hash, seed);
  await bitmap?.open();
  if (bitmap) for (const line of describeBitmap(bitmap, Boolean(destination))) reporter.verbose(line);
  reporter.verbose(`Starting to ${options.action} / ${options.mode} data with buffer size ${options.bufferSize}B`);

  const progress = reporter.startProgress(bitmap && !destination ? 'BITMAP' : options.mode, source.size);
  try {
    const result = await runEngine({
      mode: options.mode,
      source: source.peer,
      destination: destination?.peer,
      size: source.size,
      bufferSize: options.bufferSize,
      chunkSize: runChunkSize(options, bitmap),
      zlevel: options.zlevel,
      bitmap,
      updateBitmap: options.updateBitmap || Boolean(bitmap?.verify),
      onProgress: (bytes) => progress.advance(bytes),
      onChanged: (bytes) => progress.changed(bytes),
      debug: options.debug ? (text) => reporter.debug(text) : undefined,
    });
    for (const range of result.changed) reporter.range('changed', range);
    // runEngine ends with a FLUSH of the destination: "finished" follows its acknowledgement.
    progress.stop();
    reporter.verbose(`${options.action} / ${options.mode} finished: ${result.changedBytes} bytes differed, ${result.sentBytes} bytes written`);
    if (bitmap && !destination) await reportChanges(reporter, result.changed, result.changedBytes, changesPath);
    return { changedBuffers: result.changedBuffers, changedBytes: result.changedBytes, writtenBytes: result.sentBytes };
  } finally {
    progress.stop();
  }
}

/**
 * The one decision on the run's chunk size: a bitmap's own when there is one (an existing bitmap keeps
 * it over a defaulted --chunk; an explicit --chunk that differs has been refused by BitmapStore.load),
 * else --chunk or its default.
 */
function runChunkSize(options: Options, bitmap?: BitmapStore): number {
  return bitmap ? bitmap.layout.chunkSize : options.chunkSize;
}

/**
 * --diff: compare as a SYNC does, but the differing blocks go to a patch file; the destination is
 * only read (for the comparison and for the pre-image digests of the ranges the patch overwrites).
 */
async function diffDevices(options: Options, reporter: Reporter, local?: Side, remote?: Side): Promise<void> {
  const push = options.action === 'PUSH';
  const source = push ? local : remote;
  const destination = push ? remote : local;
  if (!source) throw new SyncError('internal: no source device');
  if (source.size === 0 || destination?.size === 0) throw new SyncError('One of the devices is size 0. There is nothing to sync.', 'EEMPTY');
  const targetSize = destination?.size ?? source.size;
  if (targetSize !== source.size && options.diffSize === 'strict') {
    throw new SyncError(`The source is ${source.size} bytes and the destination ${targetSize}: pass --diffsize resize or --diffsize minsize`, 'ESIZE');
  }
  const compared = Math.min(source.size, targetSize);
  const bitmap = options.bitmap && (!destination || options.diffAdvancesBitmap)
    ? await BitmapStore.load(options.bitmap, {
      layout: { deviceSize: source.size, bufferSize: options.bufferSize, chunkSize: options.chunkSize, hash: options.hash },
      destination: destination
        ? await destinationIdentity({ path: destination.path, size: destination.size, ...(destination === remote ? { host: options.connection.host, port: options.connection.port } : {}) })
        : NO_DESTINATION,
      reset: false,
      adoptChunkSize: options.chunkSizeDefaulted,
      update: false,
    })
    : undefined;
  if (bitmap && compared !== source.size) throw new UsageError('--diff with a bitmap needs a source and a destination of one size');
  const chunkSize = bitmap?.layout.chunkSize ?? options.chunkSize;
  // With a bitmap its digests stand for the target's pre-image (the destination is not read), so the
  // patch carries the bitmap's hash; otherwise the destination's bytes are hashed with the patch's.
  const digest = bitmap ? bitmap.layout.hash : options.patchHash;
  const hashNode = digest.nodeName as string;
  const readRange = async (side: Side, range: Extent) => decodeBlock(await side.peer.read(range, 0));
  const writer = await PatchWriter.create(options.diff as string, {
    format: options.diffFormat,
    digest,
    sizeMode: options.diffSize,
    blockSize: chunkSize > 0 ? chunkSize : options.bufferSize,
    bufferSize: options.bufferSize,
    sourceSize: options.diffSize === 'minsize' && options.diffFormat === 'bdsync' ? compared : source.size,
    targetSize,
    targetName: destination?.path ?? '',
    bitmapPreImages: Boolean(bitmap),
    preImageOf: destination ? async (range) => createHash(hashNode).update(await readRange(destination, range)).digest() : undefined,
    tail: async (patch) => {
      // --diffsize resize, larger source: the tail is compared with zeros (the grown target's holes).
      const step = chunkSize > 0 ? chunkSize : options.bufferSize;
      if (options.diffSize !== 'resize') return;
      for (let offset = compared; offset < source.size; offset += step) {
        await patch.writeTail(offset, await readRange(source, { offset, length: Math.min(step, source.size - offset) }));
      }
    },
  });
  await bitmap?.open();
  reporter.verbose(`Writing the differences to ${options.diff === '-' ? 'stdout' : options.diff} (${options.diffFormat} format)`);
  const progress = reporter.startProgress(options.mode ?? 'SYNC', compared);
  try {
    const result = await runEngine({
      mode: 'SYNC', source: source.peer, destination: bitmap ? undefined : destination?.peer, size: compared,
      bufferSize: options.bufferSize, chunkSize, zlevel: options.diffFormat === 'bdsync' ? 0 : options.zlevel,
      bitmap, updateBitmap: false, sink: writer,
      onProgress: (bytes) => progress.advance(bytes),
      debug: options.debug ? (text) => reporter.debug(text) : undefined,
    });
    await bitmap?.finish();
    progress.stop();
    reporter.verbose(`Patch written: ${result.changedBytes} bytes differed${bitmap ? ', bitmap advanced' : ''}`);
  } catch (error) {
    await writer.abandon();
    throw error;
  } finally {
    progress.stop();
    await bitmap?.close();
  }
}

/**
 * --recheck: both devices reopened (read-only, or the destination for writing with --repair) and
 * compared in full; with -b, differing buffers are invalidated in the bitmap.
 */
async function recheckDevices(options: Options, reporter: Reporter, seed: bigint, local: Side, remote: Side, source?: Side, bitmap?: BitmapStore): Promise<void> {
  await Promise.all([local, remote].map((side) => side.peer.open(side.path, options.repair && side !== source, options.hash, seed)));
  const size = source?.size ?? Math.min(local.size, remote.size);
  reporter.verbose(`Starting total re-check of ${size}B`);
  const progress = reporter.startProgress('RECHECK', size);
  try {
    await recheck({
      local: local.peer,
      remote: remote.peer,
      size,
      bufferSize: options.bufferSize,
      onProgress: (bytes) => progress.advance(bytes),
      source: source?.peer,
      bitmap,
      repair: options.repair ? { chunkSize: runChunkSize(options, bitmap), zlevel: options.zlevel } : undefined,
      onInfo: (text) => reporter.print(`${text}\n`),
      onRange: (kind, range) => reporter.range(kind, range),
    });
  } finally {
    progress.stop();
  }
  reporter.verbose('Local and remote data MATCH');
}

/** --verify-bitmap: the destination hashed against the bitmap's digests (the layout is the bitmap's). */
async function verifyDestination(options: Options, reporter: Reporter, destination: Side): Promise<void> {
  const path = options.bitmap as string;
  const layout = await bitmapLayoutOf(path);
  if (destination.size < layout.deviceSize) {
    throw new SyncError(`Destination ${destination.path} (${destination.size} bytes) is smaller than the source the bitmap describes (${layout.deviceSize} bytes)`, 'ESIZE');
  }
  // The destination was opened with --hash; the bitmap's own hash decides.
  await destination.peer.open(destination.path, false, layout.hash, 0n);
  const bitmap = await BitmapStore.load(path, { layout, destination: await identityOf(options, destination), reset: false, update: false });
  try {
    await bitmap.open();
    reporter.verbose(`Verifying ${destination.path} against bitmap ${path}`);
    const progress = reporter.startProgress('VERIFY', layout.deviceSize);
    try {
      await verifyBitmap({
        destination: destination.peer, bitmap, onProgress: (bytes) => progress.advance(bytes), onInfo: (text) => reporter.print(`${text}\n`),
        onMismatch: (range) => reporter.range('mismatch', range),
      });
    } finally {
      progress.stop();
      await bitmap.finish();
    }
  } finally {
    await bitmap.close();
  }
}

/**
 * An earlier --changes output: empty, or nothing but `offset length` lines. Only such a file is
 * replaced; anything else (a file of another kind, a device, a FIFO, a directory) is refused.
 */
const CHANGES_FILE: StateFileKind = {
  what: 'Changes file',
  probeBytes: 256 * 1024 * 1024,
  isOurs: (content, size) => content.length === size && /^(?:\d+ \d+\n)*$/.test(content.toString('latin1')),
  hint: 'basyn only replaces a file of "offset length" lines it wrote; delete or move it yourself, or choose another --changes file',
};

/**
 * Before anything is written: -b and --changes must not name a device of the run (nor each other), and
 * an existing --changes file must be one basyn wrote. Returns the --changes path, resolved once.
 */
async function checkStateFiles(options: Options): Promise<string | undefined> {
  const devices: ForbiddenPlace[] = [
    ...(options.local ? [{ label: 'the local device', path: options.local }] : []),
    ...(options.remote ? [{ label: 'the remote device', path: options.remote, remote: Boolean(options.connection.host) }] : []),
  ];
  const bitmap = options.bitmap ? await resolveStatePath(options.bitmap, BITMAP_FILE) : undefined;
  if (bitmap) {
    await assertNotSameFile(bitmap, BITMAP_FILE, devices);
    await assertNotSameFile(`${bitmap}.lock`, { what: 'Bitmap lock file' }, devices);
  }
  if (!options.changes) return undefined;
  const changes = await resolveStatePath(options.changes, CHANGES_FILE);
  await assertNotSameFile(changes, CHANGES_FILE, [...devices, ...(bitmap ? [{ label: 'the bitmap', path: bitmap }, { label: 'the bitmap lock', path: `${bitmap}.lock` }] : [])]);
  await checkReplaceable(changes, CHANGES_FILE);
  return changes;
}

/** Bitmap-only mode: what changed on the source since the bitmap was last updated. */
async function reportChanges(reporter: Reporter, changed: Extent[], bytes: number, changesPath?: string): Promise<void> {
  reporter.print(`Changed since last run: ${bytes} bytes in ${changed.length} range${changed.length === 1 ? '' : 's'}\n`);
  for (const range of changed) reporter.verbose(`changed: offset ${range.offset} length ${range.length}`);
  if (changesPath) {
    const text = changed.map((range) => `${range.offset} ${range.length}\n`).join('');
    try {
      await replaceStateFile(changesPath, text, CHANGES_FILE);
    } catch (error) {
      if (error instanceof BasynError) throw error;
      throw new SyncError(describeSystemError(error, `Changes file ${changesPath}`), 'ECHANGESIO');
    }
  }
}

/** Most agent stderr shown per agent and run; past it, one line says more was not shown. */
const STDERR_SHOWN_BYTES = 16 * 1024;

/**
 * Agent stderr is never protocol: it is shown as text, line by line, with where it came from, each
 * line made printable (remote-text.ts) and cut to REMOTE_TEXT_MAX, and at most STDERR_SHOWN_BYTES of
 * it per agent: a remote side that prints megabytes or escape sequences cannot flood or take over
 * the terminal. A line is held only up to its cut, so memory stays bounded too.
 */
function forwardStderr(link: AgentLink, role: string, reporter: Reporter): void {
  let partial = '';
  let partialCut = 0;
  let shown = 0;
  const show = (line: string, cut: number): void => {
    if ((!line.trim() && cut === 0) || shown > STDERR_SHOWN_BYTES) return;
    const text = `${role}: ${printable(line, REMOTE_TEXT_MAX, cut)}\n`;
    shown += text.length;
    reporter.remoteText(shown > STDERR_SHOWN_BYTES ? `${role}: ... more output from the ${role} side not shown (over ${STDERR_SHOWN_BYTES / 1024} KiB)\n` : text);
  };
  link.stderr.setEncoding('utf8');
  link.stderr.on('data', (text: string) => {
    const lines = text.split('\n');
    const last = lines.pop() as string;
    for (const line of lines) {
      show(partial + line, partialCut);
      partial = '';
      partialCut = 0;
    }
    const rest = partial + last;
    partial = rest.slice(0, REMOTE_TEXT_MAX);
    partialCut += rest.length - partial.length;
  });
  link.stderr.on('end', () => show(partial, partialCut));
}

/** Turns "the stream ended" into why the agent ended, when it is known. */
async function explain(error: unknown, sides: Side[]): Promise<unknown> {
  if (!(error instanceof BasynError) || error.code !== 'ELINK') return error;
  for (const side of sides) {
    if (side.peer.rpc.failure !== error) continue;
    const exit = await Promise.race([side.peer.link.exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1000))]);
    if (exit) {
      const how = exit.reason ?? (exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`);
      return new SyncError(`${side.peer.role} agent (${side.peer.link.description}) ended unexpectedly (${how})`, 'ELINK');
    }
  }
  return error;
}


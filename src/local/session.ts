// One run: start the agents (transport), handshake, open the devices, check sizes and the bitmap,
// run the engine, close (flush) the destination, then --stat and --recheck.
// Nothing is opened for writing until every check that can fail with exit 1 has passed.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { SyncError, BasynError, UsageError } from '../shared/errors';
import type { Extent } from '../shared/geometry';
import { BitmapStore } from './bitmap-store';
import { describeBitmap, destinationIdentity, NO_DESTINATION } from './bitmap-identity';
import { runEngine } from './engine';
import type { Options } from './options';
import { Peer } from './peer';
import { statLine, type Reporter } from './progress';
import { recheck } from './recheck';
import { transportsFor, type TransportFor } from './transport/index';
import type { AgentLink } from './transport/transport';

interface Side {
  readonly peer: Peer;
  readonly path: string;
  size: number;
}

/**
 * Runs one sync (or check, or recheck) as `options` say. `transports` starts each side's agent: by
 * default what the options say (transport/index.ts); tests hand in others, e.g. the in-process agent.
 */
export async function runSession(options: Options, reporter: Reporter, transports: TransportFor = transportsFor(options.connection)): Promise<void> {
  const sides: Side[] = [];
  const links: AgentLink[] = [];
  const interrupt = (signal: NodeJS.Signals) => {
    const error = new SyncError(signal === 'SIGINT' ? 'Interrupted by user' : `Interrupted by ${signal}`, 'EINTR');
    for (const side of sides) side.peer.rpc.fail(error);
    for (const link of links) link.kill();
  };
  process.on('SIGINT', interrupt).on('SIGTERM', interrupt).on('SIGHUP', interrupt);
  try {
    await run(options, reporter, transports, sides, links);
  } catch (error) {
    for (const link of links) link.kill();
    throw await explain(error, sides);
  } finally {
    process.off('SIGINT', interrupt).off('SIGTERM', interrupt).off('SIGHUP', interrupt);
  }
}

async function run(options: Options, reporter: Reporter, transports: TransportFor, sides: Side[], links: AgentLink[]): Promise<void> {
  // A salted hash gets a fresh random seed each run, shared by both sides.
  const seed = options.hash.salted ? randomBytes(8).readBigUInt64LE(0) : 0n;
  const connect = async (role: 'local' | 'remote', path: string): Promise<Side> => {
    const link = await transports(role).start();
    links.push(link);
    forwardStderr(link, role, reporter);
    const peer = await Peer.connect(role, link, (text) => reporter.debug(`${role} agent: ${text}`));
    const side: Side = { peer, path, size: 0 };
    sides.push(side);
    return side;
  };
  if (options.connection.host) reporter.verbose(`Using SSH connection to host ${options.connection.host}`);
  else reporter.verbose('Using pipeline connection');
  const [local, remote] = await Promise.all([
    options.local ? connect('local', options.local) : undefined,
    options.remote ? connect('remote', options.remote) : undefined,
  ]);
  reporter.verbose('Connection established, agents are on-line');

  // Everything is opened read-only first; the destination is reopened for writing after the checks.
  await Promise.all(
    [local, remote].map(async (side) => {
      if (side) side.size = await side.peer.open(side.path, false, options.hash, seed);
    }),
  );
  if (local) reporter.verbose(`Local device ${local.path} size is ${local.size}B`);
  if (remote) reporter.verbose(`Remote device ${remote.path} size is ${remote.size}B`);
  if (local && remote && Math.min(local.size, remote.size) === 0) {
    throw new SyncError('One of the devices is size 0. There is nothing to sync.', 'EEMPTY');
  }

  const started = Date.now();
  await syncDevices(options, reporter, seed, local, remote);

  if (options.stat) {
    const size = options.action === 'PULL' ? (remote?.size ?? 0) : (local?.size ?? remote?.size ?? 0);
    const traffic = remote ? { received: remote.peer.rpc.bytesIn, sent: remote.peer.rpc.bytesOut } : undefined;
    reporter.print(`${statLine(size, (Date.now() - started) / 1000, traffic)}\n`);
  }

  if (options.recheck) {
    if (!local || !remote) throw new UsageError('--recheck needs both devices');
    await recheckDevices(options, reporter, seed, local, remote);
  }

  await Promise.all(sides.map((side) => side.peer.close()));
}

/** -a/-m: the sync itself, from the size checks to the destination's final flush. */
async function syncDevices(options: Options, reporter: Reporter, seed: bigint, local?: Side, remote?: Side): Promise<void> {
  if (!options.action || !options.mode) return; // no -a: only the checks above (and --recheck)
  const push = options.action === 'PUSH';
  const source = push ? local : remote;
  const destination = push ? remote : local;
  if (!source) throw new SyncError('internal: no source device');
  if (source.size === 0) throw new SyncError('One of the devices is size 0. There is nothing to sync.', 'EEMPTY');
  if (local && remote && push && remote.size < local.size) {
    throw new SyncError(`Cannot PUSH because remote device size (${remote.size}) is smaller than local (${local.size})`, 'ESIZE');
  }
  if (local && remote && !push && remote.size > local.size) {
    throw new SyncError(`Cannot PULL because remote device size (${remote.size}) is greater than local (${local.size})`, 'ESIZE');
  }

  const bitmap = options.bitmap
    ? await BitmapStore.load(options.bitmap, {
      layout: { deviceSize: source.size, bufferSize: options.bufferSize, chunkSize: options.chunkSize, hash: options.hash },
      destination: destination
        ? await destinationIdentity({ path: destination.path, size: destination.size, ...(destination === remote ? { host: options.connection.host, port: options.connection.port } : {}) })
        : NO_DESTINATION,
      reset: options.resetBitmap,
      adoptChunkSize: options.chunkSizeDefaulted,
      update: options.updateBitmap,
    })
    : undefined;

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
      // The one decision on the chunk size: an existing bitmap's own (it may differ from a defaulted --chunk).
      chunkSize: bitmap ? bitmap.layout.chunkSize : options.chunkSize,
      zlevel: options.zlevel,
      bitmap,
      updateBitmap: options.updateBitmap,
      onProgress: (bytes) => progress.advance(bytes),
      debug: options.debug ? (text) => reporter.debug(text) : undefined,
    });
    // runEngine ends with a FLUSH of the destination: "finished" follows its acknowledgement.
    await bitmap?.finish();
    progress.stop();
    reporter.verbose(`${options.action} / ${options.mode} finished: ${result.changedBytes} bytes differed, ${result.sentBytes} bytes written`);
    if (bitmap && !destination) await reportChanges(options, reporter, result.changed, result.changedBytes);
  } finally {
    progress.stop();
    await bitmap?.close();
  }
}

/** --recheck: both devices reopened read-only and compared in full. */
async function recheckDevices(options: Options, reporter: Reporter, seed: bigint, local: Side, remote: Side): Promise<void> {
  await Promise.all([local, remote].map((side) => side.peer.open(side.path, false, options.hash, seed)));
  const size = Math.min(local.size, remote.size);
  reporter.verbose(`Starting total re-check of ${size}B`);
  const progress = reporter.startProgress('RECHECK', size);
  try {
    await recheck({ local: local.peer, remote: remote.peer, size, bufferSize: options.bufferSize, onProgress: (bytes) => progress.advance(bytes) });
  } finally {
    progress.stop();
  }
  reporter.verbose('Local and remote data MATCH');
}

/** Bitmap-only mode: what changed on the source since the bitmap was last updated. */
async function reportChanges(options: Options, reporter: Reporter, changed: Extent[], bytes: number): Promise<void> {
  reporter.print(`Changed since last run: ${bytes} bytes in ${changed.length} range${changed.length === 1 ? '' : 's'}\n`);
  for (const range of changed) reporter.verbose(`changed: offset ${range.offset} length ${range.length}`);
  if (options.changes) {
    const text = changed.map((range) => `${range.offset} ${range.length}\n`).join('');
    await fs.writeFile(options.changes, text, { mode: 0o600 });
  }
}

/** Agent stderr is never protocol: it is shown as text, line by line, with where it came from. */
function forwardStderr(link: AgentLink, role: string, reporter: Reporter): void {
  let partial = '';
  link.stderr.setEncoding('utf8');
  link.stderr.on('data', (text: string) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) reporter.remoteText(`${role}: ${line}\n`);
  });
  link.stderr.on('end', () => { if (partial.trim()) reporter.remoteText(`${role}: ${partial}\n`); });
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


// One run: start the agents (transport), handshake, open the devices, check sizes and the bitmap,
// run the engine, close (flush) the destination, then --stat and --recheck.
// Nothing is opened for writing until every check that can fail with exit 1 has passed.
// The phases live beside it, one file per job: session-agents.ts (the agents: stderr, stop, why one
// ended), session-checks.ts (the checks before anything is written), session-sync.ts (the sync),
// session-diff.ts (--diff), session-recheck.ts (--recheck, --repair, --verify-bitmap).
import { randomBytes } from 'node:crypto';
import { VERSION } from '../shared/build-info';
import { MismatchError, UsageError, basynError } from '../shared/errors';
import type { Options } from './options';
import { Peer } from './peer';
import { statLine, type Reporter } from './progress';
import { explain, stopAgents, type Side } from './session-agents';
import { forwardStderr } from './agent-stderr';
import { checkSizes, checkStateFiles, loadBitmap } from './session-checks';
import { checkEndpointSizes, targetMissing } from './session-endpoints';
import { diffDevices } from './session-diff';
import { recheckDevices, verifyDestination } from './session-recheck';
import { NO_SYNC, syncDevices, type SyncFigures } from './session-sync';
import { transportsFor, type TransportFor } from './transport/index';
import { throttleLink } from './transport/throttle';
import type { AgentLink } from './transport/transport';

/** What the run's phases share: the agents started so far, and the run's interrupt. */
interface Run {
  readonly sides: Side[];
  readonly links: AgentLink[];
  /** Fires on SIGINT/SIGTERM/SIGHUP; its reason is the "Interrupted by ..." error. */
  readonly abort: AbortSignal;
}

/**
 * Runs one sync (or check, or recheck) as `options` say. `transports` starts each side's agent: by
 * default what the options say (transport/index.ts); tests hand in others, e.g. the in-process agent.
 * SIGINT, SIGTERM and SIGHUP end it at any phase, from the TCP connect to the final flush: exit 2 with
 * "Interrupted by ...", the agents killed and gone before the bitmap lock is released.
 */
export async function runSession(options: Options, reporter: Reporter, transports: TransportFor = transportsFor(options.connection, options.localConnection)): Promise<void> {
  const controller = new AbortController();
  const state: Run = { sides: [], links: [], abort: controller.signal };
  const interrupt = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) return;
    const error = basynError('INTERRUPTED', signal);
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

async function run(options: Options, reporter: Reporter, transports: TransportFor, state: Run): Promise<void> {
  const { sides, links, abort } = state;
  // A salted hash gets a fresh random seed each run, shared by both sides.
  const seed = options.hash.salted ? randomBytes(8).readBigUInt64LE(0) : 0n;
  // The sides whose agent is across a link (counted by --stat, paced by --bwlimit): the remote one,
  // and the local role too when it is on another host (remote to remote).
  const linked = (role: 'local' | 'remote') => role === 'remote' || Boolean(options.localConnection?.host);
  const connect = async (role: 'local' | 'remote', path: string): Promise<Side> => {
    const started = await transports(role).start(abort);
    const link = linked(role) && options.bwlimit > 0 ? throttleLink(started, options.bwlimit) : started;
    links.push(link);
    forwardStderr(link.stderr, role, (text) => reporter.remoteText(text));
    for (const detail of started.details ?? []) reporter.debug(`${role} link (${started.description}): ${detail}`);
    const peer = await Peer.connect(role, link, (text) => reporter.debug(`${role} agent: ${text}`), abort);
    // SOURCE TARGET form: a remote endpoint's `~` is the agent's to expand.
    peer.expandHome = options.endpoints?.homeRoles.includes(role) ?? false;
    const side: Side = { peer, path, size: 0 };
    sides.push(side);
    return side;
  };
  if (options.localConnection?.host) reporter.verbose(`Using SSH connections to hosts ${options.localConnection.host} and ${options.connection.host}`);
  else if (options.connection.host) reporter.verbose(`Using SSH connection to host ${options.connection.host}`);
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
  // A missing SOURCE TARGET form target is created then, at the source's size (session-endpoints.ts).
  // Both opens settle, and the source's failure is the one reported: when both devices are wrong, the
  // message does not depend on which agent answered first.
  let missingTarget: Side | undefined;
  const sourceFirst = options.action === 'PULL' ? [remote, local] : [local, remote];
  const opened = await Promise.allSettled(
    sourceFirst.map(async (side) => {
      if (!side) return;
      try {
        side.size = await side.peer.open(side.path, false, options.hash, seed);
      } catch (error) {
        if (side.peer.role !== options.endpoints?.targetRole || !targetMissing(options, error)) throw error;
        missingTarget = side;
      }
    }),
  );
  const openFailed = opened.find((result) => result.status === 'rejected');
  if (openFailed) throw openFailed.reason;
  if (missingTarget) {
    const sourceSize = (missingTarget === local ? remote : local)?.size ?? 0;
    missingTarget.size = sourceSize;
    missingTarget.peer.createSize = sourceSize;
    reporter.verbose(`TARGET ${missingTarget.path} does not exist: it is created at the source's size`);
  }
  if (local) reporter.verbose(`Local device ${local.path} size is ${local.size}B`);
  if (remote) reporter.verbose(`Remote device ${remote.path} size is ${remote.size}B`);
  const figures: SyncFigures = { ...NO_SYNC };
  // Protocol bytes over the links to the agents on other hosts (remote to remote: both).
  const traffic = () => sides.filter((side) => linked(side.peer.role)).reduce(
    (sum, side) => ({ received: sum.received + side.peer.rpc.bytesIn, sent: sum.sent + side.peer.rpc.bytesOut }), { received: 0, sent: 0 });
  const sourceSide = options.action === 'PULL' ? remote : local;
  reporter.json?.track(() => ({
    ...figures,
    deviceSize: (options.action ? sourceSide?.size : undefined) ?? local?.size ?? remote?.size ?? 0,
    received: traffic().received,
    sent: traffic().sent,
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
  if (options.diff) {
    // A --diff run's figures are those of the comparison: what differs went to the patch, nothing was written.
    Object.assign(figures, await diffDevices(options, reporter, local, remote));
    await Promise.all(sides.map((side) => side.peer.close()));
    return;
  }
  if (local && remote && Math.min(local.size, remote.size) === 0) {
    throw basynError('DEVICE_EMPTY');
  }
  if (options.verifyBitmap) {
    await verifyDestination(options, reporter, (local ?? remote) as Side);
    await Promise.all(sides.map((side) => side.peer.close()));
    return;
  }

  const push = options.action === 'PUSH';
  const source = push ? local : remote;
  const destination = push ? remote : local;
  if (options.endpoints && source && destination) await checkEndpointSizes(options, source, destination);
  else if (options.action) checkSizes(options, source, destination);
  // -b and --changes are checked (--changes resolved once) before anything is written.
  const changesPath = await checkStateFiles(options);
  const bitmap = options.bitmap && source ? await loadBitmap(options, source, destination) : undefined;
  try {
    const started = Date.now();
    if (options.mode && source) Object.assign(figures, await syncDevices(options, reporter, seed, source, destination, bitmap, changesPath));
    else await bitmap?.open(); // --recheck -b without -m: only invalidations are written

    if (options.stat) {
      const size = options.action === 'PULL' ? (remote?.size ?? 0) : (local?.size ?? remote?.size ?? 0);
      reporter.print(`${statLine(size, (Date.now() - started) / 1000, remote ? traffic() : undefined)}\n`);
    }

    // A recheck that finds differences still ends the bitmap's run cleanly: its entries were invalidated.
    let mismatch: MismatchError | undefined;
    if (options.recheck) {
      // An invariant: options.ts refuses --recheck without both devices (USAGE_RECHECK_NEEDS_BOTH).
      if (!local || !remote) throw new UsageError('internal: --recheck needs both devices');
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

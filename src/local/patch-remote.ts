// `basyn patch -h HOST`: the patch is streamed to an agent on the target's host, which spools it in its
// state folder and applies it there with the same guarantees as a local apply (patch-format.md §4-5):
// the whole patch checked before the first write, the undo journal on that host.
import { basynError } from '../shared/errors';
import { MSG } from '../shared/protocol';
import type { ApplyOutcome } from '../remote/patch-apply';
import type { ConnectionOptions } from './options';
import { Peer } from './peer';
import { forwardStderr } from './agent-stderr';
import { remoteTransport } from './transport/index';

/** Slices of the patch in flight to the agent (each acknowledged once on its disk). */
const SLICE = 1024 * 1024;
const IN_FLIGHT = 8;

export type RemotePatchJob =
  | { type: typeof MSG.PATCH_APPLY; begin: { size: number; sizeMode: number; stateDir: string; spoolDir: string; target: string }; input: AsyncIterable<unknown> }
  | { type: typeof MSG.PATCH_ROLLBACK; stateDir: string; target: string };

export async function remotePatch(connection: ConnectionOptions, job: RemotePatchJob, log: (text: string) => void): Promise<ApplyOutcome> {
  const link = await remoteTransport(connection).start();
  forwardStderr(link.stderr, 'remote', (text) => process.stderr.write(text));
  const interrupt = () => link.kill();
  process.on('SIGINT', interrupt).on('SIGTERM', interrupt).on('SIGHUP', interrupt);
  try {
    const peer = await Peer.connect('remote', link, (text) => log(`remote: ${text}`));
    let reply;
    if (job.type === MSG.PATCH_ROLLBACK) {
      reply = await peer.rpc.call({ type: MSG.PATCH_ROLLBACK, stateDir: job.stateDir, target: job.target });
    } else {
      await peer.rpc.call({ type: MSG.PATCH_BEGIN, ...job.begin });
      const inFlight: Array<Promise<unknown>> = [];
      let pending = Buffer.alloc(0);
      const send = async (bytes: Buffer) => {
        inFlight.push(peer.rpc.call({ type: MSG.PATCH_DATA, bytes }));
        if (inFlight.length >= IN_FLIGHT) await inFlight.shift();
      };
      for await (const chunk of job.input) {
        pending = Buffer.concat([pending, chunk as Buffer]);
        while (pending.length >= SLICE) {
          await send(pending.subarray(0, SLICE));
          pending = pending.subarray(SLICE);
        }
      }
      if (pending.length > 0) await send(pending);
      await Promise.all(inFlight);
      reply = await peer.rpc.call({ type: MSG.PATCH_APPLY });
    }
    await peer.close();
    const outcome = reply.outcome as ApplyOutcome;
    if (!['applied', 'resumed', 'already-applied', 'rolled-back'].includes(outcome)) throw basynError('PATCH_REMOTE_OUTCOME', String(reply.outcome));
    return outcome;
  } catch (error) {
    link.kill();
    throw error;
  } finally {
    process.off('SIGINT', interrupt).off('SIGTERM', interrupt).off('SIGHUP', interrupt);
  }
}

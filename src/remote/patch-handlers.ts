// The agent's side of `basyn patch -h HOST` (patch-format.md §4): PATCH_BEGIN opens a spool in the
// state folder of this host, PATCH_DATA appends the patch's bytes to it, PATCH_APPLY runs the same
// apply as a local `basyn patch` (check everything, then the journalled write) and removes the spool;
// PATCH_ROLLBACK undoes an interrupted apply from its journal. The spool and the journal are the only
// files basyn writes on this host.
import { basynError } from '../shared/errors';
import { MSG, type Message, type MessageOf } from '../shared/protocol';
import { SIZE_MODE, type SizeMode } from '../shared/patch-format';
import { applyPatch, rollbackPatch } from './patch-apply';
import { defaultStateDir } from './patch-journal';
import { Spool } from './patch-spool';

export class PatchSession {
  private spool?: Spool;
  private target?: string;
  private stateDir?: string;
  private sizeMode?: SizeMode;

  async begin(request: MessageOf<typeof MSG.PATCH_BEGIN>): Promise<Message> {
    await this.spool?.discard();
    this.stateDir = request.stateDir || defaultStateDir();
    this.target = request.target;
    this.sizeMode = (Object.keys(SIZE_MODE) as SizeMode[]).find((mode) => SIZE_MODE[mode] === request.sizeMode);
    this.spool = await Spool.create(request.spoolDir || this.stateDir, request.size);
    return { type: MSG.PATCH_READY, id: request.id };
  }

  async data(request: MessageOf<typeof MSG.PATCH_DATA>): Promise<Message> {
    if (!this.spool) throw basynError('AGENT_UNEXPECTED', 'PATCH_DATA before PATCH_BEGIN');
    await this.spool.write(request.bytes);
    return { type: MSG.PATCH_ACK, id: request.id };
  }

  async apply(request: MessageOf<typeof MSG.PATCH_APPLY>, log: (text: string) => void): Promise<Message> {
    const spool = this.spool;
    if (!spool || !this.target || !this.stateDir) throw basynError('AGENT_UNEXPECTED', 'PATCH_APPLY before PATCH_BEGIN');
    this.spool = undefined;
    try {
      await spool.close();
      const outcome = await applyPatch({ patchPath: spool.path, target: this.target, stateDir: this.stateDir, sizeMode: this.sizeMode, log });
      return { type: MSG.PATCH_DONE, id: request.id, outcome };
    } finally {
      await spool.discard();
    }
  }

  async rollback(request: MessageOf<typeof MSG.PATCH_ROLLBACK>, log: (text: string) => void): Promise<Message> {
    const outcome = await rollbackPatch({ target: request.target, stateDir: request.stateDir || defaultStateDir(), log });
    return { type: MSG.PATCH_DONE, id: request.id, outcome };
  }

  /** The controller went away: a partial spool is removed (a journal stays: it is what makes a rerun safe). */
  async abandon(): Promise<void> {
    await this.spool?.discard();
  }
}

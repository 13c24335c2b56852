// `iscsi://PORTAL[:PORT]/IQN[?lun=N&chap=FILE]` as SOURCE or TARGET (spec: docs/iscsi.md): log in to
// the target with open-iscsi's iscsiadm, sync the LUN's block device, log out. In order:
//
//   acquire: CHAP file (if any) → discovery (the portal answers, offers IQN) → under the target's lock:
//            a session of IQN at PORTAL that basyn did not open → use it as it is, never log it out;
//            one basyn opened (another run holds it) → hold it too;
//            none → node record (created if missing) → CHAP settings → login → hold it
//            → wait (bounded) for /dev/disk/by-path/ip-ADDR:PORT-iscsi-IQN-lun-N
//   release: under the lock: let go; the last holder of a session basyn opened logs it out (retried)
//            and deletes the node record if basyn created it.
//
// A failure or an abort (signal) anywhere in acquire lets go at once, so nothing is left logged in;
// release() then has nothing to do. Settings from the environment: BASYN_ISCSI_DEVICE_WAIT (seconds
// to wait for udev, default 30), BASYN_ISCSI_RUN_DIR (records and locks, default /run/basyn/iscsi),
// BASYN_ISCSI_BY_PATH (test only: where the by-path links are looked for).
import { promises as dns } from 'node:dns';
import { promises as fs } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { type BasynError, basynError } from '../../shared/errors';
import type { EndpointSide, Resource } from '../resource';
import { chapSettings, readChapFile, type ChapCredentials } from './iscsi-chap';
import { byPathName, parseIscsiSpec, portalArgument, type IscsiSpec } from './iscsi-spec';
import { newHolder, TargetRegistry, type Holder, type TargetRecord } from './iscsi-sessions';
// A holder is alive as a lock file's owner is: its pid runs, and was started when it said.
import { isProcessAlive as isAlive } from '../lock-file';
import { admFailure, Iscsiadm, ISCSI_ERR_NO_OBJS_FOUND, ISCSI_ERR_SESS_EXISTS, type PortalTarget } from './iscsiadm';
import type { AcquiredResource, EndpointRole, ResourceContext, ResourceScheme } from './resource';

export interface IscsiSettings {
  /** The environment iscsiadm runs in (PATH finds it); the BASYN_ISCSI_* settings are read from it. */
  readonly env: NodeJS.ProcessEnv;
}

const DEFAULT_DEVICE_WAIT_SECONDS = 30;
const LOGOUT_TRIES = 3;
const POLL_MS = 100;

/** How this run holds the target's session. */
type Hold = { readonly kind: 'foreign' } | { readonly kind: 'held'; readonly holder: Holder };

export class IscsiResource implements Resource {
  readonly description: string;
  private readonly portal: string;
  private readonly adm: Iscsiadm;
  private readonly registry: TargetRegistry;
  private readonly byPathDir: string;
  private readonly deviceWaitMs: number;
  private hold: Hold | undefined;

  constructor(readonly spec: IscsiSpec, readonly side: EndpointSide, settings: IscsiSettings) {
    this.portal = portalArgument(spec);
    this.description = `iSCSI target ${spec.iqn} at ${this.portal} (LUN ${spec.lun})`;
    this.adm = new Iscsiadm(settings.env);
    this.registry = new TargetRegistry(settings.env.BASYN_ISCSI_RUN_DIR || '/run/basyn/iscsi');
    this.byPathDir = settings.env.BASYN_ISCSI_BY_PATH || '/dev/disk/by-path';
    const wait = Number(settings.env.BASYN_ISCSI_DEVICE_WAIT);
    this.deviceWaitMs = (settings.env.BASYN_ISCSI_DEVICE_WAIT && Number.isFinite(wait) && wait >= 0 ? wait : DEFAULT_DEVICE_WAIT_SECONDS) * 1000;
  }

  private get key(): string {
    return `iscsi://${this.portal}/${this.spec.iqn}`;
  }

  async acquire(abort: AbortSignal): Promise<string> {
    const chap = this.spec.chapFile !== undefined ? await readChapFile(this.spec.chapFile) : undefined;
    const offered = await this.discover(abort);
    const addresses = await this.addresses(abort);
    try {
      await this.join(offered, addresses, chap, abort);
      return await this.waitForDevice(addresses, abort);
    } catch (error) {
      // Nothing stays logged in after a failed acquire: a signal during the login lands here too.
      await this.leave().catch(() => undefined);
      throw error;
    }
  }

  async release(): Promise<void> {
    await this.leave();
  }

  /** Discovery: the portal answers and offers the target; resolves with the target's portal groups. */
  private async discover(abort: AbortSignal): Promise<PortalTarget[]> {
    const found = await this.adm.discover(this.portal, abort);
    if ('failed' in found) throw basynError('ISCSI_PORTAL_NO_ANSWER', this.portal, admFailure(found.failed));
    const offered = found.targets.filter((target) => target.iqn === this.spec.iqn);
    if (offered.length === 0) {
      const names = [...new Set(found.targets.map((target) => target.iqn))];
      throw basynError('ISCSI_TARGET_NOT_OFFERED', this.portal, this.spec.iqn, names.length > 0 ? names.slice(0, 5).join(', ') + (names.length > 5 ? ', ...' : '') : 'none');
    }
    return offered;
  }

  /** The addresses a session with the portal has (udev names the device after the one connected to). */
  private async addresses(abort: AbortSignal): Promise<string[]> {
    if (isIP(this.spec.host)) return [this.spec.host];
    const found = await dns.lookup(this.spec.host, { all: true }).catch(() => []);
    if (abort.aborted) throw abort.reason;
    if (found.length === 0) throw basynError('ISCSI_PORTAL_UNRESOLVED', this.portal, this.spec.host);
    return found.map((entry) => entry.address);
  }

  private ours(session: PortalTarget, addresses: readonly string[]): boolean {
    return session.iqn === this.spec.iqn && session.port === this.spec.port && addresses.includes(session.address);
  }

  /** Under the target's lock: use a session that exists, or log in; either way, record this run's hold. */
  private async join(offered: PortalTarget[], addresses: string[], chap: ChapCredentials | undefined, abort: AbortSignal): Promise<void> {
    await this.registry.withRecord(this.key, abort, async (record) => {
      const session = (await this.adm.sessions(abort)).find((candidate) => this.ours(candidate, addresses));
      record.holders = record.holders.filter(isAlive);
      if (session && record.opened && (record.sid === undefined || record.sid === session.sid)) {
        // basyn's session, held by other runs (or left by a killed one): share it.
        this.hold = { kind: 'held', holder: newHolder() };
        record.holders.push(this.hold.holder);
        return;
      }
      if (session) {
        // Logged in by someone else (an administrator, /etc/iscsi automatic login): used as it is.
        this.hold = { kind: 'foreign' };
        if (record.opened) Object.assign(record, { opened: false, sid: undefined, holders: [] });
        return;
      }
      Object.assign(record, { opened: false, sid: undefined, holders: [] });
      if (abort.aborted) throw abort.reason;
      await this.login(record, offered, addresses, chap);
    });
  }

  private async login(record: TargetRecord, offered: PortalTarget[], addresses: string[], chap: ChapCredentials | undefined): Promise<void> {
    if (!(await this.adm.nodeExists(this.spec.iqn, this.portal))) {
      const created = await this.adm.node(this.spec.iqn, portalArgument(this.spec, offered[0].tpgt), '-o', 'new');
      if (created.code !== 0) throw basynError('ISCSI_NODE_CREATE_FAILED', this.spec.iqn, this.portal, admFailure(created));
      record.createdNode = true;
    }
    try {
      for (const [name, value] of chap ? chapSettings(chap) : []) {
        const updated = await this.adm.node(this.spec.iqn, this.portal, '-o', 'update', '-n', name, '-v', value);
        // The message names the setting, never its value.
        if (updated.code !== 0) throw basynError('ISCSI_NODE_SETTING_FAILED', name, this.spec.iqn, this.portal, admFailure(updated));
      }
      const login = await this.adm.node(this.spec.iqn, this.portal, '--login');
      if (login.code === ISCSI_ERR_SESS_EXISTS) {
        this.hold = { kind: 'foreign' }; // logged in by someone else since the session list was read
        return;
      }
      if (login.code !== 0) throw basynError('ISCSI_LOGIN_FAILED', this.spec.iqn, this.portal, admFailure(login));
    } catch (error) {
      await this.deleteNode(record);
      throw error;
    }
    const session = (await this.adm.sessions().catch(() => [])).find((candidate) => this.ours(candidate, addresses));
    this.hold = { kind: 'held', holder: newHolder() };
    Object.assign(record, { opened: true, sid: session?.sid, holders: [this.hold.holder] });
  }

  /** The LUN's by-path link, once udev made it (bounded by BASYN_ISCSI_DEVICE_WAIT). */
  private async waitForDevice(addresses: string[], abort: AbortSignal): Promise<string> {
    const links = addresses.map((address) => join(this.byPathDir, byPathName(address, this.spec.port, this.spec.iqn, this.spec.lun)));
    const deadline = Date.now() + this.deviceWaitMs;
    for (;;) {
      for (const link of links) {
        const stat = await fs.stat(link).catch(() => undefined);
        if (stat?.isBlockDevice()) return link;
      }
      if (abort.aborted) throw abort.reason;
      if (Date.now() >= deadline) {
        const session = this.hold?.kind === 'held' ? 'logged out again' : 'the session, not opened by basyn, is left logged in';
        const link = links[0] ?? join(this.byPathDir, byPathName(this.spec.host, this.spec.port, this.spec.iqn, this.spec.lun));
        throw basynError('ISCSI_LUN_MISSING', this.spec.iqn, this.portal, this.spec.lun, link, this.deviceWaitMs / 1000, session);
      }
      await sleep(POLL_MS, abort);
    }
  }

  /** Lets go of the session: the last holder of one basyn opened logs it out. Idempotent. */
  private async leave(): Promise<void> {
    const hold = this.hold;
    this.hold = undefined;
    if (hold?.kind !== 'held') return;
    await this.registry.withRecord(this.key, undefined, async (record) => {
      record.holders = record.holders.filter((holder) => holder.token !== hold.holder.token && isAlive(holder));
      if (!record.opened || record.holders.length > 0) return;
      await this.logout();
      Object.assign(record, { opened: false, sid: undefined });
      await this.deleteNode(record);
    });
  }

  private async logout(): Promise<void> {
    let failure = '';
    for (let attempt = 1; attempt <= LOGOUT_TRIES; attempt++) {
      const result = await this.adm.node(this.spec.iqn, this.portal, '--logout');
      // 21: no such session any more (logged out behind basyn's back): nothing left to do.
      if (result.code === 0 || result.code === ISCSI_ERR_NO_OBJS_FOUND) return;
      failure = admFailure(result);
      if (attempt < LOGOUT_TRIES) await sleep(1000 * attempt);
    }
    throw basynError('ISCSI_LOGOUT_FAILED', this.spec.iqn, this.portal, LOGOUT_TRIES, failure);
  }

  /** Removes the node record basyn created (it may hold CHAP secrets); best effort. */
  private async deleteNode(record: TargetRecord): Promise<void> {
    if (!record.createdNode) return;
    const deleted = await this.adm.node(this.spec.iqn, this.portal, '-o', 'delete').catch(() => undefined);
    if (deleted && (deleted.code === 0 || deleted.code === ISCSI_ERR_NO_OBJS_FOUND)) record.createdNode = false;
  }
}

function sleep(ms: number, abort?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (abort?.aborted) return reject(abort.reason);
    const onAbort = () => { clearTimeout(timer); reject(abort?.reason as BasynError); };
    const timer = setTimeout(() => { abort?.removeEventListener('abort', onAbort); resolve(); }, ms);
    abort?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The resource for `rest` (what follows `iscsi://`); only the spelling is checked here. */
export function iscsiResource(rest: string, side: EndpointSide, settings: IscsiSettings = { env: process.env }, spec?: string): IscsiResource {
  return new IscsiResource(parseIscsiSpec(rest, spec), side, settings);
}

const PREFIX = 'iscsi://';
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * iscsi:// as a scheme of resources/index.ts (`basyn tasks`; register.ts registers it for the command
 * line too). That interface passes no abort signal, so the acquire listens for SIGINT, SIGTERM and
 * SIGHUP itself: a signal ends the udev wait (and every step but a login in progress) at once, and the
 * acquire rejects with "Interrupted by ..." after logging out; the caller's own handlers run as well.
 */
export const ISCSI: ResourceScheme = {
  prefix: PREFIX,

  check(endpoint: string, _role: EndpointRole): void {
    parseIscsiSpec(endpoint.slice(PREFIX.length), endpoint);
  },

  async acquire(endpoint: string, context: ResourceContext): Promise<AcquiredResource> {
    const resource = iscsiResource(endpoint.slice(PREFIX.length), context.role, { env: process.env }, endpoint);
    const controller = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => {
      if (!controller.signal.aborted) controller.abort(basynError('INTERRUPTED', signal));
    };
    for (const signal of SIGNALS) process.on(signal, onSignal);
    let device: string;
    try {
      device = await resource.acquire(controller.signal);
    } finally {
      for (const signal of SIGNALS) process.off(signal, onSignal);
    }
    context.log(`Using ${resource.description} as ${device}`);
    return { device, description: resource.description, release: () => resource.release() };
  },
};

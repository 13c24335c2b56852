// The undo journal of `basyn patch` (patch-format.md §5): the pre-image of every range, made durable
// before the range is overwritten, so a killed apply can be finished or rolled back. One journal per
// target, in the state folder of the target's host; created with O_EXCL (never replacing a file).
//
//   header  bytes[8] "BASYNJNL" | u32 version 1 | u32 header length H | bytes[32] patch file SHA-256
//           | u64 size before | u64 size after | u16 path length | path | bytes[32] SHA-256 of the above
//   entry   u64 offset | u32 length | bytes[length] pre-image | bytes[32] SHA-256 of the above
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { basynError } from '../shared/errors';

const MAGIC = Buffer.from('BASYNJNL', 'latin1');
const VERSION = 1;
const DIGEST = 32;

export interface JournalHeader {
  /** SHA-256 of the patch file being applied. */
  readonly patch: Buffer;
  readonly sizeBefore: number;
  readonly sizeAfter: number;
  readonly target: string;
}

export interface JournalEntry {
  readonly offset: number;
  readonly length: number;
  /** Where the pre-image bytes start in the journal file. */
  readonly position: number;
}

/** $XDG_STATE_HOME/basyn (default ~/.local/state/basyn): where journals and spooled patches live. */
export function defaultStateDir(): string {
  const base = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'basyn');
}

/** The journal of `target` (its real path names it, so two spellings of one device share it). */
export async function journalPath(stateDir: string, target: string): Promise<string> {
  const real = await fs.realpath(target);
  return join(stateDir, `patch-${createHash('sha256').update(real).digest('hex').slice(0, 20)}.journal`);
}

function sha(...parts: Buffer[]): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** fsync of the folder holding `path`: makes a name in it (created, linked, removed) durable. */
async function syncDir(path: string): Promise<void> {
  const dir = await fs.open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/**
 * Creates folder `dir` and its missing parents (0700), each name made durable by an fsync of the
 * folder holding it: a journal in a folder that a power cut takes away would be lost with it, leaving
 * a half-written target that neither finishing nor --rollback could resolve. The folder holding `dir`
 * is fsynced even when `dir` exists (an earlier apply may have been killed before doing it).
 */
async function makeDurableDir(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let at = dir; dirname(at) !== at; at = dirname(at)) {
    const exists = await fs.stat(at).then(() => true, (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    });
    if (exists) break;
    missing.unshift(at);
  }
  for (const folder of missing) {
    await fs.mkdir(folder, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    await syncDir(folder);
  }
  if (missing.length === 0) await syncDir(dir);
}

export class Journal {
  private constructor(readonly path: string, private readonly handle: fs.FileHandle, private end: number) {}

  /** Creates the journal durably (file and directory entry) before anything is written to the target. */
  static async create(path: string, header: JournalHeader): Promise<Journal> {
    await makeDurableDir(dirname(path));
    const target = Buffer.from(header.target, 'utf8');
    const body = Buffer.alloc(8 + 4 + 4 + DIGEST + 8 + 8 + 2);
    MAGIC.copy(body, 0);
    body.writeUInt32LE(VERSION, 8);
    body.writeUInt32LE(body.length + target.length + DIGEST, 12);
    header.patch.copy(body, 16);
    body.writeBigUInt64LE(BigInt(header.sizeBefore), 48);
    body.writeBigUInt64LE(BigInt(header.sizeAfter), 56);
    body.writeUInt16LE(target.length, 64);
    const bytes = Buffer.concat([body, target, sha(body, target)]);
    // The header is written and synced under a temporary name, then linked to the journal's name
    // (link, unlike rename, never replaces a file): a kill leaves no journal or a complete one.
    const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const draft = await fs.open(temporary, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
    try {
      await draft.write(bytes, 0, bytes.length, 0);
      await draft.sync();
    } finally {
      await draft.close();
    }
    try {
      await fs.link(temporary, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw basynError('PATCH_JOURNAL_EXISTS', path);
      throw error;
    } finally {
      await fs.unlink(temporary).catch(() => undefined);
    }
    await syncDir(path);
    const handle = await fs.open(path, 'r+');
    return new Journal(path, handle, bytes.length);
  }

  /** Opens an existing journal to append to it (resuming), after read() found its valid end. */
  static async reopen(path: string, validEnd: number): Promise<Journal> {
    const handle = await fs.open(path, 'r+');
    await handle.truncate(validEnd); // a torn last entry described a range that was never written
    return new Journal(path, handle, validEnd);
  }

  /** The header and the entries of a journal; a torn last entry (killed mid-append) is left out. */
  static async read(path: string): Promise<{ header: JournalHeader; entries: JournalEntry[]; validEnd: number } | undefined> {
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const bad = basynError('PATCH_JOURNAL_NOT_OURS', path);
    if (bytes.length < 66 || !bytes.subarray(0, 8).equals(MAGIC) || bytes.readUInt32LE(8) !== VERSION) throw bad;
    const headerLength = bytes.readUInt32LE(12);
    const targetLength = bytes.readUInt16LE(64);
    if (headerLength !== 66 + targetLength + DIGEST || bytes.length < headerLength) throw bad;
    if (!sha(bytes.subarray(0, 66 + targetLength)).equals(bytes.subarray(66 + targetLength, headerLength))) throw bad;
    const header: JournalHeader = {
      patch: Buffer.from(bytes.subarray(16, 48)),
      sizeBefore: Number(bytes.readBigUInt64LE(48)),
      sizeAfter: Number(bytes.readBigUInt64LE(56)),
      target: bytes.subarray(66, 66 + targetLength).toString('utf8'),
    };
    const entries: JournalEntry[] = [];
    let at = headerLength;
    while (at + 12 + DIGEST <= bytes.length) {
      const offset = Number(bytes.readBigUInt64LE(at));
      const length = bytes.readUInt32LE(at + 8);
      const end = at + 12 + length;
      if (end + DIGEST > bytes.length || !sha(bytes.subarray(at, end)).equals(bytes.subarray(end, end + DIGEST))) break;
      entries.push({ offset, length, position: at + 12 });
      at = end + DIGEST;
    }
    return { header, entries, validEnd: at };
  }

  /** Appends pre-images and makes them durable: only then may their ranges be overwritten. */
  async append(entries: Array<{ offset: number; data: Buffer }>): Promise<void> {
    const parts: Buffer[] = [];
    for (const { offset, data } of entries) {
      const head = Buffer.alloc(12);
      head.writeBigUInt64LE(BigInt(offset), 0);
      head.writeUInt32LE(data.length, 8);
      parts.push(head, data, sha(head, data));
    }
    const bytes = Buffer.concat(parts);
    await this.handle.write(bytes, 0, bytes.length, this.end);
    this.end += bytes.length;
    await this.handle.datasync();
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  /** The apply or the rollback is over (the target flushed, its size durable): the journal goes, durably. */
  static async remove(path: string): Promise<void> {
    await fs.unlink(path);
    await syncDir(path);
  }
}

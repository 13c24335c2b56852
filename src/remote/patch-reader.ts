// Reads a patch file of either format (basyn's or bdsync's, told apart by the first bytes) as one
// stream of records, with memory flat: the file is read in slices and only one record is held.
// Used by `basyn patch` wherever the target is (in the controller, or in the agent on the target's host).
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { BdsyncDecoder } from '../shared/bdsync-format';
import { decodeBlock } from '../shared/block-codec';
import { PatchError, basynError } from '../shared/errors';
import type { HashAlgorithm } from '../shared/hash';
import { PATCH_MAGIC, PatchDecoder, type SizeMode } from '../shared/patch-format';
import type { Encoding } from '../shared/protocol';
import { patchDigest } from '../shared/hash';

export type PatchFormat = 'basyn' | 'bdsync';

export interface PatchSummary {
  readonly format: PatchFormat;
  /** The target's size once patched (before --diffsize minsize clipping). */
  readonly sourceSize: number;
  /** basyn only: the size the target had when the patch was made. */
  readonly targetSize?: number;
  readonly sizeMode?: SizeMode;
  readonly digest?: HashAlgorithm;
  /** bdsync only: the target named in the header. */
  readonly name?: string;
  readonly recordCount: number;
  readonly totalLength: number;
  /** SHA-256 of the whole file: names the patch in the undo journal. */
  readonly fileDigest: Buffer;
}

export interface ApplyRecord {
  readonly offset: number;
  readonly length: number;
  readonly preImage?: Buffer;
  readonly postImage?: Buffer;
  /** The algorithm of preImage and postImage (basyn patches). */
  readonly digest?: HashAlgorithm;
  /** The bytes to write (inflated). */
  data(): Promise<Buffer>;
}

export async function detectFormat(path: string): Promise<PatchFormat> {
  const handle = await fs.open(path, 'r');
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await handle.read(head, 0, 8, 0);
    if (bytesRead === 0) throw basynError('PATCH_EMPTY');
    if (head.subarray(0, bytesRead).equals(PATCH_MAGIC.subarray(0, bytesRead)) ) return 'basyn';
    if (head.subarray(0, Math.min(bytesRead, 7)).toString('latin1') === 'BDSYNC '.slice(0, Math.min(bytesRead, 7))) return 'bdsync';
    throw basynError('PATCH_NOT_A_PATCH');
  } finally {
    await handle.close();
  }
}

/**
 * Reads the whole patch once, checking everything a patch can check by itself: framing, every record
 * (inflated, and its post-image digest), the trailer and the whole-file checksum. Nothing is written.
 */
export async function checkPatch(path: string): Promise<PatchSummary> {
  let summary: Omit<PatchSummary, 'fileDigest'> | undefined;
  const fileDigest = await forEachRecord(path, async (record) => {
    const data = await record.data();
    if (record.postImage && !patchDigest(record.digest, data).equals(record.postImage)) {
      throw basynError('PATCH_RECORD_DAMAGED', record.offset);
    }
  }, (found) => { summary = found; });
  // An invariant: a decoder that ended without error has read a header.
  if (!summary) throw new PatchError('internal: no patch header');
  return { ...summary, fileDigest };
}

/**
 * Streams the records of `path` to `onRecord` in order; `onSummary` is called at the end, after the
 * trailer (or bdsync's end) was read and checked. Returns the SHA-256 of the whole file.
 */
export async function forEachRecord(
  path: string,
  onRecord: (record: ApplyRecord) => Promise<void>,
  onSummary?: (summary: Omit<PatchSummary, 'fileDigest'>) => void,
): Promise<Buffer> {
  const format = await detectFormat(path);
  const whole = createHash('sha256');
  let recordCount = 0;
  let totalLength = 0;
  let header: { sourceSize: number; targetSize?: number; sizeMode?: SizeMode; digest?: HashAlgorithm; name?: string } | undefined;
  const basyn = format === 'basyn' ? new PatchDecoder() : undefined;
  const bdsync = format === 'bdsync' ? new BdsyncDecoder() : undefined;

  const handle = async (chunk: Buffer) => {
    if (basyn) {
      for (const event of basyn.push(chunk)) {
        if (event.kind === 'header') header = event.header;
        else if (event.kind === 'record') {
          const { record } = event;
          recordCount++;
          totalLength += record.length;
          await onRecord({
            offset: record.offset, length: record.length, preImage: record.preImage, postImage: record.postImage, digest: header?.digest,
            data: () => decodeBlock({ encoding: record.encoding as Encoding, rawLength: record.length, bytes: record.data }).catch((error) => {
              throw basynError('PATCH_RECORD_CORRUPT', record.offset, (error as Error).message);
            }),
          });
        }
      }
    } else if (bdsync) {
      for (const event of bdsync.push(chunk)) {
        if (event.kind === 'header') header = event.header;
        else if (event.kind === 'record') {
          const { record } = event;
          recordCount++;
          totalLength += record.data.length;
          await onRecord({ offset: record.offset, length: record.data.length, data: async () => record.data });
        }
      }
    }
  };

  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    whole.update(chunk as Buffer);
    await handle(chunk as Buffer);
  }
  basyn?.end();
  bdsync?.end();
  // An invariant: a decoder that ended without error has read a header.
  if (!header) throw new PatchError('internal: no patch header');
  onSummary?.({ format, ...header, recordCount, totalLength });
  return whole.digest();
}

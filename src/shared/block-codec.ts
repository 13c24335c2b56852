// How a block of device data is packed for the wire: all-zero blocks become a marker, others are
// deflated at the requested level and sent raw when deflate does not shrink them.
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { ProtocolError } from './errors';
import { ENCODING, type EncodedBlock } from './protocol';

const ZERO_PAGE = Buffer.alloc(64 * 1024);

export function isAllZero(data: Uint8Array): boolean {
  for (let start = 0; start < data.length; start += ZERO_PAGE.length) {
    const end = Math.min(data.length, start + ZERO_PAGE.length);
    if (Buffer.compare(data.subarray(start, end), ZERO_PAGE.subarray(0, end - start)) !== 0) return false;
  }
  return true;
}

export function encodeBlock(data: Buffer, level: number): EncodedBlock {
  if (isAllZero(data)) return { encoding: ENCODING.ZERO, rawLength: data.length, bytes: Buffer.alloc(0) };
  if (level > 0) {
    const deflated = deflateRawSync(data, { level });
    if (deflated.length < data.length) return { encoding: ENCODING.DEFLATE, rawLength: data.length, bytes: deflated };
  }
  return { encoding: ENCODING.RAW, rawLength: data.length, bytes: data };
}

export function decodeBlock(block: EncodedBlock): Buffer {
  switch (block.encoding) {
    case ENCODING.RAW:
      return block.bytes;
    case ENCODING.ZERO:
      return Buffer.alloc(block.rawLength);
    case ENCODING.DEFLATE: {
      let data: Buffer;
      try {
        data = inflateRawSync(block.bytes, { maxOutputLength: block.rawLength });
      } catch (error) {
        throw new ProtocolError(`corrupt compressed block: ${(error as Error).message}`);
      }
      if (data.length !== block.rawLength) {
        throw new ProtocolError(`compressed block inflated to ${data.length} bytes, expected ${block.rawLength}`);
      }
      return data;
    }
  }
}

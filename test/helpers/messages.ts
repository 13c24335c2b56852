// One message of every type, shared by the codec and frame tests: values that exercise every field
// (ids up to 2^32-1, u64 above 2^32, UTF-8 strings, empty payloads).
import { ENCODING, MSG, PROTOCOL_VERSION, type Message } from '../../src/shared/protocol';

export const EVERY_MESSAGE: Message[] = [
  { type: MSG.HELLO, id: 0, version: PROTOCOL_VERSION, buildId: '0.1.0+abcdef012345' },
  { type: MSG.OPEN, id: 1, writable: true, hashId: 7, seed: 0xfedcba9876543210n, path: '/dev/vg0/böse lv' },
  { type: MSG.OPEN, id: 2, writable: false, hashId: 0, seed: 0n, path: '' },
  { type: MSG.OPENED, id: 3, size: 2 ** 40 + 17 },
  { type: MSG.HASH, id: 4, offset: 2 ** 33 + 5, length: 2 * 1024 * 1024, chunkSize: 4096 },
  { type: MSG.HASH, id: 5, offset: 0, length: 1, chunkSize: 0 },
  { type: MSG.DIGESTS, id: 6, digests: Buffer.from('0123456789abcdef0123', 'latin1') },
  { type: MSG.DIGESTS, id: 7, digests: Buffer.alloc(0) },
  { type: MSG.READ, id: 8, offset: 123456789, length: 65536, level: 9 },
  { type: MSG.DATA, id: 9, block: { encoding: ENCODING.RAW, rawLength: 3, bytes: Buffer.from([1, 2, 3]) } },
  { type: MSG.DATA, id: 10, block: { encoding: ENCODING.ZERO, rawLength: 65536, bytes: Buffer.alloc(0) } },
  { type: MSG.DATA, id: 11, block: { encoding: ENCODING.DEFLATE, rawLength: 1000, bytes: Buffer.from([0x63, 0x18, 0x05]) } },
  { type: MSG.WRITE, id: 12, offset: Number.MAX_SAFE_INTEGER, block: { encoding: ENCODING.RAW, rawLength: 2, bytes: Buffer.from([9, 8]) } },
  { type: MSG.WRITE, id: 13, offset: 0, block: { encoding: ENCODING.ZERO, rawLength: 4096, bytes: Buffer.alloc(0) } },
  { type: MSG.WRITTEN, id: 14 },
  { type: MSG.FLUSH, id: 15 },
  { type: MSG.FLUSHED, id: 16 },
  { type: MSG.CLOSE, id: 0xffffffff },
  { type: MSG.CLOSED, id: 0xfffffffe },
  { type: MSG.PATCH_BEGIN, id: 17, size: 2 ** 41 + 3, sizeMode: 0xff, stateDir: '', spoolDir: '/var/spool/bäsyn', target: '/dev/vg/copy' },
  { type: MSG.PATCH_READY, id: 18 },
  { type: MSG.PATCH_DATA, id: 19, bytes: Buffer.from('BASYNPAT\x01\x00', 'latin1') },
  { type: MSG.PATCH_ACK, id: 20 },
  { type: MSG.PATCH_APPLY, id: 21 },
  { type: MSG.PATCH_DONE, id: 22, outcome: 'already-applied' },
  { type: MSG.PATCH_ROLLBACK, id: 23, stateDir: '/root/.local/state/basyn', target: 'disk.img' },
  { type: MSG.LOG, id: 0, level: 2, text: 'reading… done' },
  { type: MSG.ERROR, id: 42, code: 'ENOENT', message: 'Device /dev/nope is not found' },
];

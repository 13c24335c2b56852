// What the agent does for SOURCE TARGET endpoints (docs/protocol.md, OPEN flags), spoken frame by frame
// to the real bundle: `~` and `~user` expanded by the agent itself (bit 1), a missing target created
// 0600 and sparse at the given size (bit 2) but never under /dev and never over an existing file,
// and iblocksync's 32-bit digests (--algo) checked against independent implementations.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { crc32 } from 'node:zlib';
import { MSG, type Message, type MessageOf } from '../src/shared/protocol';
import { AgentProcess } from './helpers/agent';
import { tempDir } from './helpers/images';

const SHA1 = 0;

function setup(t: import('ava').ExecutionContext) {
  const dir = tempDir('basyn-agent-open-');
  const home = dir.path('home');
  mkdirSync(home);
  const agent = new AgentProcess({ ...process.env, HOME: home });
  t.teardown(() => { agent.kill(); dir.cleanup(); });
  return { agent, dir, home };
}

function expectType<T extends Message['type']>(t: import('ava').ExecutionContext, message: Message, type: T): MessageOf<T> {
  t.is(message.type, type, JSON.stringify(message));
  return message as MessageOf<T>;
}

test('home flag: ~/PATH is under the agent\'s HOME, ~user/PATH under that user\'s; without the flag ~ is a name', async (t) => {
  const { agent, home, dir } = setup(t);
  writeFileSync(`${home}/disk.img`, Buffer.alloc(1234, 1));
  const opened = expectType(t, await agent.call({ type: MSG.OPEN, writable: false, hashId: SHA1, seed: 0n, path: '~/disk.img', home: true }), MSG.OPENED);
  t.is(opened.size, 1234);
  const plain = expectType(t, await agent.call({ type: MSG.OPEN, writable: false, hashId: SHA1, seed: 0n, path: '~/disk.img' }), MSG.ERROR);
  t.is(plain.code, 'ENOENT', 'no expansion without the flag');
  // ~user: the password database's home of the user running the tests.
  const me = userInfo();
  const mine = expectType(t, await agent.call({ type: MSG.OPEN, writable: false, hashId: SHA1, seed: 0n, path: `~${me.username}`, home: true }), MSG.ERROR);
  t.is(mine.code, 'EISDIR', `~${me.username} is ${me.homedir}, a directory`);
  const nobody = expectType(t, await agent.call({ type: MSG.OPEN, writable: false, hashId: SHA1, seed: 0n, path: '~no-such-user-basyn/x', home: true }), MSG.ERROR);
  t.is(nobody.message, 'Device ~no-such-user-basyn/x is not found: no such user on this host');
  const middle = expectType(t, await agent.call({ type: MSG.OPEN, writable: false, hashId: SHA1, seed: 0n, path: `${dir.dir}/~/x`, home: true }), MSG.ERROR);
  t.is(middle.code, 'ENOENT', 'only a leading ~ is expanded');
});

test('create flag: a missing file is made 0600, sparse, at the size; an existing one is left as it is', async (t) => {
  const { agent, dir } = setup(t);
  const path = dir.path('new.img');
  const size = 5 * 1024 * 1024 + 7;
  const opened = expectType(t, await agent.call({ type: MSG.OPEN, writable: true, hashId: SHA1, seed: 0n, path, createSize: size }), MSG.OPENED);
  t.is(opened.size, size);
  const stat = statSync(path);
  t.is(stat.size, size);
  t.is(stat.mode & 0o777, 0o600);
  t.true(stat.blocks * 512 < 64 * 1024, `sparse: ${stat.blocks * 512} bytes allocated`);

  const existing = dir.path('existing.img');
  const content = randomBytes(3000);
  writeFileSync(existing, content);
  const kept = expectType(t, await agent.call({ type: MSG.OPEN, writable: true, hashId: SHA1, seed: 0n, path: existing, createSize: size }), MSG.OPENED);
  t.is(kept.size, 3000);
  t.deepEqual(readFileSync(existing), content);
});

test('create flag: never under /dev, never in a missing folder', async (t) => {
  const { agent, dir } = setup(t);
  const dev = expectType(t, await agent.call({ type: MSG.OPEN, writable: true, hashId: SHA1, seed: 0n, path: '/dev/basyn-agent-test-missing', createSize: 4096 }), MSG.ERROR);
  t.regex(dev.message, /a missing path under \/dev is not created/);
  t.false(existsSync('/dev/basyn-agent-test-missing'));
  const folder = expectType(t, await agent.call({ type: MSG.OPEN, writable: true, hashId: SHA1, seed: 0n, path: dir.path('no/such.img'), createSize: 4096 }), MSG.ERROR);
  t.is(folder.code, 'ENOENT');
});

/** Adler-32 from RFC 1950 §8 (written from the RFC, not from the agent's library). */
function adler32(data: Buffer): number {
  let a = 1;
  let b = 0;
  for (const byte of data) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

test('--algo digests: CRC32 equals zlib\'s, ADLER32 equals RFC 1950\'s, 4 bytes big-endian per chunk', async (t) => {
  const { agent, dir } = setup(t);
  const content = randomBytes(10_000);
  const path = dir.path('data.img');
  writeFileSync(path, content);
  const u32be = (value: number) => { const bytes = Buffer.alloc(4); bytes.writeUInt32BE(value >>> 0); return bytes; };
  for (const [hashId, digest] of [[102, (data: Buffer) => crc32(data)], [101, adler32]] as const) {
    expectType(t, await agent.call({ type: MSG.OPEN, writable: false, hashId, seed: 0n, path }), MSG.OPENED);
    const digests = expectType(t, await agent.call({ type: MSG.HASH, offset: 0, length: 10_000, chunkSize: 4096 }), MSG.DIGESTS);
    t.deepEqual(digests.digests, Buffer.concat([0, 4096, 8192].map((offset) => u32be(digest(content.subarray(offset, Math.min(offset + 4096, 10_000)))))));
  }
});

// The real agent bundle (dist/agent.js), driven frame by frame, under faults: garbage on its stdin
// stops it at once (no frame that follows the garbage is ever executed), and a device write that
// failed for real (ENOSPC on a full tmpfs) stops every later WRITE and FLUSH on that device.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { encode, ENCODING, MSG, type Message } from '../src/shared/protocol';
import { AgentProcess } from './helpers/agent';
import { TYPE, u32, u8 } from './helpers/golden';
import { tempDir } from './helpers/images';
import { fillUp, mountTmpfs, rootTest } from './helpers/root-devices';

const SHA1 = 0;
const SIZE = 100_000;

test('after garbage on stdin nothing that follows it runs: a WRITE lined up right after a bad header is never written', async (t) => {
  const dir = tempDir();
  const agent = new AgentProcess();
  t.teardown(() => { agent.kill(); dir.cleanup(); });
  const path = dir.path('device.img');
  const content = randomBytes(SIZE);
  writeFileSync(path, content);
  t.is((await agent.call({ type: MSG.OPEN, writable: true, hashId: SHA1, seed: 0n, path })).type, MSG.OPENED);

  // Replies pile up unread (more than a pipe holds), so the agent cannot finish exiting while more
  // input reaches it: exactly when a decoder that resynchronised would run what follows the garbage.
  agent.pauseOutput();
  for (let index = 0; index < 8; index++) agent.send({ type: MSG.READ, offset: 0, length: SIZE, level: 0 });
  await delay(300); // the READs arrive and are answered (as far as the pipe takes) before the garbage
  const badHeader = Buffer.from([...u32(0x7fffffff), ...u8(TYPE.WRITE), ...u32(99)]);
  const write = encode({ type: MSG.WRITE, id: 100, offset: 0, block: { encoding: ENCODING.RAW, rawLength: 4096, bytes: randomBytes(4096) } });
  agent.sendBytes(Buffer.concat([badHeader, write])); // one chunk: the bad header, then a valid WRITE
  await delay(300);
  agent.sendBytes(encode({ type: MSG.FLUSH, id: 101 })); // a later chunk
  await delay(300);
  agent.resumeOutput();

  const fatal = await agent.waitFor((message) => message.type === MSG.ERROR && message.id === 0, 'the fatal ERROR');
  t.regex((fatal as Extract<Message, { type: typeof MSG.ERROR }>).message, /bad frame length/);
  t.is(await agent.exited, 2);
  t.deepEqual(agent.received.filter((message) => message.id === 100 || message.id === 101), [], 'no reply to anything after the garbage');
  t.deepEqual(readFileSync(path), content, 'the WRITE after the garbage was not executed');
});

rootTest('a WRITE that fails (ENOSPC, full tmpfs) stops every later WRITE and FLUSH on that device, even into allocated space', async (t) => {
  const dir = tempDir();
  t.teardown(() => dir.cleanup());
  const mount = dir.path('tmpfs');
  mkdirSync(mount);
  const unmount = mountTmpfs(mount, '1M');
  t.teardown(unmount);
  // An image with a hole: writes over its allocated bytes need no space, writes into the hole do.
  const path = `${mount}/device.img`;
  const content = randomBytes(256 * 1024);
  writeFileSync(path, content);
  truncateSync(path, 512 * 1024); // a 256 KiB hole at the end
  fillUp(`${mount}/filler`);

  const agent = new AgentProcess();
  t.teardown(() => agent.kill());
  t.is((await agent.call({ type: MSG.OPEN, writable: true, hashId: SHA1, seed: 0n, path })).type, MSG.OPENED);
  const data = randomBytes(64 * 1024);
  const block = { encoding: ENCODING.RAW, rawLength: data.length, bytes: data } as const;
  // Control: a write over allocated bytes succeeds while nothing has failed yet.
  t.is((await agent.call({ type: MSG.WRITE, offset: 0, block })).type, MSG.WRITTEN);
  const written = Buffer.concat([data, content.subarray(data.length)]);

  const intoHole = await agent.call({ type: MSG.WRITE, offset: 300 * 1024, block });
  t.is(intoHole.type, MSG.ERROR);
  t.regex((intoHole as Extract<Message, { type: typeof MSG.ERROR }>).message, /no space left on device/i);
  // Pipelined after the failure, as a controller would have them in flight.
  const later = agent.send({ type: MSG.WRITE, offset: 128 * 1024, block });
  const flush = agent.send({ type: MSG.FLUSH });
  const laterReply = await agent.reply(later);
  const flushReply = await agent.reply(flush);
  t.is(laterReply.type, MSG.ERROR, 'a WRITE after a failed one is refused');
  t.is(flushReply.type, MSG.ERROR, 'a FLUSH after a failed WRITE never reports success');
  t.deepEqual(readFileSync(path).subarray(0, content.length), written, 'nothing written after the failure');
});

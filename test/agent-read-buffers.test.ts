// The agent recycles a READ's buffer once the DATA frame holding it has been written (serve.ts
// `outputCopies`, handlers.ts handleRead): a fresh 2 MiB buffer per READ costs page faults. Here the
// agent serves over a Unix socket, whose writes are asynchronous (node queues what the kernel does not
// take at once), and the controller's side does not read until every READ is sent: replies pile up in
// the agent's output queue while later READs run. A buffer reused before its write completed would
// show up as another range's bytes.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { serveAgent } from '../src/remote/serve';
import { FrameDecoder } from '../src/shared/frame';
import { encode, MSG, type Message } from '../src/shared/protocol';
import { tempDir } from './helpers/images';

const SIZE = 8 * 1024 * 1024;
const LENGTH = 512 * 1024;

/** A connected pair of Unix sockets: [agent side, controller side]. */
async function socketPair(path: string): Promise<[Socket, Socket]> {
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const client = connect(path);
  const agentSide = await accepted;
  server.close();
  return [agentSide, client];
}

test('64 READs in two waves over an asynchronous output each get their own bytes', async (t) => {
  const dir = tempDir();
  t.teardown(() => dir.cleanup());
  const content = randomBytes(SIZE);
  const path = dir.path('device.img');
  writeFileSync(path, content);
  const [agentSide, controllerSide] = await socketPair(join(dir.path('.'), 'agent.sock'));
  t.teardown(() => { agentSide.destroy(); controllerSide.destroy(); });
  const service = serveAgent(agentSide, agentSide, { outputCopies: true });

  controllerSide.pause();
  controllerSide.write(encode({ type: MSG.OPEN, id: 1, writable: false, hashId: 0, seed: 0n, path }));
  const offsets = Array.from({ length: 64 }, (_, index) => (index * 7919 * 4096) % (SIZE - LENGTH));
  // Two waves: the first one's replies wait in the agent's output queue (16 MiB, far more than the
  // socket buffers hold) while the second wave's reads run, in whatever buffers the agent recycles.
  for (const wave of [0, 1]) {
    offsets.forEach((offset, index) => {
      if (index % 2 === wave) controllerSide.write(encode({ type: MSG.READ, id: 2 + index, offset, length: LENGTH, level: 0 }));
    });
    await new Promise((resolve) => setTimeout(resolve, 1500));
  }

  const decoder = new FrameDecoder();
  const replies = new Map<number, Message>();
  await new Promise<void>((resolve, reject) => {
    controllerSide.on('data', (chunk: Buffer) => {
      try {
        for (const message of decoder.push(chunk)) if (message.id > 1) replies.set(message.id, message);
      } catch (error) {
        reject(error);
      }
      if (replies.size === offsets.length) resolve();
    });
    controllerSide.resume();
  });
  const wrong = offsets.filter((offset, index) => {
    const reply = replies.get(2 + index);
    return reply?.type !== MSG.DATA || !reply.block.bytes.equals(content.subarray(offset, offset + LENGTH));
  });
  t.deepEqual(wrong, [], 'READs answered with bytes that are not their range');
  service.stop();
});

// A delaying TCP proxy on loopback, standing in for `tc netem` (not available here): every chunk read
// from one side is written to the other `delayMs` later, in order, in both directions, so a 25 ms delay
// makes a ~50 ms round trip (the "SYNC through the proxy" bench cases: pipelining, window sizes).
// With `bitsPerSecond` each direction is also a link of that bandwidth: a chunk leaves once the link
// has sent the chunks before it (its length / bandwidth each), then takes `delayMs` to arrive; a
// sender faster than the link fills the queue, and reading stops while `maxQueuedBytes` wait.
//
//   const proxy = await startDelayProxy({ targetPort: sshd.port, delayMs: 25, bitsPerSecond: 100e6 });
//   ... connect to 127.0.0.1:proxy.port ...
//   await proxy.stop();
//
// Run alone: node --import tsx scripts/delay-proxy.ts TARGET_PORT [DELAY_MS] [LISTEN_PORT] [MBIT_PER_S]
import { connect, createServer, type Socket } from 'node:net';

export interface DelayProxy {
  readonly port: number;
  stop(): Promise<void>;
}

export interface DelayProxyOptions {
  targetHost?: string;
  targetPort: number;
  /** One-way delay added to every chunk. */
  delayMs: number;
  /** 0: a free port. */
  listenPort?: number;
  /** A direction stops reading while this many bytes are in its delay line (bounds memory). */
  maxQueuedBytes?: number;
  /** Bandwidth of each direction in bits per second (undefined: not limited). */
  bitsPerSecond?: number;
}

/**
 * Copies `from` to `to`, each chunk `delayMs` after it left the link (at once without a bandwidth).
 * One queue and one timer for its head per direction: chunks leave strictly in order (timers of
 * different lengths set in one tick may fire out of order, which would corrupt the stream).
 */
function delayedPipe(from: Socket, to: Socket, delayMs: number, maxQueuedBytes: number, bitsPerSecond?: number): void {
  const queue: Array<{ chunk: Buffer; deliverAt: number }> = [];
  let queued = 0;
  let ended = false;
  let timer: NodeJS.Timeout | undefined;
  /** When the link has sent everything queued so far (ms, performance.now()). */
  let linkFreeAt = 0;
  const pump = (): void => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && queue[0].deliverAt <= now) {
      const { chunk } = queue.shift() as { chunk: Buffer };
      queued -= chunk.length;
      if (!to.destroyed) to.write(chunk);
    }
    if (queued <= maxQueuedBytes && from.isPaused() && !from.destroyed) from.resume();
    if (queue.length > 0) timer = setTimeout(pump, Math.max(1, queue[0].deliverAt - now));
    else if (ended) to.end();
  };
  from.on('data', (chunk: Buffer) => {
    const now = performance.now();
    if (bitsPerSecond) linkFreeAt = Math.max(now, linkFreeAt) + (chunk.length * 8 * 1000) / bitsPerSecond;
    queue.push({ chunk, deliverAt: (bitsPerSecond ? linkFreeAt : now) + delayMs });
    queued += chunk.length;
    if (queued > maxQueuedBytes) from.pause();
    timer ??= setTimeout(pump, Math.max(1, queue[0].deliverAt - now));
  });
  from.on('end', () => {
    ended = true;
    timer ??= setTimeout(pump, delayMs);
  });
}

export function startDelayProxy(options: DelayProxyOptions): Promise<DelayProxy> {
  const host = options.targetHost ?? '127.0.0.1';
  const maxQueued = options.maxQueuedBytes ?? 64 * 1024 * 1024;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect({ host, port: options.targetPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('error', () => { client.destroy(); upstream.destroy(); });
      socket.on('close', () => sockets.delete(socket));
    }
    delayedPipe(client, upstream, options.delayMs, maxQueued, options.bitsPerSecond);
    delayedPipe(upstream, client, options.delayMs, maxQueued, options.bitsPerSecond);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listenPort ?? 0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      resolve({
        port,
        stop: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

if (require.main === module) {
  const [target, delay = '25', listen = '0', mbit] = process.argv.slice(2);
  if (!target) {
    console.error('usage: delay-proxy.ts TARGET_PORT [DELAY_MS] [LISTEN_PORT] [MBIT_PER_S]');
    process.exit(1);
  }
  const bitsPerSecond = mbit ? Number(mbit) * 1e6 : undefined;
  void startDelayProxy({ targetPort: Number(target), delayMs: Number(delay), listenPort: Number(listen), bitsPerSecond }).then((proxy) => {
    console.log(`127.0.0.1:${proxy.port} -> 127.0.0.1:${target}, ${delay} ms each way${mbit ? `, ${mbit} Mbit/s` : ''}`);
  });
}

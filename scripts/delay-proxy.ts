// A delaying TCP proxy on loopback, standing in for `tc netem` (not available here): every chunk read
// from one side is written to the other `delayMs` later, in order, in both directions, so a 25 ms delay
// makes a ~50 ms round trip. Bandwidth is not limited; only the latency changes, which is what the
// "SYNC through the proxy" bench cases measure (pipelining, window sizes).
//
//   const proxy = await startDelayProxy({ targetPort: sshd.port, delayMs: 25 });
//   ... connect to 127.0.0.1:proxy.port ...
//   await proxy.stop();
//
// Run alone: node --import tsx scripts/delay-proxy.ts TARGET_PORT [DELAY_MS] [LISTEN_PORT]
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
}

/** Copies `from` to `to`, each chunk `delayMs` after it arrived. setTimeout with one delay keeps the order. */
function delayedPipe(from: Socket, to: Socket, delayMs: number, maxQueuedBytes: number): void {
  let queued = 0;
  let ended = false;
  let inFlight = 0;
  from.on('data', (chunk: Buffer) => {
    queued += chunk.length;
    inFlight++;
    if (queued > maxQueuedBytes) from.pause();
    setTimeout(() => {
      queued -= chunk.length;
      inFlight--;
      if (!to.destroyed) to.write(chunk);
      if (queued <= maxQueuedBytes && from.isPaused() && !from.destroyed) from.resume();
      if (ended && inFlight === 0) to.end();
    }, delayMs);
  });
  from.on('end', () => {
    ended = true;
    if (inFlight === 0) setTimeout(() => to.end(), delayMs);
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
    delayedPipe(client, upstream, options.delayMs, maxQueued);
    delayedPipe(upstream, client, options.delayMs, maxQueued);
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
  const [target, delay = '25', listen = '0'] = process.argv.slice(2);
  if (!target) {
    console.error('usage: delay-proxy.ts TARGET_PORT [DELAY_MS] [LISTEN_PORT]');
    process.exit(1);
  }
  void startDelayProxy({ targetPort: Number(target), delayMs: Number(delay), listenPort: Number(listen) }).then((proxy) => {
    console.log(`127.0.0.1:${proxy.port} -> 127.0.0.1:${target}, ${delay} ms each way`);
  });
}

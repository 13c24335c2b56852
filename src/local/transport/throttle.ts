// --bwlimit: caps the bytes that go over the link to the remote agent, both directions together, at
// `rate` bytes per second. Both streams of the link pass through one pacer: a piece of n bytes may
// leave only when the pacer's clock, advanced n / rate seconds by every piece, has come. Pieces are
// cut small (a tenth of a second's worth) so that a 2 MiB frame does not leave in one burst.
import { pipeline, Transform, type TransformCallback } from 'node:stream';
import type { AgentLink } from './transport';

class Pacer {
  private next = 0;

  constructor(readonly rate: number) {}

  /** Milliseconds to wait before `bytes` may leave; books them. */
  book(bytes: number): number {
    const now = performance.now();
    const start = Math.max(now, this.next);
    this.next = start + (1000 * bytes) / this.rate;
    return start - now;
  }
}

function pacedStream(pacer: Pacer): Transform {
  const piece = Math.max(4096, Math.floor(pacer.rate / 10));
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      const send = async () => {
        for (let start = 0; start < chunk.length; start += piece) {
          const part = chunk.subarray(start, start + piece);
          const wait = pacer.book(part.length);
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          this.push(part);
        }
      };
      send().then(() => callback(), callback);
    },
  });
}

/** The same link, with everything it carries paced at `rate` bytes per second. */
export function throttleLink(link: AgentLink, rate: number): AgentLink {
  const pacer = new Pacer(rate);
  const input = pacedStream(pacer);
  const output = pacedStream(pacer);
  // pipeline: an error or close on either end reaches the other, as it would without the pacer.
  pipeline(link.input, input, () => undefined);
  pipeline(output, link.output, () => undefined);
  return {
    input,
    output,
    stderr: link.stderr,
    exited: link.exited,
    description: link.description,
    kill: () => link.kill(),
  };
}

// Real faults for the fault-matrix tests (test/faults-*.test.ts): small tmpfs mounts (ENOSPC, and
// under a loop device EIO at flush), loop devices, a TCP relay that can be throttled or go silent,
// a remote "node" that records its pid, and a byte-for-byte comparison of two devices.
// Mounts and loop devices are removed in t.teardown, so they go even when the test fails.
import type { ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasStackTrace, type RunResult } from './cli';
import { attachLoop } from './root-devices';

/** Why mount/losetup faults cannot run here, or undefined when they can (root, tools present). */
export function rootFaultsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (mount -t tmpfs, losetup)';
  for (const tool of ['mount', 'umount', 'losetup']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is missing`;
    }
  }
  return undefined;
}

export interface Tmpfs {
  readonly dir: string;
  path(name: string): string;
  /** mount -o remount,size=BYTES */
  resize(bytes: number): void;
}

/** A tmpfs of `bytes` on a fresh directory; unmounted and removed when the test ends. */
export function tmpfs(t: ExecutionContext, bytes: number): Tmpfs {
  const dir = mkdtempSync(join(tmpdir(), 'basyn-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir]);
  // Registered before any loop device over it: teardowns run last-registered first.
  t.teardown(() => {
    try {
      execFileSync('umount', [dir], { stdio: 'ignore' });
    } catch {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    }
    rmdirSync(dir);
  });
  return {
    dir,
    path: (name) => join(dir, name),
    resize: (size) => execFileSync('mount', ['-o', `remount,size=${size}`, dir]),
  };
}

/** A loop device over `file` (root-devices.ts says why its requests are one page); detached when the test ends. */
export function loopDevice(t: ExecutionContext, file: string): string {
  const { device, detach } = attachLoop(file);
  t.teardown(detach);
  return device;
}

/**
 * The first offset (below `length`, default the shorter) where the two files differ, or -1 when
 * they are byte for byte the same. Reads in 1 MiB pieces.
 */
export function firstDifference(a: string, b: string, length?: number): number {
  const fdA = openSync(a, 'r');
  const fdB = openSync(b, 'r');
  try {
    const bufferA = Buffer.alloc(1 << 20);
    const bufferB = Buffer.alloc(1 << 20);
    for (let offset = 0; length === undefined || offset < length; ) {
      const want = length === undefined ? bufferA.length : Math.min(bufferA.length, length - offset);
      const readA = readSync(fdA, bufferA, 0, want, offset);
      const readB = readSync(fdB, bufferB, 0, want, offset);
      if (readA !== readB && length !== undefined) return offset + Math.min(readA, readB);
      const common = Math.min(readA, readB);
      if (common === 0) return -1;
      if (!bufferA.subarray(0, common).equals(bufferB.subarray(0, common))) {
        for (let index = 0; index < common; index++) if (bufferA[index] !== bufferB[index]) return offset + index;
      }
      offset += common;
    }
    return -1;
  } finally {
    closeSync(fdA);
    closeSync(fdB);
  }
}

/** Fails the test unless `a` and `b` hold the same bytes (over `length`, if given). */
export function assertSameBytes(t: ExecutionContext, a: string, b: string, length?: number, what = 'both sides are identical'): void {
  const offset = firstDifference(a, b, length);
  t.is(offset, -1, `${what}: first difference at offset ${offset}`);
}

/** A remote "node" that records its pid (and the pid of each later run) before exec'ing the real one. */
export function pidRecordingNode(dir: string, name: string): { path: string; pids(): number[] } {
  const path = join(dir, name);
  const pidFile = `${path}.pids`;
  writeFileSync(path, `#!/bin/sh\necho $$ >> ${pidFile}\nexec ${process.execPath} "$@"\n`);
  chmodSync(path, 0o755);
  return {
    path,
    pids: () => (existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim().split('\n').map(Number) : []),
  };
}

/** A script standing in for node on the remote host (for --remote-node). */
export function fakeNode(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

export function isAlive(pid: number): boolean {
  try {
    // A zombie (exited, not yet reaped) counts as gone.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The parent pid of a process, from /proc. */
export function parentOf(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
}

/** The pids whose parent is `pid`. */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (parentOf(Number(entry)) === pid) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

/** Polls `condition` every 25 ms until it holds; throws after `ms`. */
export async function waitFor(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export interface Relay {
  readonly port: number;
  /** Bytes forwarded from clients to the server so far, over all connections. */
  readonly forwarded: number;
  /** Limits client → server traffic of every connection to about this many bytes per second (0: none). */
  throttle(bytesPerSecond: number): void;
  /** The connections open now stop forwarding, both ways, without FIN or RST (a pulled cable); later ones work. */
  freeze(): void;
  close(): void;
}

/** A TCP relay on 127.0.0.1 to host:port that can be slowed down or go silent. */
export async function startRelay(host: string, port: number): Promise<Relay> {
  let rate = 0;
  let forwarded = 0;
  const connections: Array<{ client: Socket; upstream: Socket; frozen: boolean }> = [];
  const server = createServer((client) => {
    const upstream = connect({ host, port });
    const connection = { client, upstream, frozen: false };
    connections.push(connection);
    client.on('data', (data: Buffer) => {
      if (connection.frozen) return;
      forwarded += data.length;
      upstream.write(data);
      if (rate > 0) {
        client.pause();
        setTimeout(() => { if (!connection.frozen) client.resume(); }, (data.length / rate) * 1000);
      }
    });
    upstream.on('data', (data: Buffer) => { if (!connection.frozen) client.write(data); });
    client.on('end', () => { if (!connection.frozen) upstream.end(); });
    upstream.on('end', () => { if (!connection.frozen) client.end(); });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    get forwarded() { return forwarded; },
    throttle: (bytesPerSecond) => { rate = bytesPerSecond; },
    freeze: () => { for (const connection of connections) connection.frozen = true; },
    close: () => {
      for (const { client, upstream } of connections) { client.destroy(); upstream.destroy(); }
      server.close();
    },
  };
}

/** What every fault must end in (the fault matrix): exit 2, one line on stderr naming the `cause`, no stack trace. */
export function failedOnce(t: ExecutionContext, result: RunResult, cause: RegExp): void {
  t.is(result.code, 2, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  t.is(lines.length, 1, `one line on stderr: ${JSON.stringify(result.stderr)}`);
  t.regex(lines[0] ?? '', cause);
  t.log(`stderr: ${lines[0]}`);
  t.false(hasStackTrace(result.stderr), 'no stack trace');
}

/** The rerun after a fault (or the run before it) ended well: exit 0, its output shown when not. */
export function ok(t: ExecutionContext, result: RunResult): void {
  t.is(result.code, 0, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

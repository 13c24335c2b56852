// The signal case of the benchmark: how long basyn takes from SIGTERM to its exit, mid-sync (local pipe and
// ssh) and in the SSH handshake with a server that never answers. Each run must end with exit 2 and
// "Interrupted by SIGTERM"; anything else is a failure of the case, not a time.
import { spawn } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { writeSparse } from '../test/helpers/images';

export interface SignalRow {
  readonly phase: string;
  readonly transport: 'pipe' | 'ssh';
  /** Milliseconds from the signal to the exit of the basyn process (its agents gone by then). */
  readonly ms?: number;
  readonly error?: string;
}

export interface SignalBenchSetup {
  readonly controller: string;
  /** A temp dir for two sparse images (holes cost no disk). */
  readonly path: (name: string) => string;
  /** basyn's ssh options for a private sshd (-h, -p, -u, -i, --known-hosts), when there is one. */
  readonly sshArgs?: (port: number) => string[];
  readonly sshPort?: number;
}

/** Sparse images large enough that the sync is still running when the signal comes. */
const SIZE = 4 * 1024 * 1024 * 1024;
const GIVE_UP_MS = 60_000;

/** Runs basyn, sends SIGTERM once `ready(output)` holds (plus `delayMs`), and times the exit. */
function interrupted(controller: string, args: string[], ready: (output: string) => boolean, delayMs = 0): Promise<{ ms?: number; error?: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [controller, ...args, '--verbose'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SSH_AUTH_SOCK: '' } });
    let output = '';
    let stderr = '';
    let sentAt = 0;
    const giveUp = setTimeout(() => child.kill('SIGKILL'), GIVE_UP_MS);
    const onOutput = (text: string): void => {
      output += text;
      if (sentAt || !ready(output)) return;
      sentAt = -1;
      setTimeout(() => { sentAt = performance.now(); child.kill('SIGTERM'); }, delayMs);
    };
    child.stdout.setEncoding('utf8').on('data', onOutput);
    child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; onOutput(text); });
    child.once('close', (code) => {
      clearTimeout(giveUp);
      const ms = performance.now() - sentAt;
      if (sentAt <= 0) resolve({ error: `ended (exit ${code}) before the signal: ${stderr.trim().split('\n').pop() ?? ''}` });
      else if (code !== 2 || stderr.trim() !== 'Interrupted by SIGTERM') resolve({ error: `exit ${code}: ${stderr.trim().split('\n').pop() ?? ''}` });
      else resolve({ ms });
    });
  });
}

export async function runSignalBench(setup: SignalBenchSetup, log: (text: string) => void): Promise<SignalRow[]> {
  const [source, destination] = [setup.path('signal-a.img'), setup.path('signal-b.img')];
  writeSparse(source, SIZE, [{ offset: 0, data: Buffer.alloc(4 << 20, 1) }]);
  writeSparse(destination, SIZE);
  const sync = ['-l', source, '-r', destination, '-a', 'PUSH', '-m', 'SYNC'];
  const syncing = (output: string) => output.includes('Starting to PUSH');
  const rows: SignalRow[] = [];
  const measure = async (phase: string, transport: SignalRow['transport'], run: () => Promise<{ ms?: number; error?: string }>) => {
    log(`bench: SIGTERM ${phase} (${transport})...`);
    const row = { phase, transport, ...(await run()) };
    log(`bench:   ${row.error ? `FAILED ${row.error}` : `${row.ms?.toFixed(0)} ms to exit`}`);
    rows.push(row);
  };
  await measure('mid-sync', 'pipe', () => interrupted(setup.controller, sync, syncing));
  const { sshArgs, sshPort } = setup;
  if (sshArgs && sshPort !== undefined) {
    await measure('mid-sync', 'ssh', () => interrupted(setup.controller, [...sync, ...sshArgs(sshPort)], syncing));
    // A server that accepts and never speaks: the run is in the SSH handshake when the signal comes.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => { sockets.push(socket); socket.on('error', () => undefined); });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      await measure('SSH handshake, silent server', 'ssh', () => interrupted(setup.controller, [...sync, ...sshArgs(port)], (output) => output.includes('Using SSH connection'), 500));
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  }
  return rows;
}

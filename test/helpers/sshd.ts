// A private OpenSSH sshd for the SSH tests: a random free port on 127.0.0.1, a fresh host key, a fresh
// user key, its own authorized_keys, config and known_hosts, all in a temp dir. It runs as the current
// user (root in CI), so the remote side of a test is this machine, reached through a real sshd.
//
//   const sshd = await startSshd();            // or startSshd({ noise: 'hello from .bashrc' })
//   ... connect to sshd.host:sshd.port as sshd.user with sshd.keyPath, verifying with sshd.knownHostsPath
//   await sshd.stop();
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export const SSHD_PATH = '/usr/sbin/sshd';

export interface Sshd {
  readonly host: string;
  readonly port: number;
  /** The listening sshd's pid: the remote agents of the tests are its descendants. */
  readonly pid: number;
  readonly user: string;
  /** The user's private key (ed25519, no passphrase), listed in authorized_keys. */
  readonly keyPath: string;
  /** A known_hosts file holding this server's host key, in `[127.0.0.1]:PORT` form. */
  readonly knownHostsPath: string;
  /** That known_hosts line. */
  readonly hostKeyLine: string;
  /** The host public key as `type base64` (the first of hostKeyTypes). */
  readonly hostPublicKey: string;
  /** Every host public key as `type base64`, by ssh-keygen type (ed25519, ecdsa, rsa). */
  readonly hostPublicKeys: Readonly<Record<string, string>>;
  /** The temp dir holding everything; removed by stop(). */
  readonly dir: string;
  /** What sshd printed (with -e), for failing tests. */
  log(): string;
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** Printed on stderr by a ForceCommand wrapper before every command, like a chatty login shell. */
  noise?: string;
  /**
   * Host key types (ssh-keygen -t), one HostKey line each (default: ed25519). The first is the one in
   * knownHostsPath; the server presents whichever of them the client's algorithm list prefers.
   */
  hostKeyTypes?: string[];
  /** More sshd_config lines (e.g. `RekeyLimit 4K`); they come first, so they win (sshd keeps a keyword's first value). */
  config?: string[];
}

/** Why the sshd tests cannot run here, or undefined when they can. */
export function sshdUnavailable(): string | undefined {
  if (!existsSync(SSHD_PATH)) return `${SSHD_PATH} is missing (install openssh-server)`;
  try {
    execFileSync('ssh-keygen', ['-?'], { stdio: 'ignore' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'ssh-keygen is missing (install openssh-client)';
  }
  // sshd wants its privilege-separation dir; only root can make it, and only root can log in as anyone.
  if (!existsSync('/run/sshd')) {
    if (process.getuid?.() !== 0) return '/run/sshd is missing and the tests do not run as root';
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  }
  if (process.getuid?.() !== 0) return 'sshd tests need root (sshd runs as the current user with privilege separation)';
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something on host:port answers with an SSH banner. */
function waitForBanner(host: string, port: number, child: ChildProcess, deadline: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      if (child.exitCode !== null || child.signalCode !== null) {
        reject(new Error(`sshd exited with ${child.exitCode ?? child.signalCode}`));
        return;
      }
      const socket = connect({ host, port });
      let banner = '';
      const retry = (): void => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`sshd did not answer on ${host}:${port}`));
        else setTimeout(attempt, 25);
      };
      socket.on('data', (data) => {
        banner += data.toString('latin1');
        if (banner.startsWith('SSH-')) {
          socket.destroy();
          resolve();
        }
      });
      socket.on('error', retry);
      socket.on('end', retry);
    };
    attempt();
  });
}

/** OpenSSH's version as major + minor / 100 (9.2 → 9.02), read from `sshd -V`. */
function opensshVersion(): number {
  const result = spawnSync(SSHD_PATH, ['-V'], { encoding: 'utf8' });
  const match = /OpenSSH_(\d+)\.(\d+)/.exec(`${result.stdout}${result.stderr}`);
  return match ? Number(match[1]) + Number(match[2]) / 100 : 0;
}

export function keygen(path: string, type = 'ed25519', passphrase = ''): string {
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', passphrase, '-C', 'basyn-test', '-f', path], { stdio: 'ignore' });
  return readFileSync(`${path}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
}

async function startOnce(options: SshdOptions): Promise<Sshd> {
  const dir = mkdtempSync(join(tmpdir(), 'basyn-sshd-'));
  const host = '127.0.0.1';
  const user = userInfo().username;
  const keyPath = join(dir, 'id_ed25519');
  const hostKeyTypes = options.hostKeyTypes ?? ['ed25519'];
  const hostPublicKeys: Record<string, string> = {};
  for (const type of hostKeyTypes) hostPublicKeys[type] = keygen(join(dir, `host_${type}`), type);
  const hostPublicKey = hostPublicKeys[hostKeyTypes[0]];
  writeFileSync(join(dir, 'authorized_keys'), `${keygen(keyPath)}\n`, { mode: 0o600 });
  const port = await freePort();
  const config = [
    ...(options.config ?? []),
    `Port ${port}`,
    `ListenAddress ${host}`,
    ...hostKeyTypes.map((type) => `HostKey ${join(dir, `host_${type}`)}`),
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'StrictModes no',
    'UsePAM no',
    'PermitRootLogin yes',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'AllowTcpForwarding yes',
    'PrintMotd no',
    // Tests connect many times at once; the default (10:30:100) would drop some before the handshake.
    'MaxStartups 200',
    'MaxSessions 200',
    'LogLevel VERBOSE',
  ];
  // OpenSSH 9.8 penalizes a source address after failed logins; the auth-failure tests would lock us out.
  if (opensshVersion() >= 9.08) config.push('PerSourcePenalties no');
  if (options.noise !== undefined) {
    const wrapper = join(dir, 'noisy-shell.sh');
    writeFileSync(wrapper, `#!/bin/sh\nprintf '%s\\n' '${options.noise.replace(/'/g, '')}' >&2\nexec /bin/sh -c "$SSH_ORIGINAL_COMMAND"\n`);
    chmodSync(wrapper, 0o755);
    config.push(`ForceCommand ${wrapper}`);
  }
  writeFileSync(join(dir, 'sshd_config'), `${config.join('\n')}\n`);
  const hostKeyLine = `[${host}]:${port} ${hostPublicKey}`;
  const knownHostsPath = join(dir, 'known_hosts');
  writeFileSync(knownHostsPath, `${hostKeyLine}\n`);

  const child = spawn(SSHD_PATH, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (data: Buffer) => { log += data.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForBanner(host, port, child, Date.now() + 10_000);
  } catch (error) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(error as Error).message}: ${log.trim()}`, { cause: error });
  }
  let stopped = false;
  return {
    host, port, pid: child.pid as number, user, keyPath, knownHostsPath, hostKeyLine, hostPublicKey, hostPublicKeys, dir,
    log: () => log,
    async stop() {
      if (stopped) return;
      stopped = true;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts a private sshd; retries on the rare port race (another process took the free port first). */
export async function startSshd(options: SshdOptions = {}): Promise<Sshd> {
  const reason = sshdUnavailable();
  if (reason) throw new Error(`cannot start sshd: ${reason}`);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(options);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

/** The built agent (dist/agent.js), passed to the transports explicitly since tests run from source. */
export function builtAgent(): Buffer {
  const path = join(__dirname, '..', '..', 'dist', 'agent.js');
  if (!existsSync(path)) throw new Error(`${path} is missing: run npm run build first (npm test does)`);
  return readFileSync(path);
}

/** The SHA256 fingerprint of a public key, as ssh-keygen prints it (independent of our code). */
export function keygenFingerprint(publicKeyPath: string): string {
  const text = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', publicKeyPath], { encoding: 'utf8' });
  const match = /SHA256:[A-Za-z0-9+/]+/.exec(text);
  if (!match) throw new Error(`no fingerprint in: ${text}`);
  return match[0];
}

// Starts, power-cycles and stops the power-loss FUSE file system (powerloss.py; README.md beside it)
// for tests. Needs root, /dev/fuse and Debian's python3-fusepy for /usr/bin/python3.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../images';

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(__dirname, 'powerloss.py');
const CONTROL = '.powerloss';

let unavailable: string | undefined | null = null;

/** Why the file system cannot be mounted here (a `t.skip` reason), or undefined when it can. */
export function powerLossUnavailable(): string | undefined {
  if (unavailable !== null) return unavailable;
  if (process.getuid?.() !== 0) unavailable = 'mounting the power-loss FUSE file system needs root';
  else if (!existsSync('/dev/fuse')) unavailable = 'no /dev/fuse';
  else if (spawnSync(PYTHON, ['-c', 'import fusepy'], { stdio: 'ignore' }).status !== 0) {
    unavailable = `${PYTHON} cannot import fusepy (apt-get install python3-fusepy fuse3)`;
  } else unavailable = undefined;
  return unavailable;
}

export interface PowerLossOptions {
  /** Probability that a write also writes back one random cached page (background writeback). */
  readonly writeback?: number;
  readonly seed?: number;
  /** Every fsync, fdatasync and directory fsync takes this many ms more (a disk's flush): steps between syncs get wider. */
  readonly fsyncDelayMs?: number;
}

/** Counters read from the control file. */
export interface PowerLossCounters {
  readonly fsync: number;
  readonly fdatasync: number;
  readonly fsyncdir: number;
  readonly writes: number;
  readonly writeback_pages: number;
  readonly read_faults: number;
  readonly dirty_pages: number;
}

/** Daemons of this process, killed and lazily unmounted if the test process exits without stop(). */
const live = new Set<PowerLossFs>();
process.on('exit', () => {
  for (const fs of live) fs.abandon();
});

export class PowerLossFs {
  private daemon?: ChildProcess;
  private exited?: Promise<void>;

  private constructor(
    private readonly dir: ReturnType<typeof tempDir>,
    private readonly options: PowerLossOptions,
  ) {}

  /** Mounts a new, empty file system (its disk is a fresh temp directory). */
  static async mount(options: PowerLossOptions = {}): Promise<PowerLossFs> {
    const reason = powerLossUnavailable();
    if (reason) throw new Error(reason);
    const fs = new PowerLossFs(tempDir('basyn-powerloss-'), options);
    mkdirSync(fs.dir.path('disk'));
    mkdirSync(fs.dir.path('mnt'));
    live.add(fs);
    await fs.powerOn();
    return fs;
  }

  /** The mount point. */
  get root(): string {
    return this.dir.path('mnt');
  }

  /** A path on the mounted file system. */
  path(name: string): string {
    return join(this.root, name);
  }

  /** Makes everything durable, like sync(2). */
  sync(): void {
    this.command('sync');
  }

  /** Reads of `name` overlapping [offset, offset + length) fail with EIO until clearFaults(). */
  failRead(name: string, offset: number, length = 1): void {
    this.command(`fail-read /${name} ${offset} ${length}`);
  }

  clearFaults(): void {
    this.command('clear-faults');
  }

  counters(): PowerLossCounters {
    return JSON.parse(readFileSync(this.path(CONTROL), 'utf8')) as PowerLossCounters;
  }

  /**
   * Power cut: the daemon (the page cache) is SIGKILLed, whatever was not made durable is gone.
   * Processes using the file system must have ended (or they keep the dead mount busy until they do).
   */
  async cut(): Promise<void> {
    this.daemon?.kill('SIGKILL');
    await this.exited;
    this.daemon = undefined;
    unmount(this.root);
  }

  /** Mounts the file system again over the same disk: it shows exactly what was durable. */
  async powerOn(): Promise<void> {
    const args = [SCRIPT, this.dir.path('disk'), this.root];
    if (this.options.writeback !== undefined) args.push('--writeback', String(this.options.writeback));
    if (this.options.seed !== undefined) args.push('--seed', String(this.options.seed));
    if (this.options.fsyncDelayMs !== undefined) args.push('--fsync-delay', String(this.options.fsyncDelayMs));
    const daemon = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.daemon = daemon;
    this.exited = new Promise((resolve) => daemon.once('exit', () => resolve()));
    let stderr = '';
    daemon.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`power-loss file system did not mount in 120 s: ${stderr}`)), 120_000);
      daemon.stdout.setEncoding('utf8').on('data', (text: string) => {
        if (text.includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      daemon.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`power-loss file system exited (${code}) before mounting: ${stderr}`));
      });
    });
  }

  async powerCycle(): Promise<void> {
    await this.cut();
    await this.powerOn();
  }

  /** Clean unmount (everything becomes durable, as at a clean shutdown), then the disk is removed. */
  async stop(): Promise<void> {
    if (this.daemon) {
      unmount(this.root);
      await this.exited;
      this.daemon = undefined;
    }
    live.delete(this);
    this.dir.cleanup();
  }

  /** At exit of the test process: no waiting is possible. */
  abandon(): void {
    this.daemon?.kill('SIGKILL');
    spawnSync('umount', ['-l', this.root], { stdio: 'ignore' });
    this.dir.cleanup();
  }

  private command(text: string): void {
    writeFileSync(this.path(CONTROL), `${text}\n`);
  }
}

/** umount, lazily if something still holds the mount (an orphaned process about to die). */
function unmount(mountpoint: string): void {
  if (spawnSync('umount', [mountpoint], { stdio: 'ignore' }).status === 0) return;
  const lazy = spawnSync('umount', ['-l', mountpoint], { encoding: 'utf8' });
  if (lazy.status !== 0 && !/not mounted/.test(lazy.stderr)) throw new Error(`umount ${mountpoint}: ${lazy.stderr.trim()}`);
}

// What the user sees while and after a run: --progress (a cli-progress bar on a TTY, plain lines
// otherwise), --verbose lines on stdout, --debug lines on stderr, and Python basyn's --stat line.
import { SingleBar } from 'cli-progress';

/** Where a run's text goes: the process's stdout and stderr, or a test's buffers. */
export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
}

export const PROCESS_IO: Io = {
  stdout: (text) => { process.stdout.write(text); },
  stderr: (text) => { process.stderr.write(text); },
};

export interface Reporter {
  /** Results for stdout, always shown (the --stat line, bitmap-only changes); `text` ends with \n. */
  print(text: string): void;
  /** The agents' stderr, passed on as text; `text` ends with \n. */
  remoteText(text: string): void;
  verbose(text: string): void;
  debug(text: string): void;
  /** Starts a progress display for `total` bytes of the phase `label` (SYNC, COPY, RECHECK...). */
  startProgress(label: string, total: number): ProgressDisplay;
}

export interface ProgressDisplay {
  advance(bytes: number): void;
  stop(): void;
}

const NO_PROGRESS: ProgressDisplay = { advance: () => undefined, stop: () => undefined };

/** Python basyn's `%x %X` timestamp: 11/23/26 13:45:00. */
function timestamp(now = new Date()): string {
  const two = (value: number) => String(value).padStart(2, '0');
  return `${two(now.getMonth() + 1)}/${two(now.getDate())}/${two(now.getFullYear() % 100)} ${two(now.getHours())}:${two(now.getMinutes())}:${two(now.getSeconds())}`;
}

export function createReporter(flags: { verbose: boolean; debug: boolean; progress: boolean }, io: Io = PROCESS_IO): Reporter {
  return {
    print: (text) => io.stdout(text),
    remoteText: (text) => io.stderr(text),
    verbose: (text) => { if (flags.verbose) io.stdout(`${timestamp()}: ${text}\n`); },
    debug: (text) => { if (flags.debug) io.stderr(`debug: ${text}\n`); },
    startProgress: (label, total) => {
      if (!flags.progress) return NO_PROGRESS;
      return io === PROCESS_IO && process.stderr.isTTY ? barProgress(label, total) : lineProgress(label, total, io);
    },
  };
}

function barProgress(label: string, total: number): ProgressDisplay {
  const bar = new SingleBar({
    format: `${label} [{bar}] {percentage}% | {rate} MB/s | ETA {eta_formatted}`,
    stream: process.stderr,
    hideCursor: true,
    etaBuffer: 50,
  });
  const started = Date.now();
  let done = 0;
  bar.start(total, 0, { rate: '0.0' });
  return {
    advance: (bytes) => {
      done += bytes;
      const seconds = Math.max(0.001, (Date.now() - started) / 1000);
      bar.update(done, { rate: (done / seconds / 1e6).toFixed(1) });
    },
    stop: () => bar.stop(),
  };
}

/** Without a TTY (cron, logs): one plain line every few seconds and one at the end. */
function lineProgress(label: string, total: number, io: Io, everyMs = 2000): ProgressDisplay {
  const started = Date.now();
  let done = 0;
  let last = 0;
  let stopped = false;
  const line = () => {
    const seconds = Math.max(0.001, (Date.now() - started) / 1000);
    const percent = total > 0 ? (100 * done) / total : 100;
    io.stderr(`${label} progress: ${percent.toFixed(2)}% (${done} of ${total} bytes, ${(done / seconds / 1e6).toFixed(1)} MB/s)\n`);
  };
  return {
    advance: (bytes) => {
      done += bytes;
      if (Date.now() - last >= everyMs) { last = Date.now(); line(); }
    },
    stop: () => {
      if (!stopped) line();
      stopped = true;
    },
  };
}

export interface Traffic {
  readonly received: number;
  readonly sent: number;
}

/** Python basyn's --stat line, byte for byte (without a remote side, its short form). */
export function statLine(deviceSize: number, seconds: number, traffic: Traffic | undefined): string {
  if (!traffic) return `STAT. Device size:${deviceSize}B. Time: ${seconds.toFixed(2)}s.`;
  const both = traffic.received + traffic.sent;
  const ratio = deviceSize !== 0 ? (100 * both) / deviceSize : 100;
  const time = Math.max(seconds, 0.001);
  return (
    `STAT. Device size:${deviceSize}B. Traffic: Rx:${traffic.received}B, Tx:${traffic.sent}B, Both:${both}B ` +
    `Ratio: ${ratio.toFixed(4)}%. Time: ${seconds.toFixed(2)}s. ` +
    `Bandwidth: Real:${(both / (1024 * time)).toFixed(2)}kB/s, Effective:${(deviceSize / (1024 * time)).toFixed(2)}kB/s`
  );
}

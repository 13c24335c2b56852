// What the user sees while and after a run: --progress (a cli-progress bar on a TTY, plain lines
// otherwise), --verbose lines, --debug lines on stderr, Python basyn's --stat line, and --json events.
// stdout belongs to --json when it is given: every human line then goes to stderr.
import { SingleBar } from 'cli-progress';
import { JsonEvents, type RangeKind } from './json-output';
import type { Extent } from '../shared/geometry';

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
  /** Results for stdout (stderr with --json), always shown: the --stat line, bitmap-only changes, a
   * repair, a verification result; `text` ends with \n. */
  print(text: string): void;
  /** The agents' stderr, passed on as text; `text` ends with \n. */
  remoteText(text: string): void;
  /** Something the user should know that does not fail the run (also a --json "warning" event). */
  warn(text: string): void;
  verbose(text: string): void;
  debug(text: string): void;
  /** A range found changed, different or repaired (--json "range" events; nothing for humans). */
  range(kind: RangeKind, range: Extent): void;
  /** Starts a progress display for `total` bytes of the phase `label` (SYNC, COPY, RECHECK...). */
  startProgress(label: string, total: number): ProgressDisplay;
  /** --json events, when --json was given. */
  readonly json?: JsonEvents;
}

export interface ProgressDisplay {
  advance(bytes: number): void;
  /** Bytes found different so far grew by `bytes`. */
  changed(bytes: number): void;
  stop(): void;
}

const NO_PROGRESS: ProgressDisplay = { advance: () => undefined, changed: () => undefined, stop: () => undefined };

/** Python basyn's `%x %X` timestamp: 11/23/26 13:45:00. */
function timestamp(now = new Date()): string {
  const two = (value: number) => String(value).padStart(2, '0');
  return `${two(now.getMonth() + 1)}/${two(now.getDate())}/${two(now.getFullYear() % 100)} ${two(now.getHours())}:${two(now.getMinutes())}:${two(now.getSeconds())}`;
}

/**
 * `flags.dots` (--progress=dot): bytes per dot, normally the buffer size; read when a phase starts, so
 * the CLI may set it once the options are validated.
 */
export function createReporter(flags: { verbose: boolean; debug: boolean; progress: boolean; dots?: number; json?: boolean; diff?: string }, io: Io = PROCESS_IO): Reporter {
  const json = flags.json ? new JsonEvents(io) : undefined;
  // stdout belongs to `--json` or `--diff -` when given: human output goes to stderr then.
  const human = (text: string) => (json || flags.diff === '-' ? io.stderr(text) : io.stdout(text));
  return {
    json,
    print: (text) => human(text),
    remoteText: (text) => io.stderr(text),
    warn: (text) => {
      io.stderr(`warning: ${text}\n`);
      json?.emit({ type: 'warning', message: text });
    },
    verbose: (text) => { if (flags.verbose) human(`${timestamp()}: ${text}\n`); },
    debug: (text) => { if (flags.debug) io.stderr(`debug: ${text}\n`); },
    range: (kind, range) => json?.emit({ type: 'range', kind, offset: range.offset, length: range.length }),
    startProgress: (label, total) => {
      const displays: ProgressDisplay[] = [];
      if (flags.progress) displays.push(io === PROCESS_IO && process.stderr.isTTY ? barProgress(label, total) : lineProgress(label, total, io));
      else if (flags.dots) displays.push(dotProgress(flags.dots, io));
      if (json) displays.push(jsonProgress(json, label, total));
      if (displays.length === 0) return NO_PROGRESS;
      return {
        advance: (bytes) => { for (const display of displays) display.advance(bytes); },
        changed: (bytes) => { for (const display of displays) display.changed(bytes); },
        stop: () => { for (const display of displays) display.stop(); },
      };
    },
  };
}

/** An ETA for people: 42s, 12m05s, 3h02m; '?' before anything is done (no rate yet). */
export function etaText(eta: number, done: number): string {
  if (done === 0 || !Number.isFinite(eta)) return '?';
  const seconds = Math.ceil(eta);
  if (seconds < 100) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 100) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/** Rate (bytes/s) and ETA (s) of a phase `done` of `total` bytes into it. */
export function pace(done: number, total: number, started: number, now = Date.now()): { rate: number; eta: number } {
  const seconds = Math.max(0.001, (now - started) / 1000);
  const rate = done / seconds;
  return { rate, eta: rate > 0 ? Math.max(0, (total - done) / rate) : 0 };
}

/** 1536 -> "1.5 KiB" (progress lines and messages; exact byte counts are in --json and --stat). */
export function humanBytes(bytes: number, digits = 1): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(digits)} ${units[unit]}`;
}

function barProgress(label: string, total: number): ProgressDisplay {
  const bar = new SingleBar({
    // Our ETA, not cli-progress's eta_formatted (which showed "NF" while the rate was still 0).
    format: `${label} [{bar}] {percentage}% | {rate} MB/s | ETA {remaining} | changed {changed}`,
    stream: process.stderr,
    hideCursor: true,
    etaBuffer: 50,
  });
  const started = Date.now();
  let done = 0;
  let changed = 0;
  bar.start(total, 0, { rate: '0.0', remaining: etaText(0, 0), changed: humanBytes(0) });
  const values = () => {
    const { rate, eta } = pace(done, total, started);
    return { rate: (rate / 1e6).toFixed(1), remaining: etaText(eta, done), changed: humanBytes(changed) };
  };
  return {
    advance: (bytes) => {
      done += bytes;
      bar.update(done, values());
    },
    changed: (bytes) => {
      changed += bytes;
      bar.update(done, values());
    },
    stop: () => bar.stop(),
  };
}

/** --progress=dot: a dot on stderr for every `every` bytes done (a buffer), a newline at the end, as iblocksync does. */
function dotProgress(every: number, io: Io): ProgressDisplay {
  let done = 0;
  let dots = 0;
  let stopped = false;
  return {
    advance: (bytes) => {
      done += bytes;
      const due = Math.floor(done / every) - dots;
      if (due > 0 && !stopped) io.stderr('.'.repeat(due));
      dots += Math.max(0, due);
    },
    changed: () => undefined,
    stop: () => {
      // The short last buffer gets its dot too.
      if (!stopped && done > dots * every) io.stderr('.');
      if (!stopped && done > 0) io.stderr('\n');
      stopped = true;
    },
  };
}

/** Without a TTY (cron, logs): one plain line every few seconds and one at the end. */
function lineProgress(label: string, total: number, io: Io, everyMs = 2000): ProgressDisplay {
  const started = Date.now();
  let done = 0;
  let changed = 0;
  let last = 0;
  let stopped = false;
  const line = () => {
    const { rate, eta } = pace(done, total, started);
    const percent = total > 0 ? (100 * done) / total : 100;
    io.stderr(`${label} progress: ${percent.toFixed(2)}% (${done} of ${total} bytes, ${(rate / 1e6).toFixed(1)} MB/s, ETA ${etaText(eta, done)}, ${changed} bytes changed)\n`);
  };
  return {
    advance: (bytes) => {
      done += bytes;
      if (Date.now() - last >= everyMs) { last = Date.now(); line(); }
    },
    changed: (bytes) => { changed += bytes; },
    stop: () => {
      if (!stopped) line();
      stopped = true;
    },
  };
}

/** --json "progress" events: at most one a second, and one when the phase ends. */
function jsonProgress(json: JsonEvents, phase: string, total: number, everyMs = 1000): ProgressDisplay {
  const started = Date.now();
  let done = 0;
  let changed = 0;
  let last = started;
  let stopped = false;
  const event = () => {
    const { rate, eta } = pace(done, total, started);
    json.emit({ type: 'progress', phase, bytesDone: done, bytesTotal: total, rate: Math.round(rate), etaSeconds: Math.round(eta * 10) / 10, changedBytes: changed });
  };
  return {
    advance: (bytes) => {
      done += bytes;
      if (Date.now() - last >= everyMs) { last = Date.now(); event(); }
    },
    changed: (bytes) => { changed += bytes; },
    stop: () => {
      if (!stopped) event();
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
  const { both, ratio, real, effective } = statFigures(deviceSize, seconds, traffic);
  return (
    `STAT. Device size:${deviceSize}B. Traffic: Rx:${traffic.received}B, Tx:${traffic.sent}B, Both:${both}B ` +
    `Ratio: ${ratio.toFixed(4)}%. Time: ${seconds.toFixed(2)}s. ` +
    `Bandwidth: Real:${real.toFixed(2)}kB/s, Effective:${effective.toFixed(2)}kB/s`
  );
}

/** The derived figures of the --stat line (also in the --json "end" event). */
export function statFigures(deviceSize: number, seconds: number, traffic: Traffic): { both: number; ratio: number; real: number; effective: number } {
  const both = traffic.received + traffic.sent;
  const ratio = deviceSize !== 0 ? (100 * both) / deviceSize : 100;
  const time = Math.max(seconds, 0.001);
  return { both, ratio, real: both / (1024 * time), effective: deviceSize / (1024 * time) };
}

// Where and how to connect, as `ssh` would work it out: the command line (-p, -u, -i, -o, --known-hosts,
// --accept-new) first, then the user's OpenSSH client config (~/.ssh/config, or -F FILE), then
// OpenSSH's defaults. Like OpenSSH, the first value obtained for a keyword wins; identity files add up.
//
// Keywords read: Host/Match blocks, Include, HostName, Port, User, IdentityFile, IdentitiesOnly,
// ProxyJump, ConnectTimeout, ServerAliveInterval, ServerAliveCountMax, UserKnownHostsFile,
// GlobalKnownHostsFile, StrictHostKeyChecking, HostKeyAlias, BatchMode. Other keywords in a config
// file are ignored; `Match exec` is never run.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir, hostname, userInfo } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import SSHConfig from 'ssh-config';
import { UsageError, basynError } from '../../shared/errors';
import type { ConnectionOptions } from '../options';
import type { StrictHostKeyChecking } from './known-hosts';
import { globMatches } from './glob';

export interface JumpHost {
  readonly host: string;
  readonly port?: number;
  readonly user?: string;
}

/** Everything needed to open one SSH connection. */
export interface SshTarget {
  /** The host as given (-h, or a ProxyJump hop): what messages show, and what Host blocks matched. */
  readonly alias: string;
  /** The address to connect to (HostName). */
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Keys to offer after the ssh-agent: -i, then IdentityFile, else OpenSSH's default key files. */
  readonly identityFiles: string[];
  /** Whether identityFiles were given explicitly (missing default keys are not worth a mention). */
  readonly explicitIdentities: boolean;
  /** IdentitiesOnly: offer only identityFiles, not the ssh-agent's keys. */
  readonly identitiesOnly: boolean;
  /** ProxyJump hops, in order; empty for a direct connection. */
  readonly jumps: JumpHost[];
  /** ConnectTimeout in ms; undefined: the system's TCP timeout. */
  readonly connectTimeoutMs?: number;
  /** ServerAliveInterval in ms (0: off) and ServerAliveCountMax. */
  readonly keepaliveIntervalMs: number;
  readonly keepaliveCountMax: number;
  /** known_hosts files to check; accepted keys go to the first. */
  readonly knownHostsFiles: string[];
  readonly strictHostKeyChecking: StrictHostKeyChecking;
  readonly hostKeyAlias?: string;
  /** BatchMode: never prompt, even on a TTY. */
  readonly batchMode: boolean;
}

/** What the resolution depends on besides the options; tests point `home` at a temp dir. */
export interface SshEnvironment {
  readonly home: string;
  readonly localUser: string;
}

export function defaultEnvironment(): SshEnvironment {
  return { home: homedir(), localUser: userInfo().username };
}

/** Keepalives stay on unless the config turns them off: a dead link must end a run, not hang it. */
export const DEFAULT_KEEPALIVE_INTERVAL_S = 15;
export const DEFAULT_KEEPALIVE_COUNT_MAX = 3;
const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];
const MAX_INCLUDE_DEPTH = 16;

/** The -o keywords the built-in client understands; any other one is better served by --rsh. */
const SUPPORTED_OPTIONS = new Set([
  'hostname', 'port', 'user', 'identityfile', 'identitiesonly', 'proxyjump', 'connecttimeout', 'serveraliveinterval',
  'serveralivecountmax', 'userknownhostsfile', 'globalknownhostsfile', 'stricthostkeychecking', 'hostkeyalias', 'batchmode',
]);

type Values = Record<string, string | string[]>;

function list(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).flatMap((item) => item.split(/\s+/)).filter(Boolean);
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function yesNo(value: string | undefined, keyword: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  const lower = value.toLowerCase();
  if (lower === 'yes' || lower === 'true') return true;
  if (lower === 'no' || lower === 'false') return false;
  throw basynError('USAGE_SSH_CONFIG_VALUE', keyword, 'yes or no', value);
}

function wholeNumber(value: string | undefined, keyword: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const number = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!(number >= min && number <= max)) throw basynError('USAGE_SSH_CONFIG_VALUE', keyword, `a number from ${min} to ${max}`, value);
  return number;
}

/**
 * `[user@]host[:port]`, with `[v6addr]:port` allowed: the one reader of this spelling, for ProxyJump
 * hops and for `ssh://` endpoints (endpoint.ts). `bad` is the error when it does not parse, `badPort`
 * when the port is out of range.
 */
export function parseUserHostPort(text: string, bad: () => Error, badPort: (port: string) => Error): JumpHost {
  const at = text.lastIndexOf('@');
  const user = at >= 0 ? text.slice(0, at) : undefined;
  const rest = at >= 0 ? text.slice(at + 1) : text;
  const match = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest) ?? /^([^:]+)(?::(\d+))?$/.exec(rest);
  if (!match || !match[1]) throw bad();
  const port = match[2] === undefined ? undefined : Number(match[2]);
  if (port !== undefined && !(port >= 1 && port <= 65535)) throw badPort(match[2]);
  return { host: match[1], port, user: user || undefined };
}

/** A ProxyJump hop: `[user@]host[:port]`, `ssh://` URIs too. */
export function parseJumpHost(spec: string): JumpHost {
  return parseUserHostPort(spec.replace(/^ssh:\/\//, ''), () => basynError('SSH_CONFIG_JUMP_HOST', spec), (port) => basynError('SSH_CONFIG_JUMP_PORT', port));
}

/** OpenSSH's % tokens and a leading ~, in file names and HostName. */
function expand(text: string, tokens: Record<string, string>, home: string): string {
  const expanded = text.replace(/%(.)/g, (whole, letter: string) => tokens[letter] ?? whole);
  if (expanded === '~') return home;
  return expanded.startsWith('~/') ? join(home, expanded.slice(2)) : expanded;
}

/** The config text with Include lines replaced by the files they name (globs in the last path component). */
function readWithIncludes(file: string, home: string, depth: number): string {
  if (depth > MAX_INCLUDE_DEPTH) throw basynError('SSH_CONFIG_INCLUDE_DEPTH', file);
  const text = readFileSync(file, 'utf8');
  return text.split('\n').map((line) => {
    const match = /^\s*include\s*[= ]\s*(.+?)\s*$/i.exec(line);
    if (!match) return line;
    return match[1].split(/\s+/).flatMap((pattern) => {
      let path = pattern.replace(/^"(.*)"$/, '$1');
      if (path.startsWith('~/')) path = join(home, path.slice(2));
      else if (!isAbsolute(path)) path = join(home, '.ssh', path);
      const name = basename(path);
      if (!/[*?]/.test(name)) return existsSync(path) ? [readWithIncludes(path, home, depth + 1)] : [];
      let names: string[];
      try {
        names = readdirSync(dirname(path)).filter((entry) => globMatches(name, entry)).sort();
      } catch {
        names = [];
      }
      return names.map((entry) => readWithIncludes(join(dirname(path), entry), home, depth + 1));
    }).join('\n');
  }).join('\n');
}

/** Loads the config file: -F FILE (must exist) or ~/.ssh/config (may be missing). */
export function loadSshConfig(file: string | undefined, home: string): SSHConfig {
  const path = file ?? join(home, '.ssh', 'config');
  if (!existsSync(path)) {
    if (file !== undefined) throw basynError('USAGE_SSH_CONFIG_MISSING', file);
    return SSHConfig.parse('');
  }
  try {
    return SSHConfig.parse(readWithIncludes(path, home, 0));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw basynError('SSH_CONFIG_UNREADABLE', path, (error as Error).message);
  }
}

/** The -o options, checked: values given there win over the config file. */
function commandLineValues(options: Record<string, string>): Values {
  const values: Values = {};
  for (const [key, value] of Object.entries(options)) {
    if (!SUPPORTED_OPTIONS.has(key)) {
      throw basynError('USAGE_SSH_OPTION_UNSUPPORTED', key);
    }
    values[key] = value;
  }
  return values;
}

/** Resolves one host (the target or a jump host) through the command line and the config. */
function resolveHost(
  config: SSHConfig,
  alias: string,
  connection: ConnectionOptions,
  overrides: { port?: number; user?: string; fromCommandLine: boolean },
  environment: SshEnvironment,
): SshTarget {
  const cli = overrides.fromCommandLine ? commandLineValues(connection.sshOptions) : {};
  const user0 = overrides.user ?? first(cli.user);
  const computeOptions = { ignoreCase: true, matchExec: false };
  const fromFile: Values = user0 === undefined ? config.compute(alias, computeOptions) : config.compute({ Host: alias, User: user0 }, computeOptions);
  const value = (key: string): string | undefined => first(cli[key]) ?? first(fromFile[key]);

  const port = overrides.port ?? wholeNumber(value('port'), 'Port', 1, 65535) ?? 22;
  const user = user0 ?? first(fromFile.user) ?? environment.localUser;
  const hostTokens = { h: alias, n: alias, '%': '%' };
  const host = expand(value('hostname') ?? alias, hostTokens, environment.home);
  const tokens: Record<string, string> = {
    h: host, n: alias, p: String(port), r: user, u: environment.localUser, d: environment.home, l: hostname().split('.')[0], '%': '%',
  };

  const explicit = [
    ...(overrides.fromCommandLine ? connection.identities : []),
    ...list(cli.identityfile),
    ...list(fromFile.identityfile),
  ].map((file) => expand(file, tokens, environment.home));
  const identityFiles = explicit.length > 0
    ? [...new Set(explicit)]
    : DEFAULT_IDENTITIES.map((name) => join(environment.home, '.ssh', name));

  const jumpValue = cli.proxyjump ?? fromFile.proxyjump;
  const jumpSpec = Array.isArray(jumpValue) ? jumpValue.join(' ') : jumpValue;
  const jumps = jumpSpec === undefined || jumpSpec.trim().toLowerCase() === 'none'
    ? []
    : jumpSpec.split(',').map((hop) => hop.trim()).filter(Boolean).map(parseJumpHost);

  const connectTimeout = wholeNumber(value('connecttimeout'), 'ConnectTimeout', 0, 86_400);
  const interval = wholeNumber(value('serveraliveinterval'), 'ServerAliveInterval', 0, 86_400) ?? DEFAULT_KEEPALIVE_INTERVAL_S;
  const countMax = wholeNumber(value('serveralivecountmax'), 'ServerAliveCountMax', 1, 1000) ?? DEFAULT_KEEPALIVE_COUNT_MAX;

  let knownHostsFiles: string[];
  if (connection.knownHosts.length > 0) knownHostsFiles = [...connection.knownHosts];
  else {
    const userFiles = list(cli.userknownhostsfile).length > 0 ? list(cli.userknownhostsfile) : list(fromFile.userknownhostsfile);
    const globalFiles = list(cli.globalknownhostsfile).length > 0 ? list(cli.globalknownhostsfile) : list(fromFile.globalknownhostsfile);
    knownHostsFiles = [
      ...(userFiles.length > 0 ? userFiles : ['~/.ssh/known_hosts', '~/.ssh/known_hosts2']),
      ...(globalFiles.length > 0 ? globalFiles : ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']),
    ].map((file) => expand(file, tokens, environment.home));
  }

  let strict: StrictHostKeyChecking;
  const strictValue = value('stricthostkeychecking')?.toLowerCase();
  if (connection.acceptNew) strict = 'accept-new';
  else if (strictValue === undefined || strictValue === 'yes' || strictValue === 'true' || strictValue === 'ask') strict = 'yes';
  else if (strictValue === 'accept-new') strict = 'accept-new';
  else if (strictValue === 'no' || strictValue === 'false' || strictValue === 'off') strict = 'no';
  else throw basynError('USAGE_SSH_CONFIG_VALUE', 'StrictHostKeyChecking', 'yes, accept-new, no or ask', strictValue);

  return {
    alias,
    host,
    port,
    user,
    identityFiles,
    explicitIdentities: explicit.length > 0,
    identitiesOnly: yesNo(value('identitiesonly'), 'IdentitiesOnly', false),
    jumps,
    connectTimeoutMs: connectTimeout === undefined || connectTimeout === 0 ? undefined : connectTimeout * 1000,
    keepaliveIntervalMs: interval * 1000,
    keepaliveCountMax: countMax,
    knownHostsFiles,
    strictHostKeyChecking: strict,
    hostKeyAlias: value('hostkeyalias'),
    batchMode: yesNo(value('batchmode'), 'BatchMode', false),
  };
}

export interface ResolvedConnection {
  readonly target: SshTarget;
  /** The ProxyJump hops, each resolved through the config like a host of its own. */
  readonly jumps: SshTarget[];
}

/** How to reach connection.host: the target and any jump hosts in front of it. */
export function resolveConnection(connection: ConnectionOptions, environment: SshEnvironment = defaultEnvironment()): ResolvedConnection {
  // An invariant: the options give a host whenever a connection is resolved (options.ts checks -h).
  if (!connection.host) throw new UsageError('internal: no host to connect to');
  const config = loadSshConfig(connection.sshConfig, environment.home);
  const target = resolveHost(config, connection.host, connection, { port: connection.port, user: connection.user, fromCommandLine: true }, environment);
  const jumps = target.jumps.map((hop) => {
    // A jump host gets its own config block, but neither the target's -p/-u/-o nor a ProxyJump of its own.
    const resolved = resolveHost(config, hop.host, { ...connection, sshOptions: {} }, { port: hop.port, user: hop.user, fromCommandLine: false }, environment);
    return { ...resolved, jumps: [], identityFiles: [...new Set([...connection.identities, ...resolved.identityFiles])] };
  });
  return { target, jumps };
}

// The SSH options of the subcommands that reach one host (`basyn patch -h HOST`, `basyn check-host
// HOST`): their commander definitions and their validation into ConnectionOptions, as the sync's
// (options.ts) are.
import { Option, type Command } from 'commander';
import { UsageError } from '../shared/errors';
import type { ConnectionOptions } from './options';

export interface ConnectionRawOptions {
  port?: string;
  user?: string;
  sshConfig?: string;
  identity?: string[];
  knownHosts?: string[];
  acceptNew?: boolean;
  remoteNode?: string;
  rsh?: string;
  option?: string[];
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** -p, -u, -F, -i, --known-hosts, --accept-new, --remote-node, --rsh and -o, as the sync has them. */
export function addConnectionOptions(command: Command): Command {
  return command
    .option('-p, --port <port>', 'remote SSH port')
    .option('-u, --user <user>', 'remote SSH user')
    .option('-F, --ssh-config <file>', 'OpenSSH client config file (default: ~/.ssh/config)')
    .addOption(new Option('-i, --identity <file>', 'private key file (repeatable)').argParser(collect))
    .addOption(new Option('--known-hosts <file>', 'known_hosts file to verify host keys (repeatable)').argParser(collect))
    .option('--accept-new', 'add an unknown host key to known_hosts (a changed key is always refused)')
    .option('--remote-node <path>', 'node binary on the remote host')
    .option('--rsh <command>', 'reach the host with this command instead of ssh2')
    .addOption(new Option('-o, --option <key=value>', 'OpenSSH-style option (repeatable)').argParser(collect));
}

/** The ConnectionOptions to reach `host` with the options of addConnectionOptions(). */
export function connectionOf(host: string | undefined, raw: ConnectionRawOptions): ConnectionOptions {
  const port = raw.port === undefined ? undefined : Number(raw.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) throw new UsageError(`-p/--port must be between 1 and 65535, got '${raw.port}'`);
  const sshOptions: Record<string, string> = {};
  for (const pair of raw.option ?? []) {
    const match = /^\s*([A-Za-z]+)\s*[= ]\s*(.+?)\s*$/.exec(pair);
    if (!match) throw new UsageError(`-o expects KEY=VALUE, got '${pair}'`);
    sshOptions[match[1].toLowerCase()] = match[2];
  }
  return {
    host, port, user: raw.user, sshConfig: raw.sshConfig, identities: raw.identity ?? [], knownHosts: raw.knownHosts ?? [],
    acceptNew: !!raw.acceptNew, remoteNode: raw.remoteNode, rsh: raw.rsh, sshOptions, interactive: Boolean(process.stdin.isTTY),
  };
}

// The SSH options every command that reaches a host shares (the sync, `basyn patch -h HOST`, `basyn
// check-host HOST`): their commander definitions and their reading into ConnectionOptions, once.
import { Option, type Command } from 'commander';
import type { ConnectionOptions } from './options';
import { parsePort, sshOptions } from './option-values';

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

export const collect = (value: string, previous: string[] = []) => [...previous, value];

/** -p and -u (the sync lists them beside -h). */
export function addPortAndUser(command: Command): Command {
  return command
    .option('-p, --port <port>', 'remote SSH port (default: 22, or the ssh config)')
    .option('-u, --user <user>', 'remote SSH user (default: the ssh config, or the current user)');
}

/** -F, -i, --known-hosts, --accept-new, --remote-node, --rsh and -o. */
export function addSshOptions(command: Command): Command {
  return command
    .option('-F, --ssh-config <file>', 'OpenSSH client config file (default: ~/.ssh/config)')
    .addOption(new Option('-i, --identity <file>', 'private key file (repeatable)').argParser(collect))
    .addOption(new Option('--known-hosts <file>', 'known_hosts file to verify host keys (repeatable)').argParser(collect))
    .option('--accept-new', 'add an unknown host key to known_hosts (a changed key is always refused)')
    .option('--remote-node <path>', 'node binary on the remote host (default: node, then nodejs)')
    .option('--rsh <command>', 'run the agent through this remote shell command instead of ssh2 (e.g. "ssh -i key")')
    .addOption(new Option('-o, --option <key=value>', 'OpenSSH-style option, e.g. -o UserKnownHostsFile=FILE (repeatable)').argParser(collect));
}

/** Every option of addPortAndUser() and addSshOptions(). */
export function addConnectionOptions(command: Command): Command {
  return addSshOptions(addPortAndUser(command));
}

/** The ConnectionOptions to reach `host` with the options above (`interactive`: prompts are allowed). */
export function connectionOf(host: string | undefined, raw: ConnectionRawOptions, interactive = Boolean(process.stdin.isTTY)): ConnectionOptions {
  return {
    host, port: parsePort(raw.port), user: raw.user, sshConfig: raw.sshConfig, identities: raw.identity ?? [], knownHosts: raw.knownHosts ?? [],
    acceptNew: !!raw.acceptNew, remoteNode: raw.remoteNode, rsh: raw.rsh, sshOptions: sshOptions(raw.option), interactive,
  };
}

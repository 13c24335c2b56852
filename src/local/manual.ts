// The one source of basyn's documentation for users at the command line: `--help` is commander's option
// list plus the commands and the first examples from here, and the man page basyn(1) (built by
// scripts/build-man.mts) is the same option list plus everything here. An option is described once, in
// its commander definition (cli.ts); prose about the tool is written once, below. Plain text only: the
// help prints it as is and the man page renders `code` and _emphasis_ as roff fonts.

import { DEFAULT_CONFIG } from './tasks/config';

export interface ManualCommand {
  /** The reserved first word and its arguments, as in the synopsis. */
  readonly usage: string;
  /** One line, for --help. */
  readonly summary: string;
  /** More, for the man page. */
  readonly details?: string;
}

export interface ManualExample {
  readonly comment: string;
  readonly command: string;
}

export interface ManualSection {
  readonly title: string;
  readonly paragraphs: readonly string[];
}

/** One line: the NAME of the man page and the first line of --help. */
export const SUMMARY = 'keep two block devices or image files identical, locally or over SSH, moving only what changed';

export const SYNOPSIS: readonly string[] = [
  'basyn [options] -l DEVICE -r DEVICE [-h HOST] -a PUSH|PULL -m SYNC|COPY',
  'basyn [options] -l DEVICE -r DEVICE [-h HOST] --recheck',
  'basyn [options] SOURCE TARGET',
];

export const DESCRIPTION: readonly string[] = [
  'basyn compares two block devices (or image files) buffer by buffer and sends only the buffers that differ, ' +
    'from the source to the destination: with -a PUSH the local device (-l) is the source and the remote device (-r) ' +
    'the destination; with -a PULL the other way round. Without -h the "remote" device is on this machine.',
  'Both sides hash in parallel, each in its own agent process: a child node process for the local device, and ' +
    'for a remote one an agent uploaded over SSH at each run (the remote host needs nothing but node >= 18; ' +
    'nothing is installed or written there besides the device). The exit code tells whether the data is identical.',
  'basyn [options] SOURCE TARGET (iblocksync\'s form) syncs SOURCE into TARGET, SYNC unless -m COPY. Each is a local path, ' +
    'file://PATH, [user@]host:PATH or ssh://[user@]host[:port]/PATH; both may be remote (one agent on each host, the ' +
    'controller relays what differs). A missing TARGET file is created at the source\'s size.',
];

/** The reserved first words (a file of that name is ./NAME). */
export const COMMANDS: readonly ManualCommand[] = [
  {
    usage: 'basyn patch [options] FILE|- DEST',
    summary: 'apply a patch made with --diff (checked first, journalled)',
    details: 'The whole patch and DEST are checked before the first write; a killed apply is finished by running it again, ' +
      'or undone with `basyn patch --rollback DEST`. See `basyn patch --help`.',
  },
  {
    usage: 'basyn tasks [--config FILE] [--task NAME]...',
    summary: 'run the tasks of a config file (many volumes, many hosts)',
    details: 'Each task syncs a SOURCE to a TARGET, with its own lock; exit 3 when a task failed, 4 when interrupted. ' +
      'See `basyn tasks --help` and the README.',
  },
  {
    usage: 'basyn check-host [options] HOST [DEVICE]',
    summary: 'check that HOST is ready: SSH, node, the agent, DEVICE',
    details: 'Connects to HOST as a sync would (host keys verified, the same SSH options), uploads the agent, reports ' +
      'the remote node version and, with DEVICE, whether the agent may open DEVICE for reading and writing. ' +
      'Nothing is written. Exit 0 when HOST is ready.',
  },
  {
    usage: 'basyn completion bash',
    summary: 'print the bash completion script',
    details: 'Completes options, action, mode and hash names, file names, and host names from ~/.ssh/config. ' +
      'Load it with `source <(basyn completion bash)`, or save it as ' +
      '/etc/bash_completion.d/basyn.',
  },
];

export const EXAMPLES: readonly ManualExample[] = [
  { comment: 'Sync /dev/sda1 to /dev/sda1 on host backup, with a bitmap of digests:', command: 'basyn -l /dev/sda1 -r /dev/sda1 -h backup -a PUSH -m SYNC -b sda1.bitmap' },
  { comment: 'Sync two image files on this machine, with statistics and a recheck:', command: 'basyn -l disk.img -r copy.img -a PUSH -m SYNC --stat --recheck' },
  { comment: 'Check that a host can take part, and may write its device:', command: 'basyn check-host backup /dev/vg/copy' },
  { comment: 'First full copy of a volume from a host:', command: 'basyn -l /dev/vg/copy -r /dev/vg/data -h db1 -a PULL -m COPY --progress' },
  { comment: 'Apply a patch made with --diff, on the machine that holds the target:', command: 'basyn patch data.patch /dev/vg/copy' },
];

/** How many of EXAMPLES end --help. */
export const HELP_EXAMPLES = 3;

export const EXIT_STATUS: readonly (readonly [string, string])[] = [
  ['0', 'The data is identical (or, without -a, both devices are readable).'],
  ['1', 'Command-line or configuration error, shown as one line on stderr. Nothing was opened for writing, no data changed.'],
  ['2', 'Sync error, shown as one line on stderr: the destination may be partly changed and a rerun converges. Also: devices of different sizes, ' +
    'a recheck that finds differences, a lost connection, an interrupt.'],
  ['3', 'basyn tasks: a task failed (the others ran).'],
  ['4', 'basyn tasks: interrupted.'],
];

export const FILES: readonly (readonly [string, string])[] = [
  ['~/.ssh/config', 'OpenSSH client configuration (Host, HostName, User, Port, IdentityFile, ProxyJump, ...); -F names another.'],
  ['~/.ssh/known_hosts', 'host keys the SSH connection is verified against; --known-hosts or -o UserKnownHostsFile name others.'],
  ['BITMAP, BITMAP.lock', 'the bitmap of -b (0600, created by basyn) and its lock: one run per bitmap.'],
  [DEFAULT_CONFIG, 'the tasks of basyn tasks (INI; --config names another).'],
  ['$XDG_STATE_HOME/basyn/', 'undo journals and spooled patches of basyn patch (default ~/.local/state/basyn/).'],
];

export const SECTIONS: readonly ManualSection[] = [
  {
    title: 'BITMAPS',
    paragraphs: [
      'With -b FILE basyn keeps the source\'s digest of every buffer in FILE: later SYNC runs read only the source and send the buffers ' +
        'whose digest changed, without reading the destination. An entry is marked unknown before the destination is written and ' +
        'records the new digest only after the destination has flushed the data, so a killed run never leaves a bitmap that claims ' +
        'unsynced data. A destination changed behind the bitmap\'s back is found by --update-bitmap or --verify-bitmap.',
    ],
  },
  {
    title: 'SSH',
    paragraphs: [
      'With -h HOST basyn connects with its own SSH client (ssh2), reading ~/.ssh/config like OpenSSH. Host keys are verified against ' +
        'known_hosts: an unknown key is refused with its fingerprint unless --accept-new, a changed key always. Authentication uses the ' +
        'ssh-agent, then key files; nothing prompts without a terminal. --rsh runs the agent through an external command such as ssh(1) instead.',
    ],
  },
];

export const SEE_ALSO = 'ssh(1), ssh_config(5), bdsync(1); the README and docs/ of the basyn package.';

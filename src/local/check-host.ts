// `basyn check-host [options] HOST [DEVICE]`: is HOST ready to take part in a sync? It goes through
// every step a sync's remote side goes through, and stops before the first HASH: the SSH connection
// (host key verified, authenticated, exactly as a sync: same transport, same options), the agent upload
// and its HELLO (protocol and build), the node it runs on (the agent's runtime LOG), and with DEVICE an
// OPEN for reading and writing, then CLOSE. Nothing is written: opening read-write writes nothing, and
// CLOSE only flushes (no data is pending). A block device is opened exclusively, as a destination is,
// so a mounted or otherwise busy one is reported as such.
import { Command } from 'commander';
import { parseRuntimeLog, type AgentRuntime } from '../shared/agent-runtime';
import { BUILD_ID } from '../shared/build-info';
import { EXIT_OK } from '../shared/errors';
import { parseCommand, reportError } from './command-errors';
import { hashByName, type HashAlgorithm } from '../shared/hash';
import { PROTOCOL_VERSION } from '../shared/protocol';
import { printable } from '../shared/remote-text';
import { addConnectionOptions, connectionOf, type ConnectionRawOptions } from './connection-cli';
import { validateHost } from './option-values';
import { Peer } from './peer';
import { HELP_LAYOUT } from './manual-render';
import { PROCESS_IO, type Io } from './progress';
import { remoteTransport } from './transport/index';
import type { Transport } from './transport/transport';

interface CheckHostRawOptions extends ConnectionRawOptions {
  debug?: boolean;
}

export function buildCheckHostProgram(io: Io = PROCESS_IO): Command {
  const program = new Command('basyn check-host')
    .description('Check that HOST is ready for basyn: connects as a sync does (host key verified), uploads the agent, reports the remote node version and, with DEVICE, whether the agent may open DEVICE for reading and writing. Nothing is written.')
    .configureHelp(HELP_LAYOUT)
    .usage('[options] HOST [DEVICE]')
    .argument('<host>')
    .argument('[device]')
    .helpOption('--help', 'display help');
  return addConnectionOptions(program)
    .option('--debug', 'debug details and stack traces on stderr')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout(text), writeErr: (text) => io.stderr(text) });
}

/** What a test may replace: where the text goes, and how the agent is reached. */
export interface CheckHostSeams {
  readonly io?: Io;
  readonly transport?: Transport;
}

export async function checkHostMain(argv: string[], seams: CheckHostSeams = {}): Promise<number> {
  const io = seams.io ?? PROCESS_IO;
  const program = buildCheckHostProgram(io);
  const parsed = parseCommand(program, argv);
  if (parsed !== undefined) return parsed;
  const raw = program.opts<CheckHostRawOptions>();
  const [host, device] = program.args as [string, string | undefined];
  const say = (text: string): void => io.stdout(`${text}\n`);
  let peer: Peer | undefined;
  try {
    validateHost(host);
    const connection = connectionOf(host, raw);
    const link = await (seams.transport ?? remoteTransport(connection)).start();
    let runtime: AgentRuntime | undefined;
    peer = await Peer.connect('remote', link, (text) => {
      runtime ??= parseRuntimeLog(text);
      if (raw.debug) io.stderr(`debug: remote agent: ${text}\n`);
    });
    say(connection.rsh === undefined ? `${host}: connected (${link.description}), host key verified` : `${host}: reached through --rsh (${printable(link.description)})`);
    say(`agent: uploaded and started (build ${BUILD_ID}, protocol ${PROTOCOL_VERSION})`);
    if (device !== undefined) {
      // The hash is only needed to open; nothing is hashed.
      const size = await peer.open(device, true, hashByName('SHA1') as HashAlgorithm, 0n);
      say(`${printable(device)}: may be opened for reading and writing (${size} bytes); nothing was written`);
    }
    await peer.close();
    // The runtime LOG came right after HELLO: every reply since has arrived after it.
    say(`node: ${runtime ? `${runtime.node} (${runtime.platform})` : 'unknown (the agent did not say)'}`);
    say(`${host}: ready`);
    await link.exited;
    return EXIT_OK;
  } catch (error) {
    peer?.kill();
    return reportError(error, io.stderr, !!raw.debug).exitCode;
  }
}

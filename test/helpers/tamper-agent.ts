// A misbehaving agent for tests, run by basyn as its --rsh command:
//
//   --rsh "node --import tsx test/helpers/tamper-agent.ts MODE" -h anyhost
//
// It starts the real loader (which receives the real upload and runs the real agent bundle), passes
// the controller's bytes to it unchanged, and decodes every frame the agent sends back with the codec
// in src/shared, changing what MODE says before encoding it again. So the controller meets exactly one
// fault, through its real transport, rpc and engine, while everything else is the real agent.
import { spawn } from 'node:child_process';
import { decodeBlock } from '../../src/shared/block-codec';
import { FrameDecoder } from '../../src/shared/frame';
import { encode, ENCODING, MSG, type Message } from '../../src/shared/protocol';
import { LOADER_SOURCE } from '../../src/local/transport/loader';

export const TAMPER_MODES = [
  'short-data', // the first DATA block is one byte shorter than the range read
  'long-data', // the first DATA block is one byte longer
  'short-digests', // the first DIGESTS payload lacks its last byte
  'long-digests', // the first DIGESTS payload has one digest too many
  'noisy-stderr', // ANSI escapes, a carriage-return trick and 3 MiB of text on stderr; replies intact
  'noisy-log', // LOG messages with ANSI escapes and 60 000 characters; replies intact
  'noisy-error', // the reply to the first OPEN is an ERROR with ANSI escapes and 60 000 characters
] as const;
export type TamperMode = (typeof TAMPER_MODES)[number];

/** An SGR sequence, a window-title change and a "clear screen": what a hostile remote would send. */
export const ANSI = '\u001b[31;1mRED\u001b[0m\u001b]0;owned\u0007\u001b[2J';

async function main(mode: TamperMode): Promise<void> {
  const agent = spawn(process.execPath, ['-e', LOADER_SOURCE], { stdio: ['pipe', 'pipe', 'inherit'] });
  agent.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
  process.stdin.pipe(agent.stdin);
  agent.stdin.on('error', () => undefined);

  if (mode === 'noisy-stderr') {
    process.stderr.write(`warning: ${ANSI} colours\n`);
    process.stderr.write('fake prompt\rHIDDEN BY CR \u202egnp.exe\n');
    const line = 'x'.repeat(1024 * 1024);
    process.stderr.write(`${line}${line}\n`); // one 2 MiB line
    for (let index = 0; index < 20_000; index++) process.stderr.write(`noise line ${index} ${ANSI}\n`); // ~1 MiB of lines
  }

  const decoder = new FrameDecoder();
  let tampered = false;
  const once = (): boolean => !tampered && (tampered = true);
  const send = (message: Message): void => { process.stdout.write(encode(message)); };

  agent.stdout.on('data', async (chunk: Buffer) => {
    agent.stdout.pause(); // keep frames in order while a block is decoded below
    for (const message of decoder.push(chunk)) {
      if (message.type === MSG.DATA && (mode === 'short-data' || mode === 'long-data') && once()) {
        const data = await decodeBlock(message.block);
        const changed = mode === 'short-data' ? data.subarray(0, data.length - 1) : Buffer.concat([data, Buffer.of(0x41)]);
        send({ ...message, block: { encoding: ENCODING.RAW, rawLength: changed.length, bytes: Buffer.from(changed) } });
      } else if (message.type === MSG.DIGESTS && (mode === 'short-digests' || mode === 'long-digests') && once()) {
        const { digests } = message;
        send({ ...message, digests: mode === 'short-digests' ? digests.subarray(0, -1) : Buffer.concat([digests, digests]) });
      } else if (message.type === MSG.OPENED && mode === 'noisy-error' && once()) {
        send({ type: MSG.ERROR, id: message.id, code: `E${ANSI}`, message: `cannot open ${ANSI}${'y'.repeat(60_000)}` });
      } else {
        send(message);
        if (message.type === MSG.HELLO && mode === 'noisy-log') {
          send({ type: MSG.LOG, id: 0, level: 1, text: `remote says ${ANSI}` });
          send({ type: MSG.LOG, id: 0, level: 1, text: 'z'.repeat(60_000) });
        }
      }
    }
    agent.stdout.resume();
  });
  agent.stdout.on('end', () => process.stdout.end());
}

const mode = process.argv[2] as TamperMode;
if (require.main === module) {
  if (!TAMPER_MODES.includes(mode)) {
    process.stderr.write(`tamper-agent: unknown mode ${mode}\n`);
    process.exit(64);
  }
  void main(mode);
}

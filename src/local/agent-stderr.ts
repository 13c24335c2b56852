// An agent's stderr, as every command that starts one shows it (the sync's session, `basyn patch -h`):
// never protocol, always text, bounded and made printable.
import type { Readable } from 'node:stream';
import { printable, REMOTE_TEXT_MAX } from '../shared/remote-text';

/** Most agent stderr shown per agent and run; past it, one line says more was not shown. */
const STDERR_SHOWN_BYTES = 16 * 1024;

/**
 * Agent stderr is never protocol: it is shown as text, line by line, with where it came from, each
 * line made printable (remote-text.ts) and cut to REMOTE_TEXT_MAX, and at most STDERR_SHOWN_BYTES of
 * it per agent: a remote side that prints megabytes or escape sequences cannot flood or take over
 * the terminal. A line is held only up to its cut, so memory stays bounded too.
 */
export function forwardStderr(stderr: Readable, role: string, show: (text: string) => void): void {
  let partial = '';
  let partialCut = 0;
  let shown = 0;
  const showLine = (line: string, cut: number): void => {
    if ((!line.trim() && cut === 0) || shown > STDERR_SHOWN_BYTES) return;
    const text = `${role}: ${printable(line, REMOTE_TEXT_MAX, cut)}\n`;
    shown += text.length;
    show(shown > STDERR_SHOWN_BYTES ? `${role}: ... more output from the ${role} side not shown (over ${STDERR_SHOWN_BYTES / 1024} KiB)\n` : text);
  };
  stderr.setEncoding('utf8');
  stderr.on('data', (text: string) => {
    const lines = text.split('\n');
    const last = lines.pop() as string;
    for (const line of lines) {
      showLine(partial + line, partialCut);
      partial = '';
      partialCut = 0;
    }
    const rest = partial + last;
    partial = rest.slice(0, REMOTE_TEXT_MAX);
    partialCut += rest.length - partial.length;
  });
  stderr.on('end', () => showLine(partial, partialCut));
}

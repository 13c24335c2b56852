// Text that comes from the other side of a link (agent stderr, ERROR and LOG messages, what a remote
// shell prints) reaches the user's terminal only through printable(): a remote host, or anything
// between it and us, must not be able to move the cursor, retitle the window, hide a line behind
// a carriage return or flood the log. Control characters are escaped, never dropped, so a
// message stays readable and nothing is hidden.

/** Longest remote text kept in one line or message; the rest is cut and counted. */
export const REMOTE_TEXT_MAX = 1000;

/**
 * C0 and C1 controls, DEL, and the Unicode controls that reorder or hide text (bidi embeddings,
 * overrides and isolates, zero-width and line/paragraph separators).
 */
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

function escape(char: string): string {
  const code = char.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * `text` as one safe line: control characters (newlines included) escaped as \xHH or \uHHHH, and
 * at most `max` characters of the original kept, with a note of how much was cut (`dropped`: how
 * many characters the caller already cut off its end).
 */
export function printable(text: string, max = REMOTE_TEXT_MAX, dropped = 0): string {
  let kept = text.length > max ? text.slice(0, max) : text;
  if (kept.length < text.length && /[\ud800-\udbff]$/.test(kept)) kept = kept.slice(0, -1); // half a surrogate pair
  const cut = text.length - kept.length + dropped;
  return kept.replace(UNPRINTABLE, escape) + (cut > 0 ? `... (${cut} more characters)` : '');
}

// docs/errors.md as the errors tests read it, on its own (not with the code's help): its rows, and a
// row's message template as a regex.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DocRow {
  readonly exit: number;
  readonly message: string;
  /** Which table: 'main' (errors:begin/end, the one errors-doc.test.ts runs), 'more', 'tasks'. */
  readonly section: string;
}

/** code → row, from the rows between each pair of errors[:NAME]:begin/end markers. */
export function docRows(): Map<string, DocRow> {
  const text = readFileSync(join(__dirname, '..', '..', 'docs', 'errors.md'), 'utf8');
  const rows = new Map<string, DocRow>();
  for (const [, section, table] of text.matchAll(/<!-- errors(?::([a-z]+))?:begin -->\n([\s\S]*?)<!-- errors(?::[a-z]+)?:end -->/g)) {
    for (const line of table.split('\n')) {
      // The message is `text`, or `` text `` when it holds a backtick itself.
      const match = /^\| `([A-Z0-9_]+)` \| (\d) \| (?:`` (.*?) ``|`([^`]*)`) \|/.exec(line);
      if (!match) continue;
      if (rows.has(match[1])) throw new Error(`docs/errors.md: ${match[1]} twice`);
      rows.set(match[1], { exit: Number(match[2]), message: (match[3] ?? match[4]).replace(/\\\|/g, '|'), section: section ?? 'main' });
    }
  }
  return rows;
}

/** A message template as a regex: `<name>` is any text, a final `…` allows more text after it. */
export function messagePattern(template: string): RegExp {
  const prefix = template.endsWith('…');
  const body = prefix ? template.slice(0, -1) : template;
  const literal = body.split(/<[^<>]+>/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${literal.join('.+?')}${prefix ? '' : '$'}`, 's');
}

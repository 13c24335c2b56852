// manual.ts rendered two ways from the same program definition: the end of `--help` (80 columns) and the
// Markdown source of the man page basyn(1) (scripts/build-man.mts turns it into roff with marked-man).
// The option list of both comes from commander's own Help.visibleOptions(), so an option added to
// cli.ts appears in --help, in the man page and in the bash completion alike.
import type { Command, HelpConfiguration, Option } from 'commander';
import { BUILD_ID, VERSION } from '../shared/build-info';
import { PROTOCOL_VERSION } from '../shared/protocol';
import { COMMANDS, DESCRIPTION, EXAMPLES, EXIT_STATUS, FILES, HELP_EXAMPLES, SECTIONS, SEE_ALSO, SUMMARY, SYNOPSIS } from './manual';

/** --help is laid out for this width, whatever the terminal (a wider one reads it as well; logs too). */
export const HELP_WIDTH = 80;

export const HELP_LAYOUT: HelpConfiguration = { helpWidth: HELP_WIDTH, sortOptions: false };

/** The first line of the help under "Usage:". */
export const HELP_DESCRIPTION = `${SUMMARY[0].toUpperCase()}${SUMMARY.slice(1)}.`;

/** The usage after "basyn " (the first synopsis line). */
export const HELP_USAGE = SYNOPSIS[0].replace(/^basyn /, '');

/** `basyn --version`: what a bug report needs. */
export function versionText(): string {
  return `basyn ${VERSION} (build ${BUILD_ID}, protocol ${PROTOCOL_VERSION}, node ${process.version})`;
}

/** Greedy word wrap of `text` to `width` columns, each line prefixed with `indent`. */
export function wrap(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(indent + line);
  return lines;
}

/** What --help prints after the options: the other forms (reserved first words) and a few examples. */
export function helpEpilogue(): string {
  const out = ['', 'Commands (a reserved first word; a file of that name is ./NAME):'];
  for (const command of COMMANDS) {
    out.push(`  ${command.usage}`);
    out.push(...wrap(command.summary, HELP_WIDTH, '      '));
  }
  out.push('', ...wrap('Exit status: 0 identical, 1 usage error (nothing changed), 2 sync error. More in the manual: man basyn.', HELP_WIDTH, ''));
  out.push('', 'Examples:');
  for (const example of EXAMPLES.slice(0, HELP_EXAMPLES)) {
    out.push(...wrap(example.comment, HELP_WIDTH, '  # '), `  ${example.command}`);
  }
  return out.join('\n');
}

/** Escapes what Markdown would take for markup in plain text. */
function plain(text: string): string {
  return text.replace(/[\\`*_[\]<>#|]/g, (char) => `\\${char}`);
}

/** Prose from manual.ts: `code` stays code, the rest is plain. */
function prose(text: string): string {
  return text.split(/(`[^`]*`)/).map((part, index) => (index % 2 ? part : plain(part))).join('');
}

/** "-l, --local <device>" → "`-l`, `--local` _device_". */
function flagsMarkdown(flags: string): string {
  return flags.split(/(,\s*|\s+)/).map((part) => {
    if (/^-/.test(part)) return `\`${part}\``;
    const value = /^<(.+)>$/.exec(part) ?? /^\[(.+)\]$/.exec(part);
    return value ? `_${plain(value[1])}_` : part;
  }).join('');
}

function optionItems(options: readonly Option[]): string[] {
  return options.flatMap((option) => [`* ${flagsMarkdown(option.flags)}`, `  ${plain(option.description)}`, '']);
}

/** The man page basyn(1) as Markdown in ronn's format, for marked-man. */
export function manualMarkdown(program: Command): string {
  const help = program.createHelp();
  const out: string[] = [`# basyn(1) -- ${plain(SUMMARY)}`, '', '## SYNOPSIS', ''];
  for (const line of [...SYNOPSIS, ...COMMANDS.map((command) => command.usage)]) out.push(`\`${line}\`  `);
  out.push('', '## DESCRIPTION', '');
  for (const paragraph of DESCRIPTION) out.push(prose(paragraph), '');
  out.push('## OPTIONS', '', ...optionItems(help.visibleOptions(program)));
  out.push('## COMMANDS', '');
  for (const command of COMMANDS) out.push(`* \`${command.usage}\``, `  ${prose(command.summary)}. ${prose(command.details ?? '')}`, '');
  out.push('## EXIT STATUS', '');
  for (const [code, meaning] of EXIT_STATUS) out.push(`* \`${code}\``, `  ${prose(meaning)}`, '');
  out.push('## FILES', '');
  for (const [file, what] of FILES) out.push(`* \`${file}\``, `  ${prose(what)}`, '');
  for (const section of SECTIONS) {
    out.push(`## ${section.title}`, '');
    for (const paragraph of section.paragraphs) out.push(prose(paragraph), '');
  }
  out.push('## EXAMPLES', '');
  for (const example of EXAMPLES) out.push(prose(example.comment), '', `    ${example.command}`, '');
  out.push('## SEE ALSO', '', prose(SEE_ALSO), '');
  return out.join('\n');
}

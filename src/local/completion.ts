// `basyn completion bash`: prints a bash completion script. The options it completes come from the
// commander definitions of each form (the sync's, `patch`'s, `check-host`'s), so an option added there
// is completed without touching this file; option values are the action, mode, hash, diff-format and
// diffsize names, file names, or host names from ~/.ssh/config (and the files it Includes), read by
// the script each time, so a host added to the config is completed at once.
import type { Command } from 'commander';
import { basynError } from '../shared/errors';
import { HASH_NAMES } from '../shared/hash';
import { SIZE_MODE } from '../shared/patch-format';
import { SUBCOMMANDS } from './endpoint';


/** Fixed value names, by long option. */
const VALUE_WORDS: Readonly<Record<string, readonly string[]>> = {
  '--action': ['PUSH', 'PULL'],
  '--mode': ['SYNC', 'COPY'],
  '--hash': HASH_NAMES,
  '--diff-format': ['basyn', 'bdsync'],
  '--diffsize': Object.keys(SIZE_MODE),
  '--log-level': ['debug', 'info', 'warning', 'error'],
};

/** Value placeholders (`<file>`) whose values are paths. */
const PATH_VALUES = new Set(['file', 'device', 'path', 'dir', 'FILE', 'DEVICE']);

type ValueKind = { words: readonly string[] } | 'files' | 'hosts' | 'any';

/** How the value of each option that takes one (in the next word) is completed. */
function valueKinds(program: Command): Map<string, ValueKind> {
  const kinds = new Map<string, ValueKind>();
  for (const option of program.options) {
    if (!option.required) continue; // flags, and optional values (only with `=`, never the next word)
    const placeholder = /<([^>]+)>/.exec(option.flags)?.[1] ?? '';
    const words = option.long ? VALUE_WORDS[option.long] : undefined;
    const kind: ValueKind = words ? { words } : placeholder === 'host' ? 'hosts' : PATH_VALUES.has(placeholder) ? 'files' : 'any';
    for (const flag of [option.short, option.long]) if (flag) kinds.set(flag, kind);
  }
  return kinds;
}

function optionWords(program: Command): string[] {
  // Hidden options are internal spellings (--progress=STYLE becomes --progress-style): not offered.
  return [...program.options.filter((option) => !option.hidden).flatMap((option) => [option.short, option.long].filter((flag): flag is string => !!flag)), '--help'];
}

/** Single-quotes a word for bash. */
function quote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** One bash function that completes the word under the cursor for one form of the command line. */
function formFunction(name: string, program: Command, positional: string): string {
  const cases: string[] = [];
  const byKind = new Map<string, string[]>();
  for (const [flag, kind] of valueKinds(program)) {
    const action = typeof kind === 'object'
      ? `COMPREPLY=($(compgen -W ${quote(kind.words.join(' '))} -- "$cur")); return 0`
      : kind === 'files' ? 'COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null; return 0'
        : kind === 'hosts' ? 'COMPREPLY=($(compgen -W "$(_basyn_ssh_hosts)" -- "$cur")); return 0'
          : 'return 0';
    byKind.set(action, [...(byKind.get(action) ?? []), flag]);
  }
  for (const [action, flags] of byKind) cases.push(`    ${flags.join('|')}) ${action} ;;`);
  return [
    `${name}() {`,
    '  local cur=$1 prev=$2',
    '  case "$prev" in',
    ...cases,
    '  esac',
    `  if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W ${quote(optionWords(program).join(' '))} -- "$cur")); return 0; fi`,
    `  ${positional}`,
    '}',
  ].join('\n');
}

/** The commander definitions of each form of the command line. */
export interface Programs {
  readonly sync: Command;
  readonly patch: Command;
  readonly checkHost: Command;
  readonly tasks: Command;
}

/** The whole script; `programs` are the commander definitions of each form. */
export function bashCompletion(programs: Programs, version: string): string {
  return `# bash completion for basyn ${version}: source <(basyn completion bash), or save as
# /etc/bash_completion.d/basyn (or ~/.local/share/bash-completion/completions/basyn).

# Host names of ~/.ssh/config and of the files it Includes (patterns with * ? ! left out).
_basyn_ssh_hosts() {
  local -a todo=("$HOME/.ssh/config") words
  local i=0 file line key word match
  while (( i < \${#todo[@]} && i < 64 )); do
    file=\${todo[i]}; i=$((i + 1))
    [[ -r $file && -f $file ]] || continue
    while IFS= read -r line || [[ -n $line ]]; do
      line=\${line%%#*}
      [[ $line =~ ^[[:space:]]*([A-Za-z]+)[[:space:]=]+(.*)$ ]] || continue
      key=\${BASH_REMATCH[1],,}
      read -ra words <<< "\${BASH_REMATCH[2]}"
      case $key in
        host) for word in "\${words[@]}"; do [[ $word == *[*?!]* ]] || printf '%s\\n' "$word"; done ;;
        include) for word in "\${words[@]}"; do
            [[ $word == "~/"* ]] && word=$HOME/\${word#"~/"}
            [[ $word == /* ]] || word=$HOME/.ssh/$word
            while IFS= read -r match; do todo+=("$match"); done < <(compgen -G "$word")
          done ;;
      esac
    done < "$file"
  done
}

${formFunction('_basyn_sync', programs.sync, 'COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null; return 0')}

${formFunction('_basyn_tasks', programs.tasks, 'return 0')}

${formFunction('_basyn_patch', programs.patch, 'COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null; return 0')}

# check-host HOST [DEVICE]: the first word that is not an option (nor an option's value) is the host.
${formFunction('_basyn_check_host', programs.checkHost, 'if (( $3 == 0 )); then COMPREPLY=($(compgen -W "$(_basyn_ssh_hosts)" -- "$cur")); else COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null; fi; return 0')}

_basyn() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  COMPREPLY=()
  if (( COMP_CWORD == 1 )) && [[ $cur != -* ]]; then
    COMPREPLY=($(compgen -W ${quote(SUBCOMMANDS.join(' '))} -- "$cur") $(compgen -f -- "$cur"))
    return 0
  fi
  case \${COMP_WORDS[1]} in
    patch) _basyn_patch "$cur" "$prev" ;;
    tasks) _basyn_tasks "$cur" "$prev" ;;
    completion) (( COMP_CWORD == 2 )) && COMPREPLY=($(compgen -W bash -- "$cur")) ;;
    check-host)
      # How many plain words (not options, nor the value of one) come before the cursor.
      local j plain=0 w
      for (( j = 2; j < COMP_CWORD; j++ )); do
        w=\${COMP_WORDS[j]}
        if [[ $w != -* ]]; then plain=$((plain + 1))
        elif [[ $w != --*=* ]] && _basyn_takes_value_check_host "$w"; then j=$((j + 1)); fi
      done
      _basyn_check_host "$cur" "$prev" "$plain" ;;
    *) _basyn_sync "$cur" "$prev" ;;
  esac
}

_basyn_takes_value_check_host() {
  case $1 in
    ${[...valueKinds(programs.checkHost).keys()].join('|')}) return 0 ;;
  esac
  return 1
}

complete -F _basyn basyn
`;
}

/** `basyn completion SHELL` */
export function completionScript(argv: string[], programs: Programs, version: string): string {
  if (argv.length !== 1) throw basynError('USAGE_COMPLETION_ARGUMENTS');
  if (argv[0] !== 'bash') throw basynError('USAGE_COMPLETION_SHELL', argv[0]);
  return bashCompletion(programs, version);
}

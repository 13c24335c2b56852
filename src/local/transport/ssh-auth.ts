// Authentication as OpenSSH does it: the ssh-agent's keys (unless IdentitiesOnly), then the key
// files, then (on a terminal only) keyboard-interactive and password; encrypted keys ask for their
// passphrase on the terminal. The prompts read the TTY without echo.
import type { AnyAuthMethod, ParsedKey, Prompt } from 'ssh2';
import { readFileSync } from 'node:fs';
import { SyncError, basynError } from '../../shared/errors';
import { printable } from '../../shared/remote-text';
import type { SshEnvironment, SshTarget } from './ssh-config';
import { ssh2 } from './ssh2-lazy';

/** Reads a secret from the TTY without echo (stdin must be a TTY). Ctrl-C aborts. */
export function askSecret(prompt: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) return Promise.reject(basynError('SSH_NO_TERMINAL'));
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (): void => {
      input.removeListener('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
    };
    const onData = (data: Buffer): void => {
      for (const char of data.toString('utf8')) {
        if (char === '\r' || char === '\n') {
          done();
          resolve(text);
          return;
        }
        if (char === '\u0003' || char === '\u0004') {
          done();
          reject(basynError('SSH_PASSPHRASE_INTERRUPTED'));
          return;
        }
        if (char === '\u007f' || char === '\b') text = text.slice(0, -1);
        else text += char;
      }
    };
    process.stderr.write(prompt);
    input.setRawMode(true);
    input.resume();
    input.on('data', onData);
  });
}

export interface ConnectContext {
  readonly interactive: boolean;
  /** The ssh-agent's socket (SSH_AUTH_SOCK), if any. */
  readonly agentSocket?: string;
  readonly environment: SshEnvironment;
  readonly notice: (text: string) => void;
  readonly askSecret: (prompt: string) => Promise<string>;
}

/** What ssh2's authHandler callback takes: a method to try, or false for "no more". */
export type NextAuth = AnyAuthMethod | false;

/**
 * OpenSSH's order of authentication: the ssh-agent's keys (unless IdentitiesOnly), then the key
 * files, then (on a TTY only) keyboard-interactive and password. Encrypted keys ask for their
 * passphrase on the TTY; in batch use they are skipped and the reason ends up in the message.
 */
export class Authenticator {
  private readonly steps: Array<() => Promise<NextAuth | undefined>> = [];
  private readonly tried: string[] = [];
  private readonly notes: string[] = [];
  /** Called around prompts so the handshake timer does not run while the user types. */
  onPrompt?: (prompting: boolean) => void;

  constructor(private readonly target: SshTarget, private readonly context: ConnectContext) {
    const username = target.user;
    const agent = context.agentSocket;
    if (agent && !target.identitiesOnly) {
      this.steps.push(async () => { this.tried.push('ssh-agent'); return { type: 'agent' as const, username, agent }; });
    }
    for (const file of target.identityFiles) this.steps.push(() => this.keyFile(file));
    if (this.canPrompt) {
      this.steps.push(async () => {
        this.tried.push('keyboard-interactive');
        return {
          type: 'keyboard-interactive' as const,
          username,
          prompt: (_name: string, _instructions: string, _lang: string, prompts: Prompt[], finish: (answers: string[]) => void) => {
            void this.prompted(async () => {
              const answers: string[] = [];
              for (const prompt of prompts) answers.push(await this.context.askSecret(`(${username}@${target.alias}) ${printable(prompt.prompt, 200)}`));
              return answers;
            }).then(finish, () => finish([]));
          },
        };
      });
      this.steps.push(async () => {
        this.tried.push('password');
        const password = await this.prompted(() => this.context.askSecret(`${username}@${target.alias}'s password: `));
        return { type: 'password' as const, username, password };
      });
    }
  }

  private get canPrompt(): boolean {
    return this.context.interactive && !this.target.batchMode;
  }

  private async prompted<T>(ask: () => Promise<T>): Promise<T> {
    this.onPrompt?.(true);
    try {
      return await ask();
    } finally {
      this.onPrompt?.(false);
    }
  }

  /** The next step the server still accepts, for ssh2's authHandler. */
  async next(methodsLeft: string[] | null): Promise<NextAuth> {
    while (this.steps.length > 0) {
      const step = this.steps.shift() as () => Promise<NextAuth | undefined>;
      const auth = await step();
      if (auth === undefined || auth === false) continue;
      const method = auth.type === 'agent' ? 'publickey' : auth.type;
      if (methodsLeft === null || methodsLeft.includes(method)) return auth;
    }
    return false;
  }

  private async keyFile(file: string): Promise<NextAuth | undefined> {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (this.target.explicitIdentities) this.notes.push(`${file}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
      return undefined;
    }
    let key = ssh2().utils.parseKey(data);
    if (key instanceof Error && /passphrase/i.test(key.message)) {
      if (!this.canPrompt) {
        this.notes.push(`${file} is encrypted and there is no TTY to ask its passphrase (add it to ssh-agent)`);
        return undefined;
      }
      const passphrase = await this.prompted(() => this.context.askSecret(`Enter passphrase for key '${file}': `));
      key = ssh2().utils.parseKey(data, passphrase);
      if (key instanceof Error) {
        this.notes.push(`${file}: wrong passphrase`);
        return undefined;
      }
    }
    if (key instanceof Error) {
      this.notes.push(`${file}: ${key.message}`);
      return undefined;
    }
    this.tried.push(file);
    return { type: 'publickey' as const, username: this.target.user, key: (Array.isArray(key) ? key[0] : key) as ParsedKey };
  }

  failure(): SyncError {
    const tried = this.tried.length > 0 ? `tried ${this.tried.join(', ')}` : 'no key to offer (none found, no ssh-agent)';
    const notes = this.notes.length > 0 ? `; ${this.notes.join('; ')}` : '';
    return basynError('SSH_AUTH_FAILED', this.target.user, this.target.alias, `${tried}${notes}`);
  }
}

// ssh2 is loaded on first use, not when basyn starts. It is most of the controller's start-up cost
// (measured: `require('ssh2')` 0.16 CPU-s, `basyn --version` 0.32, bare node 0.16), and local runs,
// --help, completion and `basyn tasks` never use it. esbuild keeps a require() inside a function lazy
// in the bundle (the module's code runs at the first call); a top-level import would run it at start.
import type * as Ssh2 from 'ssh2';

let ssh2Module: typeof Ssh2 | undefined;

export function ssh2(): typeof Ssh2 {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy on purpose (see above)
  ssh2Module ??= require('ssh2') as typeof Ssh2;
  return ssh2Module;
}

/** Whether ssh2's native crypto binding loaded (scripts/ssh-binding.mjs puts it beside the bundle). */
export function cryptoBindingLoaded(): boolean {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy on purpose (see above)
  return (require('ssh2/lib/protocol/crypto') as { bindingAvailable: boolean }).bindingAvailable;
}

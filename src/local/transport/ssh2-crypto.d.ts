// ssh2's crypto module, for one fact its types do not declare: whether its native binding loaded
// (scripts/ssh-binding.mjs puts the binding beside the bundle; without it ssh2 encrypts more slowly).
declare module 'ssh2/lib/protocol/crypto' {
  export const bindingAvailable: boolean;
}

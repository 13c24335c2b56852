// ssh2's optional native crypto binding (AES-GCM and friends through the OpenSSL node links against),
// built by ssh2's install script with node-gyp. The controller bundle cannot contain a .node file, and
// the path ssh2 asks for ("./crypto/build/Release/sshcrypto.node", relative to ssh2's own file) means
// nothing next to the bundle: there the require failed and ssh2 fell back, silently, to its slower
// cipher path (issue 15). So both builds (scripts/build.mjs, scripts/bench-build.ts) point that require
// at `sshcrypto.node` beside the bundle and copy the binding there. Where the binding was not built (no
// compiler, or install scripts skipped), nothing is copied and ssh2 keeps its fallback; the same happens
// where the copied binding does not fit the node that runs it (another ABI): ssh2's require is in a
// try/catch. `basyn --debug` over ssh says which one a run got.
import { copyFileSync, existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const SSH_BINDING_NAME = 'sshcrypto.node';

/** Where ssh2's install script leaves the binding, in the node_modules of `root`. */
export function builtSshBinding(root) {
  return join(root, 'node_modules', 'ssh2', 'lib', 'protocol', 'crypto', 'build', 'Release', SSH_BINDING_NAME);
}

/** An esbuild plugin: ssh2's require of its binding becomes `require("./sshcrypto.node")`, left external. */
export const sshBindingPlugin = {
  name: 'ssh2-binding',
  setup(build) {
    build.onResolve({ filter: /[\\/]sshcrypto\.node$/ }, () => ({ path: `./${SSH_BINDING_NAME}`, external: true }));
  },
};

/**
 * Copies the binding built in `root`'s node_modules beside the bundle in `outDir` (through a temporary
 * name, so a reader never sees half a file). Returns false, after removing a stale copy, when there is
 * none to copy.
 */
export function placeSshBinding(root, outDir) {
  const from = builtSshBinding(root);
  const to = join(outDir, SSH_BINDING_NAME);
  if (!existsSync(from)) {
    rmSync(to, { force: true });
    return false;
  }
  const temporary = `${to}.${process.pid}.tmp`;
  copyFileSync(from, temporary);
  renameSync(temporary, to);
  return true;
}

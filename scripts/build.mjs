// Builds two self-contained bundles with esbuild:
//   dist/basyn.js  the controller (CLI), run by bin/basyn
//   dist/agent.js  the agent, uploaded to the remote host (or piped to a local node) at each run.
// and the man page dist/basyn.1. `npm pack` runs it (prepack), and so does an install from a git URL (prepare).
// Both get the same BUILD_ID so the handshake can tell a stale agent from the right one.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { placeSshBinding, sshBindingPlugin } from './ssh-binding.mjs';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));

// The build id is a digest of every source file, so any change to the code changes it.
function sourceDigest(dir, hash) {
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) sourceDigest(full, hash);
    else { hash.update(full); hash.update(readFileSync(full)); }
  }
  return hash;
}
const buildId = `${pkg.version}+${sourceDigest('src', createHash('sha256')).digest('hex').slice(0, 12)}`;

const common = {
  bundle: true,
  platform: 'node',
  target: 'node18',
  format: 'cjs',
  logLevel: 'warning',
  define: { BASYN_BUILD_ID: JSON.stringify(buildId), BASYN_VERSION: JSON.stringify(pkg.version) },
};

// The agent's hashing threads (src/remote/hash-pool.ts) run hash-worker.ts, bundled on its own and
// embedded in the bundles as a string: the agent stays one file, uploaded at each run, and starts its
// threads from that string (a remote host has no file to start them from).
const worker = await build({ ...common, entryPoints: ['src/remote/hash-worker.ts'], write: false, minify: true });
common.define.BASYN_HASH_WORKER_SOURCE = JSON.stringify(worker.outputFiles[0].text);

// Both bundles are built to temporary names and renamed into place only when both succeeded, so a
// failed build never leaves a controller and an agent of different builds side by side.
const tmp = `.${process.pid}.tmp`;
await build({ ...common, entryPoints: ['src/remote/agent.ts'], outfile: `dist/agent.js${tmp}`, minify: true });
// ssh2 has two optional native addons, which cannot be bundled: cpu-features (left to require at run
// time from node_modules, where a checkout has it; without it ssh2 only orders its ciphers differently,
// and basyn sets that order itself) and its crypto binding, copied beside the bundle (ssh-binding.mjs).
await build({ ...common, entryPoints: ['src/local/main.ts'], outfile: `dist/basyn.js${tmp}`, external: ['cpu-features', '*.node'], plugins: [sshBindingPlugin] });
const binding = placeSshBinding('.', 'dist');
renameSync(`dist/agent.js${tmp}`, 'dist/agent.js');
renameSync(`dist/basyn.js${tmp}`, 'dist/basyn.js');
// The man page, from the same definitions as --help (scripts/build-man.mts; TypeScript, so through tsx).
execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build-man.mts', 'dist/basyn.1'], { stdio: 'inherit' });
console.log(`built dist/basyn.js, dist/agent.js and dist/basyn.1 (build ${buildId}); ssh2's crypto binding ${binding ? 'copied to dist/sshcrypto.node' : 'was not built (npm ci without install scripts or without a compiler): ssh2 uses its slower fallback'}`);

// A private build of basyn for the benchmark: the same two esbuild bundles as scripts/build.mjs, written
// to a temp dir instead of dist/. Other people rebuild dist/ while a bench runs, and a controller refuses
// an agent of another build, so the bench must not share dist/ with them. The controller loads agent.js
// from its own directory, so `node <dir>/basyn.js` is a complete basyn.
import { build, type BuildOptions } from 'esbuild';
import { createHash, type Hash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { placeSshBinding, sshBindingPlugin } from './ssh-binding.mjs';

const ROOT = join(__dirname, '..');

export interface BenchBuild {
  readonly dir: string;
  /** `node <controller>` runs basyn. */
  readonly controller: string;
  readonly buildId: string;
}

/** Same digest as scripts/build.mjs: every file under src/ (named relative to the tree), so the id changes with the code. */
function sourceDigest(tree: string, dir: string, hash: Hash): Hash {
  for (const name of readdirSync(join(tree, dir)).sort()) {
    const relative = join(dir, name);
    if (statSync(join(tree, relative)).isDirectory()) sourceDigest(tree, relative, hash);
    else {
      hash.update(relative);
      hash.update(readFileSync(join(tree, relative)));
    }
  }
  return hash;
}

/**
 * Builds `tree`/src (default: this checkout) into `dir`. Another tree, e.g. `git archive HEAD src | tar -x -C T`,
 * lets one compare two versions of the code with the same bench; its imports resolve from our node_modules.
 */
export async function buildPrivateCopy(dir: string, tree = ROOT): Promise<BenchBuild> {
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const buildId = `${version}+${sourceDigest(tree, 'src', createHash('sha256')).digest('hex').slice(0, 12)}`;
  const common: BuildOptions = {
    bundle: true,
    platform: 'node',
    target: 'node18',
    format: 'cjs',
    logLevel: 'warning',
    absWorkingDir: tree,
    nodePaths: [join(ROOT, 'node_modules')],
    define: { BASYN_BUILD_ID: JSON.stringify(buildId), BASYN_VERSION: JSON.stringify(version) },
  };
  // The agent's hashing threads, embedded as a string as scripts/build.mjs does (a tree from before them has none).
  if (existsSync(join(tree, 'src/remote/hash-worker.ts'))) {
    const worker = await build({ ...common, entryPoints: ['src/remote/hash-worker.ts'], write: false, minify: true });
    common.define = { ...common.define, BASYN_HASH_WORKER_SOURCE: JSON.stringify(worker.outputFiles[0].text) };
  }
  await build({ ...common, entryPoints: ['src/remote/agent.ts'], outfile: join(dir, 'agent.js'), minify: true });
  await build({ ...common, entryPoints: ['src/local/main.ts'], outfile: join(dir, 'basyn.js'), external: ['cpu-features', '*.node'], plugins: [sshBindingPlugin] });
  placeSshBinding(ROOT, dir); // ssh2's crypto binding beside the bundle, as in dist/
  return { dir, controller: join(dir, 'basyn.js'), buildId };
}

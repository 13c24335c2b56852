// Installs basyn as a user does and runs the installed command. A copy of the sources (without dist/)
// is packed with `npm pack`, whose prepack script must build dist/ from scratch; the tarball is checked
// for what a user needs and nothing else, installed offline with `npm install -g --prefix TEMP` (basyn
// has no runtime dependencies: everything is bundled), and the installed `basyn` runs --version,
// --help, a local SYNC, a SYNC over the private sshd, `man basyn` and its bash completion.
//
// The copy is packed under another version (X.Y.Z-packtest), so the installed build id differs from the
// checkout's: a sync over SSH only succeeds when the agent uploaded is the installed one (the HELLO's
// build must match the controller's), and the installed check-host names that build.
import test from 'ava';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { patch, sha256File, tempDir, writeRandom } from './helpers/images';
import { startSshd, type Sshd } from './helpers/sshd';
import { SKIP_SSH } from './helpers/ssh-test';

const ROOT = join(__dirname, '..');
const temp = tempDir('basyn-install-');
const prefix = temp.path('prefix');
const installed = join(prefix, 'bin', 'basyn');
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const PACK_VERSION = `${version}-packtest`;

/** npm's environment without what an enclosing `npm test` sets (its prefix, its lifecycle). */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!/^npm_/i.test(key)) env[key] = value;
  return { ...env, PATH: `${join(prefix, 'bin')}:${process.env.PATH}`, HOME: temp.path('home'), ...extra };
}

interface Run { code: number | null; stdout: string; stderr: string }

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
    child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${command} ${args.join(' ')} timed out`)); }, 300_000);
    child.once('error', reject);
    child.once('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

let tarball = '';
let packed: string[] = [];
let sshd: Sshd | undefined;

test.before(async () => {
  mkdirSync(temp.path('home'));
  // The sources as a clone has them, without dist/; node_modules is the checkout's (dev dependencies).
  const copy = temp.path('source');
  mkdirSync(copy);
  for (const name of ['src', 'scripts', 'bin', 'docs', 'README.md', 'bitmap-format.md', 'patch-format.md', 'tsconfig.json', 'package-lock.json']) {
    cpSync(join(ROOT, name), join(copy, name), { recursive: true });
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(copy, 'package.json'), JSON.stringify({ ...pkg, version: PACK_VERSION }, null, 2));
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
  // Also present in a checkout, and never to be packed.
  mkdirSync(join(copy, 'test'));
  writeFileSync(join(copy, 'test', 'x.test.ts'), '');
  mkdirSync(join(copy, '.ci'));
  writeFileSync(join(copy, '.ci', 'run'), '');

  const out = temp.path('pack');
  mkdirSync(out);
  const pack = await run('npm', ['pack', '--pack-destination', out, '--no-audit', '--no-fund'], { cwd: copy });
  if (pack.code !== 0) throw new Error(`npm pack failed: ${pack.stderr}`);
  const [name] = readdirSync(out).filter((file) => file.endsWith('.tgz'));
  if (!name) throw new Error(`npm pack made no tarball: ${pack.stdout}`);
  tarball = join(out, name);
  packed = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean).map((path) => path.replace(/^package\//, '')).sort();

  // --offline: only npm's cache, never the network (nothing to fetch: no runtime dependencies).
  const install = await run('npm', ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', tarball]);
  if (install.code !== 0) throw new Error(`npm install -g failed: ${install.stderr}`);
  if (!SKIP_SSH) sshd = await startSshd();
});

test.after.always(async () => {
  await sshd?.stop();
  temp.cleanup();
});

test('the tarball holds what a user needs (dist/ built by prepack, bin, docs, the man page) and nothing else', (t) => {
  for (const file of ['bin/basyn', 'dist/basyn.js', 'dist/agent.js', 'dist/basyn.1', 'README.md', 'bitmap-format.md', 'patch-format.md', 'docs/protocol.md', 'docs/errors.md', 'package.json']) {
    t.true(packed.includes(file), `${file} is packed`);
  }
  t.deepEqual(packed.filter((file) => /^(src|test|scripts|\.ci|node_modules)\/|tsconfig|eslint|package-lock/.test(file)), [], 'no sources, tests, scripts or CI files');
  const manifest = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' })) as Record<string, unknown>;
  t.deepEqual(manifest.dependencies ?? {}, {}, 'no runtime dependencies: dist/ is bundled');
  t.deepEqual(manifest.man, ['./dist/basyn.1']);
});

test('the installed basyn: --version names the installed build, --help ends with examples', async (t) => {
  t.true(existsSync(installed), `${installed} exists`);
  const result = await run('basyn', ['--version']);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, new RegExp(`^basyn ${PACK_VERSION.replace(/\./g, '\\.')} \\(build ${PACK_VERSION.replace(/\./g, '\\.')}\\+[0-9a-f]{12}, protocol \\d+, node v`));
  const help = await run('basyn', ['--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /\nExamples:\n {2}# .*\n {2}basyn /);
});

test('the installed basyn syncs two image files on this machine', async (t) => {
  const [a, b] = [temp.path('local-a.img'), temp.path('local-b.img')];
  writeRandom(a, 3 * 1024 * 1024);
  writeRandom(b, 3 * 1024 * 1024);
  patch(b, 0, Buffer.alloc(10));
  const result = await run('basyn', ['-l', a, '-r', b, '-a', 'PUSH', '-m', 'SYNC']);
  t.is(result.code, 0, result.stderr);
  t.is(await sha256File(b), await sha256File(a));
  t.true(readFileSync(a).equals(readFileSync(b)), 'byte for byte');
});

(SKIP_SSH ? test.skip : test)('the installed basyn syncs over SSH, uploading the installed agent', async (t) => {
  const server = sshd as Sshd;
  const [a, b] = [temp.path('ssh-a.img'), temp.path('ssh-b.img')];
  writeRandom(a, 3 * 1024 * 1024);
  writeRandom(b, 3 * 1024 * 1024);
  const result = await run('basyn', [
    '-l', a, '-r', b, '-h', server.host, '-p', String(server.port), '-u', server.user, '-i', server.keyPath,
    '--known-hosts', server.knownHostsPath, '-a', 'PUSH', '-m', 'SYNC', '--debug',
  ], { env: cleanEnv({ SSH_AUTH_SOCK: '' }) });
  t.is(result.code, 0, result.stderr);
  t.true(readFileSync(a).equals(readFileSync(b)), 'byte for byte');
  // ssh2's native crypto binding ships in the tarball beside the bundle when the packing checkout built it.
  if (packed.includes('dist/sshcrypto.node')) t.regex(result.stderr, /^debug: remote link .*ssh2's native crypto binding loaded$/m);
  else if (process.env.CI) t.fail('dist/sshcrypto.node is not in the tarball: ssh2\'s install script did not build its binding');
  const installedAgent = readFileSync(join(prefix, 'lib', 'node_modules', 'basyn', 'dist', 'agent.js'), 'utf8');
  const build = /"(\d+\.\d+\.\d+-packtest\+[0-9a-f]{12})"/.exec(installedAgent)?.[1];
  t.truthy(build, 'the installed agent carries the packtest build id');
  const checkout = readFileSync(join(ROOT, 'dist', 'agent.js'), 'utf8');
  t.false(checkout.includes(`"${build}"`), 'the checkout\'s agent is another build');
  // The HELLO check passed (the run succeeded), so the remote agent is the installed build; check-host names it.
  const check = await run('basyn', ['check-host', server.host, '-p', String(server.port), '-u', server.user, '-i', server.keyPath, '--known-hosts', server.knownHostsPath], { env: cleanEnv({ SSH_AUTH_SOCK: '' }) });
  t.is(check.code, 0, check.stderr);
  t.true(check.stdout.includes(`agent: uploaded and started (build ${build},`), check.stdout);
});

test('man basyn works from the install prefix', (t) => {
  const page = join(prefix, 'share', 'man', 'man1', 'basyn.1');
  t.true(existsSync(page), 'npm linked the man page into PREFIX/share/man/man1');
  const result = spawnSync('man', ['basyn'], { encoding: 'utf8', env: cleanEnv({ MANPATH: join(prefix, 'share', 'man'), MANPAGER: 'cat', PAGER: 'cat', MANWIDTH: '80' }) });
  if (result.error || result.status === null) {
    if (process.env.CI) t.fail(`man(1) cannot run (.ci/run installs man-db): ${result.error?.message}`);
    else t.log('man(1) is not installed here: only checked that the page is in place');
    return;
  }
  t.is(result.status, 0, result.stderr);
  // eslint-disable-next-line no-control-regex -- man may overstrike (x BACKSPACE x) for bold
  const text = result.stdout.replace(/.\u0008/g, '');
  t.regex(text, /^NAME\n\s+basyn\s+-\s+keep\s+two\s+block\s+devices/m);
  t.regex(text, /^EXIT STATUS$/m);
  t.regex(text, /--known-hosts/);
});

test('the installed basyn completes in bash', async (t) => {
  const script = await run('basyn', ['completion', 'bash']);
  t.is(script.code, 0, script.stderr);
  writeFileSync(temp.path('basyn.bash'), script.stdout);
  const result = spawnSync('bash', ['--norc', '--noprofile', '-c', 'source "$1"; COMP_WORDS=(basyn -m ""); COMP_CWORD=2; _basyn; printf "%s\\n" "${COMPREPLY[@]}"', 'bash', temp.path('basyn.bash')], { encoding: 'utf8' });
  t.is(result.status, 0, result.stderr);
  t.deepEqual(result.stdout.split('\n').filter(Boolean).sort(), ['COPY', 'SYNC']);
});

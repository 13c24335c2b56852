// Resolving where and how to connect: command line first, then the OpenSSH config, then defaults.
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConnectionOptions } from '../src/local/options';
import { parseJumpHost, resolveConnection } from '../src/local/transport/ssh-config';
import { UsageError } from '../src/shared/errors';
import { tempDir } from './helpers/images';

const scratch = tempDir('basyn-ssh-config-');
const home = scratch.path('home');
mkdirSync(join(home, '.ssh', 'conf.d'), { recursive: true });
const environment = { home, localUser: 'me' };
test.after.always(() => scratch.cleanup());

function config(text: string): string {
  const path = scratch.path(`config-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, text);
  return path;
}

function connection(overrides: Partial<ConnectionOptions>): ConnectionOptions {
  return { host: 'box', identities: [], knownHosts: [], acceptNew: false, sshOptions: {}, interactive: false, ...overrides };
}

const BOX = config([
  'Host box', '  HostName box.%h.internal', '  Port 2200', '  User alice', '  IdentityFile ~/.ssh/box_%r_%p',
  '  ServerAliveInterval 7', '  ConnectTimeout 3', '  UserKnownHostsFile ~/kh1 ~/kh2', '',
  'Host *', '  Port 9', '  User nobody', '  IdentityFile /etc/fallback_key', '  StrictHostKeyChecking accept-new', '',
].join('\n'));

test('config values, first match wins, tokens and ~ expanded, identity files add up', (t) => {
  const { target, jumps } = resolveConnection(connection({ sshConfig: BOX }), environment);
  t.is(target.alias, 'box');
  t.is(target.host, 'box.box.internal');
  t.is(target.port, 2200);
  t.is(target.user, 'alice');
  t.deepEqual(target.identityFiles, [join(home, '.ssh/box_alice_2200'), '/etc/fallback_key']);
  t.is(target.keepaliveIntervalMs, 7000);
  t.is(target.keepaliveCountMax, 3);
  t.is(target.connectTimeoutMs, 3000);
  t.deepEqual(target.knownHostsFiles, [join(home, 'kh1'), join(home, 'kh2'), '/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']);
  t.is(target.strictHostKeyChecking, 'accept-new');
  t.deepEqual(jumps, []);
});

test('the command line wins: -p, -u, -i first, -o over the config, --known-hosts replaces all files', (t) => {
  const { target } = resolveConnection(connection({
    sshConfig: BOX, port: 22, user: 'bob', identities: ['/cli_key'], knownHosts: ['/only_kh'],
    sshOptions: { identityfile: '/o_key', hostname: 'direct.example', serveraliveinterval: '0', stricthostkeychecking: 'yes' },
  }), environment);
  t.is(target.port, 22);
  t.is(target.user, 'bob');
  t.is(target.host, 'direct.example');
  t.deepEqual(target.identityFiles, ['/cli_key', '/o_key', join(home, '.ssh/box_bob_22'), '/etc/fallback_key']);
  t.deepEqual(target.knownHostsFiles, ['/only_kh']);
  t.is(target.keepaliveIntervalMs, 0, 'ServerAliveInterval 0 turns keepalives off');
  t.is(target.strictHostKeyChecking, 'yes');
  t.is(resolveConnection(connection({ sshConfig: BOX, acceptNew: true, sshOptions: { stricthostkeychecking: 'yes' } }), environment).target.strictHostKeyChecking, 'accept-new');
});

test('defaults: ~/.ssh/config when present, local user, port 22, default keys, keepalives on, strict checking', (t) => {
  writeFileSync(join(home, '.ssh', 'config'), '');
  const { target } = resolveConnection(connection({ host: 'plain' }), environment);
  t.is(target.host, 'plain');
  t.is(target.port, 22);
  t.is(target.user, 'me');
  t.deepEqual(target.identityFiles, ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((name) => join(home, '.ssh', name)));
  t.false(target.explicitIdentities);
  t.is(target.keepaliveIntervalMs, 15_000);
  t.is(target.connectTimeoutMs, undefined);
  t.deepEqual(target.knownHostsFiles.slice(0, 2), [join(home, '.ssh/known_hosts'), join(home, '.ssh/known_hosts2')]);
  t.is(target.strictHostKeyChecking, 'yes');
});

test('Include (relative to ~/.ssh, with a glob) and Match host', (t) => {
  writeFileSync(join(home, '.ssh', 'conf.d', 'a.conf'), 'Host inc\n  Port 1234\n');
  writeFileSync(join(home, '.ssh', 'conf.d', 'b.conf'), 'Host inc\n  Port 9999\n  User included\n');
  const path = config('Include conf.d/*.conf\nMatch host matched\n  User m\n');
  t.is(resolveConnection(connection({ host: 'inc', sshConfig: path }), environment).target.port, 1234);
  t.is(resolveConnection(connection({ host: 'inc', sshConfig: path }), environment).target.user, 'included');
  t.is(resolveConnection(connection({ host: 'matched', sshConfig: path }), environment).target.user, 'm');
});

test('ProxyJump hops are resolved through the config too', (t) => {
  const path = config('Host target\n  ProxyJump j1, admin@j2:2022\nHost j1\n  HostName jump-one.example\n  User jumper\n');
  const { target, jumps } = resolveConnection(connection({ host: 'target', sshConfig: path, identities: ['/k'] }), environment);
  t.is(target.jumps.length, 2);
  t.deepEqual(jumps.map((hop) => [hop.host, hop.port, hop.user]), [['jump-one.example', 22, 'jumper'], ['j2', 2022, 'admin']]);
  t.is(jumps[0].identityFiles[0], '/k', '-i is offered to jump hosts too');
  t.deepEqual(resolveConnection(connection({ host: 'target', sshConfig: path, sshOptions: { proxyjump: 'none' } }), environment).target.jumps, []);
});

test('parseJumpHost: user@host:port, [v6]:port, ssh:// URIs', (t) => {
  t.deepEqual(parseJumpHost('u@h:22'), { host: 'h', port: 22, user: 'u' });
  t.deepEqual(parseJumpHost('[::1]:2200'), { host: '::1', port: 2200, user: undefined });
  t.deepEqual(parseJumpHost('ssh://a@b'), { host: 'b', port: undefined, user: 'a' });
  t.throws(() => parseJumpHost('h:port'), { instanceOf: UsageError });
});

test('bad input is a usage error with one line', (t) => {
  t.throws(() => resolveConnection(connection({ sshConfig: scratch.path('missing') }), environment), { instanceOf: UsageError, message: /ssh config file .* not found/ });
  t.throws(() => resolveConnection(connection({ sshConfig: config('Host box\n  Port many\n') }), environment), { instanceOf: UsageError, message: /Port must be a number/ });
  t.throws(() => resolveConnection(connection({ sshConfig: config('Host "box\n') }), environment), { instanceOf: UsageError, message: /cannot parse ssh config/ });
  t.throws(() => resolveConnection(connection({ sshConfig: BOX, sshOptions: { compression: 'yes' } }), environment), { instanceOf: UsageError, message: /-o compression is not supported .*--rsh/ });
  t.throws(() => resolveConnection(connection({ sshConfig: config('Host box\n  StrictHostKeyChecking maybe\n') }), environment), { instanceOf: UsageError });
});

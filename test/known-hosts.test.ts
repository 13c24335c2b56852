// known_hosts parsing and matching. Expected values come from OpenSSH's own tools (ssh-keygen -H for
// hashed names, ssh-keygen -l for fingerprints), not from our code.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import {
  appendKnownHost, checkHostKey, fingerprint, HostKeyVerifier, knownHostName, parseKnownHosts, preferredHostKeyAlgorithms,
} from '../src/local/transport/known-hosts';
import { tempDir } from './helpers/images';
import { keygen, keygenFingerprint } from './helpers/sshd';

const scratch = tempDir('basyn-known-hosts-');
test.after.always(() => scratch.cleanup());

function blob(publicKey: string): Buffer {
  return Buffer.from(publicKey.split(' ')[1], 'base64');
}

const ed = keygen(scratch.path('ed'));
const ed2 = keygen(scratch.path('ed2'));
const ecdsa = keygen(scratch.path('ecdsa'), 'ecdsa');
const rsa = keygen(scratch.path('rsa'), 'rsa');

test('names: plain on port 22, [host]:port otherwise, lowercased', (t) => {
  t.is(knownHostName('Example.COM', 22), 'example.com');
  t.is(knownHostName('10.0.0.1', 2222), '[10.0.0.1]:2222');
});

test('fingerprints are printed like ssh-keygen -l', (t) => {
  for (const name of ['ed', 'ecdsa', 'rsa']) {
    const publicKey = readFileSync(scratch.path(`${name}.pub`), 'utf8');
    t.is(fingerprint(blob(publicKey)), keygenFingerprint(scratch.path(`${name}.pub`)));
  }
});

test('plain entries: comma lists, [host]:port, wildcards, negation, comments, damaged lines', (t) => {
  const entries = parseKnownHosts([
    '# a comment',
    '',
    `alpha,Beta,[gamma]:2222 ${ed}`,
    `*.example.com,!bad.example.com ${ecdsa} comment here`,
    `delta ssh-ed25519 AAAAnot-a-key`,
    `epsilon ${rsa}`,
  ].join('\n'), 'kh');
  t.is(entries.length, 3, 'the damaged line is skipped');
  t.is(checkHostKey(entries, 'alpha', blob(ed)).status, 'known');
  t.is(checkHostKey(entries, 'beta', blob(ed)).status, 'known');
  t.is(checkHostKey(entries, '[gamma]:2222', blob(ed)).status, 'known');
  t.is(checkHostKey(entries, 'gamma', blob(ed)).status, 'unknown', 'port 22 is another name');
  t.is(checkHostKey(entries, 'www.example.com', blob(ecdsa)).status, 'known');
  t.is(checkHostKey(entries, 'bad.example.com', blob(ecdsa)).status, 'unknown', 'negated');
  t.is(checkHostKey(entries, 'epsilon', blob(rsa)).status, 'known');
  const changed = checkHostKey(entries, 'alpha', blob(ed2));
  t.is(changed.status, 'changed');
  if (changed.status === 'changed') t.is(changed.entry.line, 3);
  const otherType = checkHostKey(entries, 'alpha', blob(ecdsa));
  t.deepEqual(otherType, { status: 'unknown', otherTypes: ['ssh-ed25519'] }, 'a key of another type is not a change');
});

test('hashed entries written by ssh-keygen -H match their name only', (t) => {
  const file = scratch.path('hashed');
  writeFileSync(file, `[gamma]:2222 ${ed}\nzeta ${ecdsa}\n`);
  execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
  const entries = parseKnownHosts(readFileSync(file, 'utf8'), file);
  t.true(entries.every((entry) => entry.patterns[0].startsWith('|1|')));
  t.is(checkHostKey(entries, '[gamma]:2222', blob(ed)).status, 'known');
  t.is(checkHostKey(entries, '[gamma]:2223', blob(ed)).status, 'unknown');
  t.is(checkHostKey(entries, 'zeta', blob(ecdsa)).status, 'known');
  t.is(checkHostKey(entries, 'zeta', keygenBlob('ecdsa2', 'ecdsa')).status, 'changed');
});

function keygenBlob(name: string, type: string): Buffer {
  return blob(keygen(scratch.path(name), type));
}

test('@revoked keys are refused even when also listed as known; @cert-authority lines are not host keys', (t) => {
  const entries = parseKnownHosts(`alpha ${ed}\n@revoked * ${ed}\n@cert-authority beta ${ecdsa}\n`, 'kh');
  t.is(checkHostKey(entries, 'alpha', blob(ed)).status, 'revoked');
  t.is(checkHostKey(entries, 'beta', blob(ecdsa)).status, 'unknown');
});

test('host key algorithms already known for the host are offered first', (t) => {
  const defaults = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  const entries = parseKnownHosts(`alpha ${rsa}\n`, 'kh');
  t.deepEqual(preferredHostKeyAlgorithms(entries, 'alpha', defaults), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ssh-ed25519', 'ecdsa-sha2-nistp256']);
  t.deepEqual(preferredHostKeyAlgorithms(entries, 'other', defaults), defaults);
});

test('appendKnownHost creates the file 0600 and keeps lines whole', (t) => {
  const file = scratch.path('dir/new_known_hosts');
  appendKnownHost(file, '[h]:2', blob(ed));
  t.is(statSync(file).mode & 0o777, 0o600);
  writeFileSync(file, readFileSync(file, 'utf8').trimEnd()); // a file without its last newline
  appendKnownHost(file, 'k', blob(ecdsa));
  t.is(readFileSync(file, 'utf8'), `[h]:2 ${ed}\nk ${ecdsa}\n`);
});

test('the verifier: unknown refused (yes), recorded (accept-new), changed refused (accept-new)', (t) => {
  const file = scratch.path('verifier_known_hosts');
  const strict = new HostKeyVerifier({ host: 'Host.Example', port: 2200, files: [file], strict: 'yes' });
  t.false(strict.verify(blob(ed)));
  t.regex(strict.failure?.message ?? '', /^Host key for \[host\.example\]:2200 is not known; the server offered ED25519 key SHA256:/);
  const accepting = new HostKeyVerifier({ host: 'Host.Example', port: 2200, files: [file], strict: 'accept-new' });
  t.true(accepting.verify(blob(ed)));
  t.is(readFileSync(file, 'utf8'), `[host.example]:2200 ${ed}\n`);
  const later = new HostKeyVerifier({ host: 'host.example', port: 2200, files: [file], strict: 'accept-new' });
  t.false(later.verify(blob(ed2)));
  t.is(later.failure?.code, 'EHOSTKEY_CHANGED');
  t.is(readFileSync(file, 'utf8'), `[host.example]:2200 ${ed}\n`);
  const aliased = new HostKeyVerifier({ host: '10.1.1.1', port: 2200, alias: 'host.example', files: [file], strict: 'yes' });
  t.false(aliased.verify(blob(ed)), 'HostKeyAlias is looked up as given, without the port');
});

test('a key of a new type for a host known with another type is refused even with accept-new and no, naming the known types', (t) => {
  for (const strict of ['accept-new', 'no', 'yes'] as const) {
    const file = scratch.path(`downgrade_${strict}`);
    const content = `[host.example]:2200 ${ed}\nother.example ${rsa}\n`;
    writeFileSync(file, content);
    const verifier = new HostKeyVerifier({ host: 'host.example', port: 2200, files: [file], strict });
    t.false(verifier.verify(blob(rsa)), strict);
    t.is(verifier.failure?.code, 'EHOSTKEY_TYPE');
    t.is(verifier.failure?.exitCode, 2);
    const message = verifier.failure?.message ?? '';
    t.true(message.startsWith(`Host key for [host.example]:2200 is known only as ssh-ed25519 (${file}:1), but the server offered RSA key ${keygenFingerprint(scratch.path('rsa.pub'))}`), message);
    t.false(message.includes('\n'));
    t.is(readFileSync(file, 'utf8'), content, 'nothing recorded');
  }
  // Several known types are all named.
  const file = scratch.path('downgrade_two');
  writeFileSync(file, `[h]:2 ${ed}\n[h]:2 ${ecdsa}\n`);
  const verifier = new HostKeyVerifier({ host: 'h', port: 2, files: [file], strict: 'accept-new' });
  t.false(verifier.verify(blob(rsa)));
  t.regex(verifier.failure?.message ?? '', /is known only as ssh-ed25519, ecdsa-sha2-nistp256 \(.*:1, .*:2\)/);
});

test('a rekey must show the key accepted first; accepting it again records nothing twice', (t) => {
  const file = scratch.path('rekey_known_hosts');
  const verifier = new HostKeyVerifier({ host: 'h', port: 22, files: [file], strict: 'accept-new' });
  t.true(verifier.verify(blob(ed)), 'first key exchange: recorded');
  t.true(verifier.verify(blob(ed)), 'rekey with the same key');
  t.is(readFileSync(file, 'utf8'), `h ${ed}\n`, 'one line after a rekey');
  t.false(verifier.verify(blob(ecdsa)), 'rekey with another key');
  t.is(verifier.failure?.code, 'EHOSTKEY_CHANGED');
  t.regex(verifier.failure?.message ?? '', /changed during the connection/);
  t.is(readFileSync(file, 'utf8'), `h ${ed}\n`);
});

test('appendKnownHost leaves a file that already has the key for the name as it is (two runs accepting at once)', (t) => {
  const file = scratch.path('dedup_known_hosts');
  appendKnownHost(file, '[h]:2', blob(ed));
  appendKnownHost(file, '[h]:2', blob(ed));
  t.is(readFileSync(file, 'utf8'), `[h]:2 ${ed}\n`);
  appendKnownHost(file, '[h]:3', blob(ed));
  t.is(readFileSync(file, 'utf8'), `[h]:2 ${ed}\n[h]:3 ${ed}\n`, 'the same key under another name is another line');
  // Two verifiers made before either recorded (two runs started together): one line.
  const racing = scratch.path('racing_known_hosts');
  const first = new HostKeyVerifier({ host: 'h', port: 22, files: [racing], strict: 'accept-new' });
  const second = new HostKeyVerifier({ host: 'h', port: 22, files: [racing], strict: 'accept-new' });
  t.true(first.verify(blob(ed)));
  t.true(second.verify(blob(ed)));
  t.is(readFileSync(racing, 'utf8'), `h ${ed}\n`);
});

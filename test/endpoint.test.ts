// The endpoint parser (src/local/endpoint.ts), table-driven from docs/endpoints.md: every spelling
// both as SOURCE and as TARGET, and the spellings that must be refused (exit 1, naming the side).
import test from 'ava';
import { parseEndpoint, type Endpoint, type EndpointSide } from '../src/local/endpoint';
import { registerResourceScheme, withResources, type Resource } from '../src/local/resource';

type Expected =
  | { kind: 'local'; path: string }
  | { kind: 'remote'; host: string; user?: string; port?: number; path: string }
  | { kind: 'resource'; scheme: string };

const accepted: Array<[string, Expected]> = [
  ['/dev/sda1', { kind: 'local', path: '/dev/sda1' }],
  ['disk.img', { kind: 'local', path: 'disk.img' }],
  ['../images/disk.img', { kind: 'local', path: '../images/disk.img' }],
  ['./patch', { kind: 'local', path: './patch' }],
  ['./host:disk.img', { kind: 'local', path: './host:disk.img' }],
  ['/srv/a:b/disk.img', { kind: 'local', path: '/srv/a:b/disk.img' }],
  ['dir/x:y', { kind: 'local', path: 'dir/x:y' }],
  ['~/disk.img', { kind: 'local', path: '~/disk.img' }],
  ['file:///srv/disk.img', { kind: 'local', path: '/srv/disk.img' }],
  ['file://disk.img', { kind: 'local', path: 'disk.img' }],
  ['file://host:disk.img', { kind: 'local', path: 'host:disk.img' }],
  ['FILE:///x', { kind: 'local', path: '/x' }],
  ['backup:/dev/vg/copy', { kind: 'remote', host: 'backup', path: '/dev/vg/copy' }],
  ['backup:disk.img', { kind: 'remote', host: 'backup', path: 'disk.img' }],
  ['backup:~/disk.img', { kind: 'remote', host: 'backup', path: '~/disk.img' }],
  ['backup:~bob/disk.img', { kind: 'remote', host: 'backup', path: '~bob/disk.img' }],
  ['root@10.0.0.1:/dev/sda1', { kind: 'remote', host: '10.0.0.1', user: 'root', path: '/dev/sda1' }],
  ['a@b@host:x.img', { kind: 'remote', host: 'host', user: 'a@b', path: 'x.img' }],
  ['backup:a:b.img', { kind: 'remote', host: 'backup', path: 'a:b.img' }],
  ['[::1]:/srv/disk.img', { kind: 'remote', host: '::1', path: '/srv/disk.img' }],
  ['alice@[fe80::1%eth0]:disk.img', { kind: 'remote', host: 'fe80::1%eth0', user: 'alice', path: 'disk.img' }],
  ['ssh://backup/dev/vg/copy', { kind: 'remote', host: 'backup', path: '/dev/vg/copy' }],
  ['ssh://alice@backup:2222/srv/disk.img', { kind: 'remote', host: 'backup', user: 'alice', port: 2222, path: '/srv/disk.img' }],
  ['ssh://backup/./disk.img', { kind: 'remote', host: 'backup', path: 'disk.img' }],
  ['ssh://backup/./images/disk.img', { kind: 'remote', host: 'backup', path: 'images/disk.img' }],
  ['ssh://backup/~/disk.img', { kind: 'remote', host: 'backup', path: '~/disk.img' }],
  ['ssh://backup/~bob/disk.img', { kind: 'remote', host: 'backup', path: '~bob/disk.img' }],
  ['ssh://[::1]:2200/srv/disk.img', { kind: 'remote', host: '::1', port: 2200, path: '/srv/disk.img' }],
  ['ssh://root@[2001:db8::7]/dev/sdb', { kind: 'remote', host: '2001:db8::7', user: 'root', path: '/dev/sdb' }],
  ['SSH://backup/x.img', { kind: 'remote', host: 'backup', path: '/x.img' }],
  ['ssh://backup/srv/a:b.img', { kind: 'remote', host: 'backup', path: '/srv/a:b.img' }],
  ['test+res://vg/lv', { kind: 'resource', scheme: 'test+res' }],
];

const refused: Array<[string, RegExp]> = [
  ['', /is empty/],
  ['patch', /subcommand.*\.\/patch/],
  ['tasks', /subcommand/],
  ['completion', /subcommand/],
  ['check-host', /subcommand/],
  ['backup:', /no path after 'backup:'/],
  [':disk.img', /no host before ':'/],
  ['back up:x', /not a host name/],
  ['-oProxyCommand=x:y', /not a host name|cannot start with '-'/],
  ['@host:x', /not a user name/],
  ['-u@host:x', /not a user name/],
  ['[zz::1]:x', /not an IPv6 address/],
  ['backup:dir/', /directory/],
  ['backup:~', /directory/],
  ['ssh://backup', /needs a path/],
  ['ssh://backup/', /directory/],
  ['ssh://backup/./', /directory/],
  ['ssh://backup:0/x', /port must be a number from 1 to 65535/],
  ['ssh://backup:99999/x', /port must be a number from 1 to 65535/],
  ['ssh://-x/y', /cannot start with '-'/],
  ['ssh://@backup/x', /expected ssh:\/\/|not a user name/],
  ['file://', /needs a path/],
  ['nfs://server/x', /Unknown endpoint scheme 'nfs:\/\/'.*test\+res:\/\//],
  ['test+res://bad', /bad test resource/],
  ['disk\0.img', /NUL/],
];

function fakeResource(rest: string): Resource {
  return { description: `test resource ${rest}`, acquire: async () => `/dev/test/${rest}`, release: async () => undefined };
}
registerResourceScheme('test+res', (rest) => {
  if (rest === 'bad') throw new Error('bad test resource');
  return fakeResource(rest);
});

function summary(endpoint: Endpoint): Expected {
  if (endpoint.kind === 'resource') return { kind: 'resource', scheme: endpoint.scheme };
  if (endpoint.kind === 'local') return { kind: 'local', path: endpoint.path };
  return { kind: 'remote', host: endpoint.host, ...(endpoint.user ? { user: endpoint.user } : {}), ...(endpoint.port ? { port: endpoint.port } : {}), path: endpoint.path };
}

for (const side of ['source', 'target'] as EndpointSide[]) {
  for (const [spec, expected] of accepted) {
    test(`${side} ${JSON.stringify(spec)} is ${expected.kind}`, (t) => {
      const endpoint = parseEndpoint(spec, side);
      t.deepEqual(summary(endpoint), expected);
      t.is(endpoint.spec, spec);
    });
  }
  for (const [spec, message] of refused) {
    test(`${side} ${JSON.stringify(spec)} is refused`, (t) => {
      const error = t.throws(() => parseEndpoint(spec, side));
      t.regex(error?.message ?? '', message);
      // A spelling error of the endpoint itself names the side; a resource factory's own error passes through.
      if (!/bad test resource/.test(error?.message ?? '')) {
        t.is((error as { exitCode?: number }).exitCode, 1);
        if (!/^Unknown endpoint scheme/.test(error?.message ?? '')) t.regex(error?.message ?? '', side === 'source' ? /^SOURCE / : /^TARGET /);
      }
    });
  }
}

test('a resource factory learns the side and the whole spelling', (t) => {
  const seen: string[] = [];
  registerResourceScheme('test+side', (rest, context) => {
    seen.push(`${context.side} ${context.spec} ${rest}`);
    return fakeResource(rest);
  });
  parseEndpoint('test+side://a/b', 'source');
  parseEndpoint('TEST+SIDE://c', 'target');
  t.deepEqual(seen, ['source test+side://a/b a/b', 'target TEST+SIDE://c c']);
});

test('a scheme cannot be registered twice, nor take ssh:// or file://', (t) => {
  t.throws(() => registerResourceScheme('test+res', fakeResource), { message: /twice/ });
  t.throws(() => registerResourceScheme('ssh', fakeResource), { message: /endpoint form/ });
  t.throws(() => registerResourceScheme('file', fakeResource), { message: /endpoint form/ });
});

/** A resource that records its calls, failing where told. */
function recording(name: string, log: string[], fails: { acquire?: boolean; release?: boolean } = {}): Resource {
  return {
    description: name,
    acquire: async () => {
      log.push(`acquire ${name}`);
      if (fails.acquire) throw new Error(`acquire ${name} failed`);
      return `/dev/${name}`;
    },
    release: async () => {
      log.push(`release ${name}`);
      if (fails.release) throw new Error(`release ${name} failed`);
    },
  };
}

test('withResources: paths in order, released last first after the body', async (t) => {
  const log: string[] = [];
  const result = await withResources([recording('a', log), recording('b', log)], new AbortController().signal, async (paths) => {
    log.push(`body ${paths.join(' ')}`);
    return 7;
  });
  t.is(result, 7);
  t.deepEqual(log, ['acquire a', 'acquire b', 'body /dev/a /dev/b', 'release b', 'release a']);
});

test('withResources: a failed body still releases, and its error wins over a failed release', async (t) => {
  const log: string[] = [];
  const error = await t.throwsAsync(withResources([recording('a', log, { release: true })], new AbortController().signal, async () => {
    throw new Error('sync failed');
  }));
  t.is(error?.message, 'sync failed');
  t.deepEqual(log, ['acquire a', 'release a']);
});

test('withResources: a failed acquire releases it and the ones before, and the body never runs', async (t) => {
  const log: string[] = [];
  const error = await t.throwsAsync(withResources([recording('a', log), recording('b', log, { acquire: true }), recording('c', log)], new AbortController().signal, async () => {
    log.push('body');
  }));
  t.is(error?.message, 'acquire b failed');
  t.deepEqual(log, ['acquire a', 'acquire b', 'release b', 'release a']);
});

test('withResources: a failed release after a good run is the run\'s error', async (t) => {
  const log: string[] = [];
  const error = await t.throwsAsync(withResources([recording('a', log, { release: true })], new AbortController().signal, async () => 1));
  t.is(error?.message, 'release a failed');
});

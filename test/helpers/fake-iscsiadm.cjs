// A recording fake of open-iscsi's `iscsiadm` for the iscsi:// tests (this kernel has no iSCSI
// initiator). It logs every argv, keeps node records and sessions in a state folder, "logs in" by
// attaching each LUN's image file to a real loop device and making udev's by-path link to it, and
// fails on cue. Its folder is FAKE_ISCSI_DIR:
//   config.json  { byPath, portals: { "ADDR:PORT": { tpgt, targets: { IQN: { luns: { N: IMAGE }, chap? } } } },
//                  cues: { discovery?: "refused", login?: "timeout" | "auth", loginDelayMs?: N,
//                          logoutFailures?: N, noLun?: true } }
//   state.json   { nodes: { "IQN|ADDR:PORT": { settings } }, sessions: [...], nextSid }
//   calls.log    one JSON line per call: { argv, pid, ppid, parent: the caller's command line }
// Output and exit codes follow open-iscsi's (include/iscsi_err.h: 4 transport, 15 session exists,
// 21 nothing found, 24 authorization failure).
/* eslint-disable @typescript-eslint/no-require-imports */
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const dir = process.env.FAKE_ISCSI_DIR;
if (!dir) {
  process.stderr.write('fake iscsiadm: FAKE_ISCSI_DIR is not set\n');
  process.exit(1);
}
const argv = process.argv.slice(2);
/** The command line of the process that ran this one (basyn): what `ps` shows every local user. */
function parentCommandLine() {
  try {
    return fs.readFileSync(`/proc/${process.ppid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}
fs.appendFileSync(path.join(dir, 'calls.log'), `${JSON.stringify({ argv, pid: process.pid, ppid: process.ppid, parent: parentCommandLine() })}\n`);

const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
const cues = config.cues || {};

/** A spin lock around the state file (two basyn runs may call at once). */
function withState(body) {
  const lock = path.join(dir, 'state.lock');
  const deadline = Date.now() + 120_000; // generous: the test machine may be at load 50
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error('fake iscsiadm: state lock stuck');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
  try {
    const file = path.join(dir, 'state.json');
    const state = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : { nodes: {}, sessions: [], nextSid: 1 };
    const result = body(state);
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 1));
    fs.renameSync(`${file}.tmp`, file);
    return result;
  } finally {
    fs.rmdirSync(lock);
  }
}

function option(...names) {
  for (let i = 0; i < argv.length; i++) if (names.includes(argv[i])) return argv[i + 1];
  return undefined;
}
const has = (...names) => argv.some((arg) => names.includes(arg));
function fail(code, ...lines) {
  process.stderr.write(lines.map((line) => `iscsiadm: ${line}\n`).join(''));
  process.exit(code);
}

/** `-p ADDR:PORT[,TPGT]` or `[v6]:PORT[,TPGT]`. */
function portalOf(text) {
  const match = /^\[?([^\]]+?)\]?:(\d+)(?:,(\d+))?$/.exec(text || '');
  if (!match) fail(7, `cannot parse portal '${text}'`);
  return { address: match[1], port: Number(match[2]), key: `${match[1]}:${match[2]}` };
}
const bracket = (address) => (address.includes(':') ? `[${address}]` : address);

const mode = option('-m', '--mode');
if (mode === 'discovery') {
  const portal = portalOf(option('-p', '--portal'));
  const served = config.portals[portal.key];
  if (cues.discovery === 'refused' || !served) {
    fail(4, `cannot make connection to ${portal.address}: Connection refused`, 'connection login retries (reopen_max) 5 exceeded',
      'Could not perform SendTargets discovery: encountered connection failure');
  }
  for (const iqn of Object.keys(served.targets)) process.stdout.write(`${bracket(portal.address)}:${portal.port},${served.tpgt} ${iqn}\n`);
  process.exit(0);
}

if (mode === 'session') {
  const sessions = withState((state) => state.sessions);
  if (sessions.length === 0) fail(21, 'No active sessions.');
  for (const s of sessions) process.stdout.write(`tcp: [${s.sid}] ${bracket(s.address)}:${s.port},${s.tpgt} ${s.iqn} (non-flash)\n`);
  process.exit(0);
}

if (mode !== 'node') fail(7, `fake: mode '${mode}' not faked`);
const iqn = option('-T', '--targetname');
const portal = portalOf(option('-p', '--portal'));
const nodeKey = `${iqn}|${portal.key}`;
const op = option('-o', '--op');
const served = config.portals[portal.key];
const target = served && served.targets[iqn];

if (op === 'new') {
  withState((state) => { state.nodes[nodeKey] = { settings: {} }; });
  process.stdout.write(`New iSCSI node [tcp:[hw=,ip=,net_if=,iscsi_if=default] ${portal.address},${portal.port},${served ? served.tpgt : 1} ${iqn}] added\n`);
  process.exit(0);
}

// A slow login (a far or busy target): the delay comes before the state is locked.
if (has('-l', '--login') && cues.loginDelayMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, cues.loginDelayMs);

const code = withState((state) => {
  const node = state.nodes[nodeKey];
  const session = state.sessions.find((s) => s.iqn === iqn && s.address === portal.address && s.port === portal.port);
  if (op === 'update') {
    if (!node) return [21, 'No records found'];
    node.settings[option('-n', '--name')] = option('-v', '--value');
    return [0];
  }
  if (op === 'delete') {
    if (!node) return [21, 'No records found'];
    delete state.nodes[nodeKey];
    return [0];
  }
  if (has('-l', '--login')) {
    if (!node) return [21, 'No records found'];
    if (session) return [15, 'default: 1 session requested, but 1 already present.'];
    const where = `[iface: default, target: ${iqn}, portal: ${portal.address},${portal.port}]`;
    if (!target) return [19, `Could not login to ${where}.`, 'initiator reported error (19 - encountered non-retryable iSCSI login failure)'];
    if (cues.login === 'timeout') return [8, `Could not login to ${where}.`, 'initiator reported error (8 - connection timed out)'];
    const chap = target.chap;
    const settings = node.settings;
    if (cues.login === 'auth' || (chap && (settings['node.session.auth.username'] !== chap.username || settings['node.session.auth.password'] !== chap.password))) {
      return [24, `Could not login to ${where}.`, 'initiator reported error (24 - iSCSI login failed due to authorization failure)'];
    }
    const devices = {};
    if (!cues.noLun) {
      for (const [lun, image] of Object.entries(target.luns)) {
        const loop = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim();
        const link = path.join(config.byPath, `ip-${portal.address}:${portal.port}-iscsi-${iqn}-lun-${lun}`);
        fs.symlinkSync(loop, link);
        devices[lun] = { loop, link };
      }
    }
    state.sessions.push({ sid: state.nextSid++, iqn, address: portal.address, port: portal.port, tpgt: served.tpgt, devices });
    process.stdout.write(`Logging in to ${where}\nLogin to ${where} successful.\n`);
    return [0];
  }
  if (has('-u', '--logout')) {
    if (!session) return [21, 'No matching sessions found'];
    if (cues.logoutFailures > 0) {
      config.cues.logoutFailures--;
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 1));
      return [10, `Could not logout of [sid: ${session.sid}, target: ${iqn}, portal: ${portal.address},${portal.port}].`, 'initiator reported error (10 - iSCSI logout failed)'];
    }
    for (const { loop, link } of Object.values(session.devices)) {
      fs.rmSync(link, { force: true });
      execFileSync('losetup', ['--detach', loop]);
    }
    state.sessions = state.sessions.filter((s) => s !== session);
    process.stdout.write(`Logging out of session [sid: ${session.sid}, target: ${iqn}, portal: ${portal.address},${portal.port}]\nLogout of [sid: ${session.sid}, target: ${iqn}, portal: ${portal.address},${portal.port}] successful.\n`);
    return [0];
  }
  if (op === undefined || op === 'show') {
    if (!node) return [21, 'No records found'];
    process.stdout.write(`# BEGIN RECORD\nnode.name = ${iqn}\nnode.conn[0].address = ${portal.address}\n# END RECORD\n`);
    return [0];
  }
  return [7, `fake: node operation not faked: ${argv.join(' ')}`];
});
if (code[0] !== 0) fail(code[0], ...code.slice(1));

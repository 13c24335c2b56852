// A recording fake `lvm` (this machine has no device-mapper): an executable `lvm` in its own folder,
// to put first on PATH (or name as lvm_program_path). It logs every argv, keeps volume groups as
// folders of plain files (a snapshot is a copy of its origin's file, with its tags and origin beside
// it), and fails or stalls on cue. It implements only what resources/lvm-snapshot.ts runs:
//   lvm lvcreate --snapshot --name NAME --addtag TAG (--size Nb | --extents X) VG/LV
//   lvm lvs --noheadings [--separator S] -o FIELDS VG | VG/LV     FIELDS of lv_name, lv_tags, origin, lv_path
//   lvm lvremove --force VG/LV
// Cues: fail(sub, n) makes the next n calls of `lvm sub` fail (exit 5, as LVM's ECMD_FAILED), 'always'
// every call; stall(sub, ms) makes each call wait first (to land a signal while it runs).
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const SCRIPT = String.raw`
const fs = require('fs');
const path = require('path');
const root = ROOT;
const argv = process.argv.slice(2);
fs.appendFileSync(path.join(root, 'log'), JSON.stringify(argv) + '\n');
const sub = argv[0];
const fail = (text) => { process.stderr.write('  ' + text + '\n'); process.exit(5); };
const stall = path.join(root, 'stall-' + sub);
if (fs.existsSync(stall)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(fs.readFileSync(stall, 'utf8')));
const cue = path.join(root, 'fail-' + sub);
if (fs.existsSync(cue)) {
  const left = fs.readFileSync(cue, 'utf8').trim();
  if (left === 'always' || Number(left) > 0) {
    if (left !== 'always') fs.writeFileSync(cue, String(Number(left) - 1));
    fail(sub + ': failed on cue (fake lvm)');
  }
}
const option = (name) => { const at = argv.indexOf(name); return at >= 0 ? argv[at + 1] : undefined; };
const volume = (spec) => { const [vg, lv] = spec.split('/'); return { vg, lv, file: path.join(root, 'vg', vg, lv || '') }; };
const meta = (file) => JSON.parse(fs.readFileSync(file + '.meta', 'utf8'));
const last = argv[argv.length - 1];
if (sub === 'lvcreate') {
  if (!argv.includes('--snapshot')) fail('only snapshots here');
  const origin = volume(last);
  if (!fs.existsSync(origin.file)) fail('Volume group "' + origin.vg + '" has no logical volume "' + origin.lv + '"');
  const snapshot = path.join(root, 'vg', origin.vg, option('--name'));
  if (fs.existsSync(snapshot)) fail('Logical volume "' + option('--name') + '" already exists');
  fs.copyFileSync(origin.file, snapshot);
  fs.writeFileSync(snapshot + '.meta', JSON.stringify({ tags: [option('--addtag')].filter(Boolean), origin: origin.lv }));
  process.stdout.write('  Logical volume "' + option('--name') + '" created.\n');
} else if (sub === 'lvs') {
  const fields = option('-o').split(',');
  const separator = option('--separator') || ' ';
  const target = volume(last);
  const names = target.lv ? [target.lv] : fs.readdirSync(path.dirname(target.file + '/x')).filter((name) => !name.endsWith('.meta'));
  if (target.lv && !fs.existsSync(target.file)) fail('Failed to find logical volume "' + last + '"');
  for (const name of names) {
    const file = path.join(root, 'vg', target.vg, name);
    const info = fs.existsSync(file + '.meta') ? meta(file) : { tags: [], origin: '' };
    const cell = { lv_name: name, lv_tags: info.tags.join(','), origin: info.origin, lv_path: file };
    process.stdout.write('  ' + fields.map((field) => cell[field]).join(separator) + '\n');
  }
} else if (sub === 'lvremove') {
  const target = volume(last);
  if (!fs.existsSync(target.file)) fail('Failed to find logical volume "' + last + '"');
  fs.rmSync(target.file);
  fs.rmSync(target.file + '.meta', { force: true });
  process.stdout.write('  Logical volume "' + target.lv + '" successfully removed.\n');
} else {
  fail('fake lvm: unknown command ' + sub);
}
`;

export class FakeLvm {
  /** The folder holding `lvm` (put it first on PATH). */
  readonly bin: string;
  readonly program: string;

  constructor(readonly root: string) {
    this.bin = join(root, 'bin');
    this.program = join(this.bin, 'lvm');
    mkdirSync(this.bin, { recursive: true });
    mkdirSync(join(root, 'vg'), { recursive: true });
    writeFileSync(this.program, `#!${process.execPath}\nconst ROOT = ${JSON.stringify(root)};\n${SCRIPT}`);
    chmodSync(this.program, 0o755);
  }

  /** A logical volume VG/LV holding `content`; returns its file. */
  addVolume(vg: string, lv: string, content: Buffer): string {
    mkdirSync(join(this.root, 'vg', vg), { recursive: true });
    const file = join(this.root, 'vg', vg, lv);
    writeFileSync(file, content);
    return file;
  }

  /** A snapshot as another run (or an admin) would have left it. */
  addSnapshot(vg: string, name: string, origin: string, tags: string[]): void {
    const file = join(this.root, 'vg', vg, name);
    copyFileSync(join(this.root, 'vg', vg, origin), file);
    writeFileSync(`${file}.meta`, JSON.stringify({ tags, origin }));
  }

  /** The volumes of `vg` (origins and snapshots). */
  volumes(vg: string): string[] {
    return readdirSync(join(this.root, 'vg', vg)).filter((name) => !name.endsWith('.meta')).sort();
  }

  /** Every call so far, as argv arrays. */
  calls(): string[][] {
    const log = join(this.root, 'log');
    return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as string[]) : [];
  }

  fail(subcommand: string, times: number | 'always'): void {
    writeFileSync(join(this.root, `fail-${subcommand}`), String(times));
  }

  stall(subcommand: string, ms: number): void {
    writeFileSync(join(this.root, `stall-${subcommand}`), String(ms));
  }

  clearCues(): void {
    for (const name of readdirSync(this.root)) if (/^(fail|stall)-/.test(name)) writeFileSync(join(this.root, name), '0');
  }
}

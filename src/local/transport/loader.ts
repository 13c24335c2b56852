// The loader: a tiny program given to `node -e` on the agent's side. It reads the agent bundle from
// stdin as   u32 length | 32 bytes SHA-256 | bundle   (little-endian), checks the digest, and runs
// it in the same process; the agent then speaks the protocol on the same stdin/stdout. Nothing is
// written to disk on the agent's side. It contains no single quote, so it can be single-quoted
// for a remote shell.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const MIN_REMOTE_NODE_MAJOR = 18;
/** Exit codes of the loader itself (the agent uses 0 and 2). */
export const LOADER_EXIT_OLD_NODE = 90;
export const LOADER_EXIT_BAD_BUNDLE = 91;

export const LOADER_SOURCE = [
  `if(+process.versions.node.split(".")[0]<${MIN_REMOTE_NODE_MAJOR}){`,
  `process.stderr.write("basyn: node "+process.version+" is too old, need >= ${MIN_REMOTE_NODE_MAJOR}\\n");process.exit(${LOADER_EXIT_OLD_NODE})}`,
  'const s=process.stdin;let b=Buffer.alloc(0);',
  'const f=d=>{b=Buffer.concat([b,d]);if(b.length<36)return;const n=b.readUInt32LE(0);if(b.length<36+n)return;',
  's.removeListener("data",f);s.pause();const c=b.subarray(36,36+n);',
  'if(!require("crypto").createHash("sha256").update(c).digest().equals(b.subarray(4,36))){',
  `process.stderr.write("basyn: agent upload corrupted\\n");process.exit(${LOADER_EXIT_BAD_BUNDLE})}`,
  'if(b.length>36+n)s.unshift(b.subarray(36+n));',
  'new Function("require",c.toString())(require)};',
  's.on("data",f);',
].join('');

let cachedBundle: Buffer | undefined;

/** The agent bundle built next to the controller (dist/agent.js). */
export function agentBundle(): Buffer {
  cachedBundle ??= readFileSync(join(__dirname, 'agent.js'));
  return cachedBundle;
}

/** What the controller writes first on the agent's stdin. */
export function uploadPayload(bundle: Buffer = agentBundle()): Buffer {
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32LE(bundle.length);
  return Buffer.concat([header, createHash('sha256').update(bundle).digest(), bundle]);
}

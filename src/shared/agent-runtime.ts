// The agent's first LOG, right after its HELLO: the node it runs on. The controller shows it under
// --debug (useful in bug reports) and `basyn check-host` reports it. One place makes and reads the text.

const PREFIX = 'runtime: node ';

export interface AgentRuntime {
  /** process.version of the agent's node, e.g. v20.11.1. */
  readonly node: string;
  /** process.platform and process.arch, e.g. linux x64. */
  readonly platform: string;
}

/** The LOG text the agent sends about itself. */
export function runtimeLogText(runtime: AgentRuntime = { node: process.version, platform: `${process.platform} ${process.arch}` }): string {
  return `${PREFIX}${runtime.node} (${runtime.platform})`;
}

/** The runtime a LOG text describes, or undefined for any other LOG. */
export function parseRuntimeLog(text: string): AgentRuntime | undefined {
  const match = /^runtime: node (v\d+\.\d+\.\d+\S*) \(([^)]*)\)$/.exec(text);
  return match ? { node: match[1], platform: match[2] } : undefined;
}

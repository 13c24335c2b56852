// BASYN_HASH_THREADS: the number of hashing threads of an agent (src/remote/hash-pool.ts). The agent
// reads it from its environment; the controller passes its own value on to remote agents, in the
// command that starts them (transport/agent-start.ts), so one setting covers both sides of a run.

export const HASH_THREADS_ENV = 'BASYN_HASH_THREADS';
/** More would only cost memory: a run has at most 32 buffers in flight per agent. */
export const MAX_HASH_THREADS = 64;

/** The number BASYN_HASH_THREADS asks for (a whole number >= 1, capped), or undefined when unset or not one. */
export function askedHashThreads(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const asked = Number(env[HASH_THREADS_ENV]);
  return Number.isInteger(asked) && asked >= 1 ? Math.min(asked, MAX_HASH_THREADS) : undefined;
}

// Every phase of starting an agent (TCP connect, SSH handshake, exec channel, agent start, HELLO) is
// bounded twice: by a timeout (ConnectTimeout, default 30 s), so that a server that never answers
// cannot hang a run, and by the run's AbortSignal, so that SIGINT/SIGTERM/SIGHUP end it at once.

/** How long each phase of reaching an agent may take when ConnectTimeout does not say. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;

export interface Deadline<T> {
  /** Milliseconds; undefined: no timeout (the abort signal still applies). */
  readonly ms?: number;
  /** The error when the time is up: one line naming the phase and the host. */
  readonly timeout: () => Error;
  /** Aborting rejects with the signal's reason (the "Interrupted by ..." error). */
  readonly abort?: AbortSignal;
  /** Undoes the phase's work when it lost the race (destroy the socket, end the connection). */
  readonly cancel?: () => void;
  /** Disposes of a result that arrives after the race was lost. */
  readonly discard?: (value: T) => void;
}

/** `work`, unless the timeout or the abort signal comes first. */
export function withDeadline<T>(work: Promise<T>, deadline: Deadline<T>): Promise<T> {
  const { abort } = deadline;
  if (abort?.aborted) {
    deadline.cancel?.();
    work.then((value) => deadline.discard?.(value), () => undefined);
    return Promise.reject(abort.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const lose = (error: Error): void => {
      if (settled) return;
      settled = true;
      cleanup();
      deadline.cancel?.();
      reject(error);
    };
    const onAbort = (): void => lose(abort?.reason as Error);
    const timer = deadline.ms === undefined ? undefined : setTimeout(() => lose(deadline.timeout()), deadline.ms);
    const cleanup = (): void => {
      clearTimeout(timer);
      abort?.removeEventListener('abort', onAbort);
    };
    abort?.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        if (settled) {
          deadline.discard?.(value);
          return;
        }
        settled = true;
        cleanup();
        resolve(value);
      },
      (error: Error) => {
        if (settled) return;
        settled = true;
        cleanup();
        reject(error);
      },
    );
  });
}

/** Seconds for messages: "30 s", "1.5 s". */
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

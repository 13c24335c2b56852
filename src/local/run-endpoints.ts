// Between the CLI and the session: a SOURCE TARGET run's resource endpoints (SCHEME://, resource.ts)
// are acquired first and released last, whatever ends the run, and the session runs on the paths they
// yield; the transports follow the options (a remote SOURCE of a remote to remote run reaches its agent
// over SSH too). A run without resources goes straight to the session.
import type { Options } from './options';
import type { Reporter } from './progress';
import { withResources } from './resource';
import { runSession } from './session';
import { transportsFor, type TransportFor } from './transport/index';
import { basynError } from '../shared/errors';

export async function runEndpoints(options: Options, reporter: Reporter, transports?: TransportFor): Promise<void> {
  const chosen = transports ?? transportsFor(options.connection, options.localConnection);
  const run = options.endpoints;
  const held = run ? [run.source, run.target].filter((endpoint) => endpoint.kind === 'resource') : [];
  if (!run || held.length === 0) return runSession(options, reporter, chosen);

  // A signal while a resource is being set up or torn down ends the run, but only after release().
  const controller = new AbortController();
  const interrupt = (signal: NodeJS.Signals) => {
    if (!controller.signal.aborted) controller.abort(basynError('INTERRUPTED', signal));
  };
  process.on('SIGINT', interrupt).on('SIGTERM', interrupt).on('SIGHUP', interrupt);
  try {
    await withResources(held.map((endpoint) => {
      reporter.verbose(`Acquiring ${endpoint.resource.description}`);
      return endpoint.resource;
    }), controller.signal, async (paths) => {
      if (controller.signal.aborted) throw controller.signal.reason;
      // A resource endpoint is a local one: the source's role is 'local' unless the target took it (a PULL).
      const sourceRole = run.targetRole === 'remote' ? 'local' : 'remote';
      const resolved = { ...options };
      held.forEach((endpoint, index) => {
        const role = endpoint === run.source ? sourceRole : run.targetRole;
        reporter.verbose(`${endpoint === run.source ? 'SOURCE' : 'TARGET'} ${endpoint.spec} is ${paths[index]}`);
        resolved[role] = paths[index];
      });
      await runSession(resolved, reporter, chosen);
    });
  } finally {
    process.off('SIGINT', interrupt).off('SIGTERM', interrupt).off('SIGHUP', interrupt);
  }
}

// Registers lvm+snapshot:// and loop:// with the endpoint parser's extension point (src/local/resource.ts),
// so that they work as SOURCE and TARGET on the command line, not only in `basyn tasks`. On the command
// line there is no task: a snapshot is named basyn-<LV>-<run id>, the settings are the defaults (`lvm` on
// PATH, 10%ORIGIN unless ?size=), and no leftover snapshot is removed (no task lock says its run is dead;
// a loop device's record does, so a killed run's loop device is still detached by the next run).
// Routine messages go nowhere (the run's --verbose is not known here); notices go to stderr.
import { defaultStateDir } from '../../remote/patch-journal';
import { printable } from '../../shared/remote-text';
import { registerResourceScheme, type Resource } from '../resource';
import { RESOURCE_SCHEMES } from './index';
import { newRunId, type AcquiredResource, type ResourceScheme } from './resource';

const RUN_ID = newRunId();

function factory(scheme: ResourceScheme) {
  return (_rest: string, { side, spec }: { side: 'source' | 'target'; spec: string }): Resource => {
    scheme.check(spec, side, {});
    let acquired: AcquiredResource | undefined;
    return {
      description: spec,
      newPointInTime: scheme.newPointInTime ?? false,
      acquire: async () => {
        acquired = await scheme.acquire(spec, {
          runId: RUN_ID, role: side, settings: {}, stateDir: defaultStateDir(), leftoversAreOurs: false,
          log: (text, notice) => { if (notice) process.stderr.write(`${printable(text, 4000)}\n`); },
        });
        return acquired.device;
      },
      release: async () => { await acquired?.release(); },
    };
  };
}

for (const scheme of RESOURCE_SCHEMES) registerResourceScheme(scheme.prefix.slice(0, -'://'.length), factory(scheme));

// A local MSP that reloads without a restart (Fabric documents this as unsupported): on SIGHUP
// or a change under the folder, the whole folder is read and set up again; only a complete,
// valid MSP replaces the one in force, in one assignment. A broken folder is refused with a
// log line and the old MSP stays.
import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from 'pino';
import { cofferError, type CofferError } from '../errors/index.js';
import { loadMspFolder, type LoadFolderOptions } from './load.js';
import type { Msp } from './msp.js';

/** Quiet time after the last file event before reloading: editors write in several steps. */
export const reloadDebounceMs = 250;

export type ReloadOutcome =
  | { readonly reloaded: true; readonly msp: Msp }
  | { readonly reloaded: false; readonly error: CofferError };

export type LocalMsp = {
  /** The MSP in force now; callers read it per use, never keep it. */
  readonly current: () => Msp;
  /** Reloads now (also what SIGHUP and file changes do). */
  readonly reload: () => Promise<ReloadOutcome>;
  readonly close: () => void;
};

export type LocalMspOptions = LoadFolderOptions & {
  readonly logger: Logger;
  /** Reload on changes under the folder (default true). */
  readonly watchFiles?: boolean;
  /** Reload on SIGHUP (default true). */
  readonly onSighup?: boolean;
  /** Called after each successful swap, e.g. to drop caches that hold the old MSP. */
  readonly onReload?: (msp: Msp) => void;
  /** The clock for the signer's expiry check at each reload (default: the wall clock). */
  readonly clock?: () => Date;
};

/** Loads the local MSP once (a failure is thrown: a node must not start without one). */
export async function openLocalMsp(dir: string, options: LocalMspOptions): Promise<LocalMsp> {
  const clock = options.clock ?? (() => new Date());
  const first = await loadMspFolder(dir, {
    ...options,
    local: options.local ?? true,
    now: clock(),
  });
  if (!first.ok) throw first.error;
  let current = first.msp;
  let running: Promise<ReloadOutcome> | undefined;
  let again = false;

  const loadOnce = async (): Promise<ReloadOutcome> => {
    const outcome = await loadMspFolder(dir, {
      ...options,
      local: options.local ?? true,
      now: clock(),
    });
    if (!outcome.ok) {
      const error = cofferError(
        'MSP_E_RELOAD_FAILED',
        `MSP ${options.mspId} in ${dir} was not reloaded (${outcome.error.code}: ${outcome.error.message}); the previous MSP stays in force`,
        { dir, cause: outcome.error.code },
        outcome.error,
      );
      options.logger.error({ code: error.code, cause: outcome.error.code, dir }, error.message);
      return { reloaded: false, error };
    }
    current = outcome.msp;
    options.logger.info({ dir, mspId: options.mspId }, `MSP ${options.mspId} reloaded from ${dir}`);
    options.onReload?.(current);
    return { reloaded: true, msp: current };
  };

  // One reload at a time; a request during a reload runs once more afterwards.
  const reload = async (): Promise<ReloadOutcome> => {
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = (async () => {
      let outcome = await loadOnce();
      while (again) {
        again = false;
        outcome = await loadOnce();
      }
      return outcome;
    })();
    try {
      return await running;
    } finally {
      running = undefined;
    }
  };

  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      void reload();
    }, reloadDebounceMs);
  };
  let watcher: FSWatcher | undefined;
  if (options.watchFiles !== false) {
    watcher = watch(dir, { recursive: true }, schedule);
    watcher.on('error', (error) => {
      options.logger.warn(
        { dir, error: String(error) },
        'MSP folder watch failed; SIGHUP still reloads',
      );
    });
  }
  const onSignal = (): void => {
    void reload();
  };
  if (options.onSighup !== false) process.on('SIGHUP', onSignal);

  return {
    current: () => current,
    reload,
    close: () => {
      if (timer !== undefined) clearTimeout(timer);
      watcher?.close();
      process.off('SIGHUP', onSignal);
    },
  };
}

// The consortium's verifying MSPs as the signer trusts them now (IO edge). The folders are
// polled: a change to a file the MSP reads (config.yaml, cacerts, intermediatecerts, admincerts,
// tlscacerts, tlsintermediatecerts, crls) reloads that MSP, so a CRL dropped into a folder
// revokes client and node identities on the next request, without a restart; SIGHUP reloads
// every folder. A folder that fails to load keeps its previous MSP in force (a half-written or
// broken folder must not drop trust, nor revocations already in force), is logged, and is
// reported by status() until a later change loads.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { cofferError } from '../errors/index.js';
import { loadMspFolder, type Msp } from '../msp/index.js';
import type { SignerConfig } from './config.js';

/** What an MSP's setup reads from its folder (Fabric's verifying MSP, folder.ts). */
const watchedEntries = [
  'config.yaml',
  'cacerts',
  'intermediatecerts',
  'admincerts',
  'tlscacerts',
  'tlsintermediatecerts',
  'crls',
] as const;
/**
 * Files looked at per watched sub-folder: one more than the MSP loader reads (its
 * mspFolderFilesMax, 1000), so a folder that grows past that still shows as changed.
 */
export const trustFolderFilesMax = 1001;

export type TrustFailure = {
  readonly mspId: string;
  readonly mspDir: string;
  /** The loader's code, e.g. MSP_E_CRL_INVALID. */
  readonly code: string;
  readonly reason: string;
  /** When the failing version of the folder was first seen (ISO-8601). */
  readonly since: string;
};

export type TrustStatus = {
  /** Milliseconds between checks of the folders; null when they are never re-read. */
  readonly reloadIntervalMs: number | null;
  /**
   * When the last check of the folders began (ISO-8601): the MSPs in force reflect the folders
   * as they were then, but for the failures. Null when they are never re-read.
   */
  readonly checkedAt: string | null;
  /** When each MSP in force was loaded (ISO-8601). */
  readonly loadedAt: Readonly<Record<string, string>>;
  /** Folders whose latest version does not load: their previous MSP stays in force. */
  readonly failures: readonly TrustFailure[];
};

export type ConsortiumTrust = {
  /** The MSPs in force now; read them per request, never keep them. */
  readonly current: () => ReadonlyMap<string, Msp>;
  readonly status: () => TrustStatus;
  /** Checks the folders now: those that changed (every folder with `all`) are reloaded. */
  readonly reload: (all?: boolean) => Promise<TrustStatus>;
  /** `listener` runs after each change of the MSPs in force; returns its removal. */
  readonly onChange: (listener: (msps: ReadonlyMap<string, Msp>) => void) => () => void;
  readonly close: () => void;
};

export type TrustOptions = {
  readonly logger: Logger;
  /** Milliseconds between checks of the folders. */
  readonly reloadIntervalMs: number;
  /** Reload every folder on SIGHUP (default true). */
  readonly onSighup?: boolean;
  readonly clock?: () => number;
};

type Member = SignerConfig['consortium'][number];

/** The consortium's verifying MSPs (CA certificates, CRLs, NodeOUs; no keys are read). */
export async function loadConsortiumMsps(
  consortium: SignerConfig['consortium'],
): Promise<Map<string, Msp>> {
  const msps = new Map<string, Msp>();
  for (const { mspId, mspDir } of consortium) {
    const outcome = await loadMspFolder(mspDir, { mspId });
    if (!outcome.ok) {
      throw cofferError(
        'SIGNER_E_CONFIG_INVALID',
        `signer config: consortium MSP ${mspId} (${mspDir}): ${outcome.error.code}: ${outcome.error.message}`,
        { mspId, mspDir, mspCode: outcome.error.code },
        outcome.error,
      );
    }
    msps.set(mspId, outcome.msp);
  }
  return msps;
}

function describeStat(name: string, info: Awaited<ReturnType<typeof stat>>): string {
  return `${name}\t${info.size}\t${info.mtimeMs}\t${info.ctimeMs}\t${info.ino}`;
}

/**
 * What the MSP loader would read, by name, size, times and inode (stat follows symlinks, so a
 * folder swapped behind a link counts as changed). Unreadable entries are part of it too.
 */
export async function folderFingerprint(dir: string): Promise<string> {
  const parts: string[] = [];
  const visit = async (name: string, depth: number): Promise<void> => {
    const full = path.join(dir, name);
    let info;
    try {
      info = await stat(full);
    } catch (error) {
      parts.push(`${name}\t!${(error as NodeJS.ErrnoException).code ?? 'unknown'}`);
      return;
    }
    parts.push(describeStat(name, info));
    if (!info.isDirectory() || depth > 0) return;
    let names: string[];
    try {
      names = (await readdir(full)).sort();
    } catch (error) {
      parts.push(`${name}/\t!${(error as NodeJS.ErrnoException).code ?? 'unknown'}`);
      return;
    }
    for (const child of names.slice(0, trustFolderFilesMax)) {
      await visit(path.join(name, child), depth + 1);
    }
  };
  for (const entry of watchedEntries) await visit(entry, 0);
  return parts.join('\n');
}

/** A fixed set of MSPs that is never re-read (tests, embedding). */
export function fixedTrust(msps: ReadonlyMap<string, Msp>): ConsortiumTrust {
  const status = (): TrustStatus => ({
    reloadIntervalMs: null,
    checkedAt: null,
    loadedAt: {},
    failures: [],
  });
  return {
    current: () => msps,
    status,
    reload: () => Promise.resolve(status()),
    onChange: () => () => undefined,
    close: () => undefined,
  };
}

/** Loads the consortium's MSPs (a failure is thrown: the signer must not start without them). */
export async function openConsortiumTrust(
  consortium: readonly Member[],
  options: TrustOptions,
): Promise<ConsortiumTrust> {
  const clock = options.clock ?? (() => Date.now());
  const { logger } = options;
  const iso = (ms: number) => new Date(ms).toISOString();
  // Fingerprints before loading: a change during a load shows as a change at the next check.
  const seen = new Map<string, string>();
  for (const { mspId, mspDir } of consortium) seen.set(mspId, await folderFingerprint(mspDir));
  let current: ReadonlyMap<string, Msp> = await loadConsortiumMsps(consortium);
  const startedAt = iso(clock());
  const loadedAt = new Map(consortium.map(({ mspId }) => [mspId, startedAt]));
  const failures = new Map<string, TrustFailure>();
  let checkedAt = startedAt;
  const listeners = new Set<(msps: ReadonlyMap<string, Msp>) => void>();

  const status = (): TrustStatus => ({
    reloadIntervalMs: options.reloadIntervalMs,
    checkedAt,
    loadedAt: Object.fromEntries(loadedAt),
    failures: [...failures.values()],
  });

  const check = async (all: boolean): Promise<void> => {
    const began = clock();
    const loaded = new Map<string, { readonly msp: Msp; readonly mspDir: string }>();
    const failed = new Map<string, TrustFailure>();
    for (const { mspId, mspDir } of consortium) {
      const fingerprint = await folderFingerprint(mspDir);
      if (!all && fingerprint === seen.get(mspId)) continue;
      // A failed version is not retried until the folder changes again (or SIGHUP).
      seen.set(mspId, fingerprint);
      const outcome = await loadMspFolder(mspDir, { mspId });
      if (outcome.ok) {
        loaded.set(mspId, { msp: outcome.msp, mspDir });
        continue;
      }
      const error = cofferError(
        'MSP_E_RELOAD_FAILED',
        `consortium MSP ${mspId} in ${mspDir} was not reloaded (${outcome.error.code}: ${outcome.error.message}); the previous MSP stays in force`,
        { mspId, mspDir, cause: outcome.error.code },
        outcome.error,
      );
      logger.error({ code: error.code, cause: outcome.error.code, mspId, mspDir }, error.message);
      failed.set(mspId, {
        mspId,
        mspDir,
        code: outcome.error.code,
        reason: outcome.error.message,
        since: failures.get(mspId)?.since ?? iso(clock()),
      });
    }
    // MSPs, load times and failures change together, with no await in between.
    const now = iso(clock());
    checkedAt = iso(began);
    for (const [mspId, failure] of failed) failures.set(mspId, failure);
    if (loaded.size === 0) return;
    const next = new Map(current);
    for (const [mspId, { msp, mspDir }] of loaded) {
      next.set(mspId, msp);
      loadedAt.set(mspId, now);
      failures.delete(mspId);
      logger.info(
        { mspId, mspDir },
        `consortium MSP ${mspId} reloaded from ${mspDir}: its CAs and CRLs apply from the next request`,
      );
    }
    current = next;
    for (const listener of listeners) {
      try {
        listener(current);
      } catch (error) {
        logger.error({ err: error }, 'a listener of the consortium MSPs failed');
      }
    }
  };

  // One check at a time, in the order asked.
  let queue: Promise<void> = Promise.resolve();
  const reload = (all = false): Promise<TrustStatus> => {
    const run = queue.then(() => check(all));
    queue = run.catch((error: unknown) => {
      logger.error({ err: error }, 'checking the consortium MSP folders failed');
    });
    return run.then(status);
  };

  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    if (closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      void reload()
        .catch(() => undefined)
        .finally(schedule);
    }, options.reloadIntervalMs);
    timer.unref();
  };
  schedule();
  const onSignal = (): void => {
    logger.info('SIGHUP: re-reading every consortium MSP folder');
    void reload(true).catch(() => undefined);
  };
  if (options.onSighup !== false) process.on('SIGHUP', onSignal);

  return {
    current: () => current,
    status,
    reload,
    onChange: (listener) => {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    close: () => {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      process.off('SIGHUP', onSignal);
    },
  };
}

// One node per data directory: a LOCK file holding the owner's pid, created exclusively. A lock
// left by a process that no longer runs (kill -9, power loss) is taken over; a live owner makes
// the second start fail with NODE_E_DATA_DIR_LOCKED instead of two writers corrupting one log.
import { open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';
import { cofferError } from '../errors/index.js';

export type DataDirLock = { readonly release: () => Promise<void> };

/** Directories locked by this process (its pid in the file does not tell two engines apart). */
const lockedHere = new Set<string>();

/** Whether a process with this pid exists (EPERM: it does, but belongs to someone else). */
export function processAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes `dir/LOCK` for this process; throws NODE_E_DATA_DIR_LOCKED if a live process has it.
 * `what` names the owner in messages (a node, a custody worker).
 */
export async function lockDataDir(dir: string, what = 'node'): Promise<DataDirLock> {
  const file = path.join(path.resolve(dir), 'LOCK');
  const mine = `${process.pid}\n`;
  if (lockedHere.has(file)) {
    throw cofferError(
      'NODE_E_DATA_DIR_LOCKED',
      `${dir} is in use by another ${what} of this process; one ${what} per directory`,
      { dir, pid: process.pid },
    );
  }
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      const handle = await open(file, 'wx');
      try {
        await handle.writeFile(mine);
        await handle.sync();
      } finally {
        await handle.close();
      }
      lockedHere.add(file);
      return {
        release: async () => {
          lockedHere.delete(file);
          // Only our own lock: never remove one a later owner took over.
          if ((await readFile(file, 'utf8').catch(() => '')) === mine)
            await rm(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
    if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner)) {
      throw cofferError(
        'NODE_E_DATA_DIR_LOCKED',
        `${dir} is in use by process ${owner}; one ${what} per directory`,
        { dir, pid: owner },
      );
    }
    // Stale (its process is gone) or unreadable: remove it and try again.
    await rm(file, { force: true });
  }
  throw cofferError('NODE_E_DATA_DIR_LOCKED', `${dir}/LOCK could not be taken`, { dir });
}

// File IO of the generator (the edge of the folder): atomic, fsync'd writes, so a crash leaves
// either the old file or the new one, never a torn key, certificate or CRL.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export const fileMode = 0o644;
export const privateFileMode = 0o600;
export const dirMode = 0o755;

/** Writes `contents` to a temporary file beside `path`, fsyncs it, then renames it into place. */
export async function writeFileAtomic(
  path: string,
  contents: string,
  mode: number,
  options: { readonly syncDir?: boolean } = {},
): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
  const handle = await open(
    temporary,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
    mode,
  );
  try {
    // The umask may have cleared bits of `mode`; private keys must end up exactly 0600.
    await handle.chmod(mode);
    await handle.writeFile(contents, 'utf8');
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  if (options.syncDir ?? true) await syncDir(dirname(path));
}

/** fsyncs a directory, so that renames and new entries in it survive a crash. */
export async function syncDir(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function makeDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: dirMode });
}

export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isDirectory();
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** Names in a directory, sorted; an absent directory has none. */
export async function listDir(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}

/** Reads a text file of at most `bytesMax` bytes; undefined when it does not exist. */
export async function readTextFile(path: string, bytesMax: number): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  try {
    const { size } = await handle.stat();
    if (size > bytesMax) throw new Error(`${path} is ${size} bytes; at most ${bytesMax} are read`);
    return await readFile(handle, 'utf8');
  } finally {
    await handle.close();
  }
}

export async function moveInto(from: string, to: string): Promise<void> {
  await rename(from, to);
  await syncDir(dirname(to));
}

export async function removeTree(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

export function isNotFound(error: unknown): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === 'ENOENT';
}

// Loading an MSP from a Fabric folder: read (IO edge), then set up (pure).
import { isCofferError } from '../errors/index.js';
import { readMspFolder, type LoadedFolder } from './folder.js';
import { setupMsp, type SetupOutcome } from './msp.js';
import { defaultMspVersion, type MspVersion } from './types.js';

export type LoadFolderOptions = {
  readonly mspId: string;
  readonly version?: MspVersion;
  /** Load signcerts/ and keystore/ as a signing MSP. */
  readonly local?: boolean;
  /** Clock for the local signer's expiry (default: now). */
  readonly now?: Date;
};

export type FolderOutcome = SetupOutcome & { readonly folder?: LoadedFolder };

/** Reads a Fabric MSP folder and sets it up. Folder errors are returned, never thrown. */
export async function loadMspFolder(
  dir: string,
  options: LoadFolderOptions,
): Promise<FolderOutcome> {
  let folder: LoadedFolder;
  try {
    folder = await readMspFolder(dir, options.mspId, options.local === true);
  } catch (error) {
    if (isCofferError(error)) return { ok: false, error };
    throw error;
  }
  const outcome = setupMsp(folder.definition, {
    version: options.version ?? defaultMspVersion,
    now: options.now ?? new Date(),
    ...(folder.signing === undefined ? {} : { signing: folder.signing }),
  });
  return { ...outcome, folder };
}

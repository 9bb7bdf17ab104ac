// Client profiles: where a CLI user's node, CA and credentials are (written by `coffer up`).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createClient, identityFromMspFolder, type Client } from '../client/index.js';
import { cofferError } from '../errors/index.js';

export type ClientProfile = {
  readonly url: string;
  /** Host name in the node's TLS certificate (the URL may use an IP address). */
  readonly servername: string;
  readonly caFile: string;
  readonly tlsCertFile: string;
  readonly tlsKeyFile: string;
  readonly mspId: string;
  /** The signing identity's MSP folder (signcerts/ and keystore/). */
  readonly mspDir: string;
};

export const defaultProfile = path.join('.coffer', 'client.json');

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
    throw cofferError('CLI_E_FILE_UNREADABLE', `${file} cannot be read (${code})`, { file }, error);
  }
}

/** A client from a profile file (default .coffer/client.json, from `coffer up`). */
export async function clientFromProfile(file: string): Promise<Client> {
  let profile: ClientProfile;
  try {
    profile = JSON.parse(await readText(file)) as ClientProfile;
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw cofferError(
        'CLI_E_FILE_UNREADABLE',
        `${file} is not a JSON client profile`,
        { file },
        error,
      );
    }
    throw error;
  }
  const { identity, signer } = await identityFromMspFolder(profile.mspDir, profile.mspId);
  return createClient({
    url: profile.url,
    servername: profile.servername,
    ca: await readText(profile.caFile),
    tlsCert: await readText(profile.tlsCertFile),
    tlsKey: await readText(profile.tlsKeyFile),
    identity,
    signer,
  });
}

// A client on a node through a profile's TLS connection, signing as another MSP identity (an
// admin's, another organisation's): how tests act as several identities on one node.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createClient, identityFromMspFolder, type Client } from '../../src/client/index.js';

/** The MSP folder of `user` (`Admin`, `User1`) of organisation N in cryptogen's layout. */
export function userMspDir(cryptoDir: string, org: number, user: string): string {
  const domain = `org${org}.coffer.local`;
  return path.join(cryptoDir, 'peerOrganizations', domain, 'users', `${user}@${domain}`, 'msp');
}

/**
 * A client using `profileFile`'s node (or `url`, for a node restarted elsewhere) and TLS
 * credentials, signing as `mspDir`'s identity.
 */
export async function clientAs(
  profileFile: string,
  mspDir: string,
  mspId: string,
  url?: string,
): Promise<Client> {
  const profile = JSON.parse(await readFile(profileFile, 'utf8')) as Record<string, string>;
  return createClient({
    url: url ?? String(profile['url']),
    servername: String(profile['servername']),
    ca: await readFile(String(profile['caFile']), 'utf8'),
    tlsCert: await readFile(String(profile['tlsCertFile']), 'utf8'),
    tlsKey: await readFile(String(profile['tlsKeyFile']), 'utf8'),
    ...(await identityFromMspFolder(mspDir, mspId)),
  });
}

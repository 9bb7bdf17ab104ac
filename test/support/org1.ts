// One organisation's crypto material for in-process engine tests: Org1MSP (NodeOUs on), its
// User1 as a client, and its peer as the root signer.
import path from 'node:path';
import {
  identityFromMspFolder,
  type ClientIdentity,
  type Signer,
} from '../../src/client/signer.js';
import type { Consortium } from '../../src/ledger/execute.js';
import { generateCryptoMaterial } from '../../src/msp/cryptogen/index.js';
import { loadMspFolder, type Msp } from '../../src/msp/index.js';
import type { EngineOptions } from '../../src/node/engine.js';

export type Org1 = {
  readonly consortium: Consortium;
  readonly user: { readonly identity: ClientIdentity; readonly signer: Signer };
  readonly rootSigner: EngineOptions['rootSigner'];
};

/** Generates Org1's material under `work`/crypto and loads it. */
export async function org1Material(work: string): Promise<Org1> {
  await generateCryptoMaterial({
    config:
      'PeerOrgs:\n  - Name: Org1\n    Domain: org1.example.com\n    EnableNodeOUs: true\n    Template: { Count: 1 }\n    Users: { Count: 1 }\n',
    outputDir: path.join(work, 'crypto'),
  });
  const org = path.join(work, 'crypto', 'peerOrganizations', 'org1.example.com');
  const orgMsp = await loadMspFolder(path.join(org, 'msp'), { mspId: 'Org1MSP' });
  if (!orgMsp.ok) throw orgMsp.error;
  const user = await identityFromMspFolder(
    path.join(org, 'users', 'User1@org1.example.com', 'msp'),
    'Org1MSP',
  );
  const peer = await loadMspFolder(path.join(org, 'peers', 'peer0.org1.example.com', 'msp'), {
    mspId: 'Org1MSP',
    local: true,
  });
  if (!peer.ok || peer.msp.signingIdentity === undefined || peer.folder?.signing === undefined)
    throw new Error('the peer of Org1 has no signing identity');
  const signing = peer.msp.signingIdentity;
  return {
    consortium: { msps: new Map<string, Msp>([['Org1MSP', orgMsp.msp]]) },
    user,
    rootSigner: {
      mspId: 'Org1MSP',
      certPem: peer.folder.signing.signCert.pem,
      sign: (message) => signing.sign(message),
    },
  };
}

// Two organisations' crypto material for execution tests: Org1 and Org2 (example.com,
// NodeOUs on, cryptogen's layout) in a temporary folder, their members' signing identities, and
// the consortium as their MSP folders say now (load it again after a revocation).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  identityFromMspFolder,
  type ClientIdentity,
  type Signer,
} from '../../src/client/signer.js';
import type { Consortium } from '../../src/ledger/execute.js';
import { generateCryptoMaterial } from '../../src/msp/cryptogen/index.js';
import { loadMspFolder, type Msp } from '../../src/msp/index.js';

export type Member = {
  readonly identity: ClientIdentity;
  readonly signer: Signer;
  /** Fabric identity id (hex SHA-256 of the certificate). */
  readonly identityId: string;
  readonly mspId: string;
};

export type TwoOrgs = {
  /** An organisation's folder (`orgDir` of revokeCertificate). */
  readonly orgDir: (n: 1 | 2) => string;
  readonly loadConsortium: () => Promise<Consortium>;
  /** `Org<n>.<user>` (Admin, User1, …): identity, signer, identity id. */
  readonly member: (name: string) => Member;
  readonly remove: () => Promise<void>;
};

/** Org1 and Org2 with `users` users each (besides Admin), under a new temporary folder. */
export async function twoOrgs(prefix: string, users: number): Promise<TwoOrgs> {
  const work = await mkdtemp(path.join(tmpdir(), prefix));
  await generateCryptoMaterial({
    config: `PeerOrgs:\n${[1, 2]
      .map(
        (n) =>
          `  - Name: Org${n}\n    Domain: org${n}.example.com\n    EnableNodeOUs: true\n    Users: { Count: ${users} }\n`,
      )
      .join('')}`,
    outputDir: work,
  });
  const orgDir = (n: 1 | 2) => path.join(work, 'peerOrganizations', `org${n}.example.com`);
  const loadConsortium = async (): Promise<Consortium> => {
    const msps = new Map<string, Msp>();
    for (const n of [1, 2] as const) {
      const outcome = await loadMspFolder(path.join(orgDir(n), 'msp'), { mspId: `Org${n}MSP` });
      if (!outcome.ok) throw outcome.error;
      msps.set(`Org${n}MSP`, outcome.msp);
    }
    return { msps };
  };
  const consortium = await loadConsortium();
  const members = new Map<string, Member>();
  for (const n of [1, 2] as const) {
    const mspId = `Org${n}MSP`;
    for (const user of ['Admin', ...Array.from({ length: users }, (_, i) => `User${i + 1}`)]) {
      const dir = path.join(orgDir(n), 'users', `${user}@org${n}.example.com`, 'msp');
      const { identity, signer } = await identityFromMspFolder(dir, mspId);
      const found = consortium.msps.get(mspId)?.deserializeIdentity(mspId, identity.certPem);
      if (found?.ok !== true) throw new Error(`${user} of ${mspId} is no identity of its MSP`);
      members.set(`Org${n}.${user}`, { identity, signer, identityId: found.identity.id, mspId });
    }
  }
  return {
    orgDir,
    loadConsortium,
    member: (name) => {
      const found = members.get(name);
      if (found === undefined) throw new Error(`no member ${name}`);
      return found;
    },
    remove: () => rm(work, { recursive: true, force: true }),
  };
}

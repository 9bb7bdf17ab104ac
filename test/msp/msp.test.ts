// MSP behaviour beyond the Fabric corpus: definitions stored as data, the validation cache,
// signature policies over several organisations, and folders made by `coffer crypto generate`.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCofferError } from '../../src/errors/index.js';
import { generateCryptoMaterial, revokeCertificate } from '../../src/msp/cryptogen/index.js';
import {
  loadMspFolder,
  parseMspDefinition,
  parsePolicy,
  policySatisfied,
  readMspFolder,
  setupMsp,
  verifiedSigners,
  type Msp,
  type SigningIdentity,
} from '../../src/msp/index.js';

const corpus = path.resolve(import.meta.dirname, '../fixtures/fabric-msp-conformance/testdata');

let work: string;
const orgMsps = new Map<string, Msp>();
const signers = new Map<string, { signer: SigningIdentity; pem: string; mspId: string }>();

const cryptoConfig = `
PeerOrgs:
  - Name: Org1
    Domain: org1.example.com
    EnableNodeOUs: true
    Template: { Count: 1 }
    Users: { Count: 1 }
  - Name: Org2
    Domain: org2.example.com
    EnableNodeOUs: true
    Template: { Count: 1 }
    Users: { Count: 1 }
  - Name: Org3
    Domain: org3.example.com
    EnableNodeOUs: true
    Template: { Count: 1 }
    Users: { Count: 1 }
`;

function orgDir(n: number): string {
  return path.join(work, 'peerOrganizations', `org${n}.example.com`);
}

async function loadSigner(n: number, who: string): Promise<void> {
  const mspId = `Org${n}MSP`;
  const dir = who.startsWith('peer')
    ? path.join(orgDir(n), 'peers', `${who}.org${n}.example.com`, 'msp')
    : path.join(orgDir(n), 'users', `${who}@org${n}.example.com`, 'msp');
  const local = await loadMspFolder(dir, { mspId, local: true });
  if (!local.ok) throw local.error;
  const signer = local.msp.signingIdentity;
  const pem = local.folder?.signing?.signCert.pem;
  if (signer === undefined || pem === undefined) throw new Error('no signer');
  signers.set(`Org${n}.${who}`, { signer, pem, mspId });
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-msp-'));
  await generateCryptoMaterial({ config: cryptoConfig, outputDir: work });
  for (const n of [1, 2, 3]) {
    const outcome = await loadMspFolder(path.join(orgDir(n), 'msp'), { mspId: `Org${n}MSP` });
    if (!outcome.ok) throw outcome.error;
    orgMsps.set(`Org${n}MSP`, outcome.msp);
    await loadSigner(n, 'Admin');
    await loadSigner(n, 'User1');
    await loadSigner(n, 'peer0');
  }
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('folders made by coffer crypto generate', () => {
  it('load as organisation MSPs with NodeOUs, and every node and user validates with its role', () => {
    for (const [name, { signer, pem, mspId }] of signers) {
      const msp = orgMsps.get(mspId);
      const identity = msp?.deserializeIdentity(mspId, pem);
      expect(identity?.ok, name).toBe(true);
      if (msp === undefined || identity?.ok !== true) continue;
      const validation = msp.validate(identity.identity);
      expect(validation.valid, name).toBe(true);
      const expectedRole = name.endsWith('Admin')
        ? 'admin'
        : name.endsWith('User1')
          ? 'client'
          : 'peer';
      expect(validation.role, name).toBe(expectedRole);
      const message = Buffer.from(`hello from ${name}`);
      expect(msp.verify(identity.identity, message, signer.sign(message)).ok, name).toBe(true);
    }
  });

  it('refuses an identity of another organisation', () => {
    const org1 = orgMsps.get('Org1MSP');
    const user2 = signers.get('Org2.User1');
    expect(org1?.deserializeIdentity('Org1MSP', user2?.pem ?? '').ok).toBe(false);
    const wrongId = org1?.deserializeIdentity('Org2MSP', user2?.pem ?? '');
    expect(wrongId?.ok === false && wrongId.error.code).toBe('MSP_E_IDENTITY_WRONG_MSP');
  });

  it('coffer crypto revoke: a revoked user is invalid after the MSP is loaded again', async () => {
    const user = signers.get('Org3.User1');
    await revokeCertificate({ orgDir: orgDir(3), certPem: user?.pem ?? '' });
    const reloaded = await loadMspFolder(path.join(orgDir(3), 'msp'), { mspId: 'Org3MSP' });
    if (!reloaded.ok) throw reloaded.error;
    const identity = reloaded.msp.deserializeIdentity('Org3MSP', user?.pem ?? '');
    if (!identity.ok) throw identity.error;
    const validation = reloaded.msp.validate(identity.identity);
    expect(!validation.valid && validation.error.code).toBe('MSP_E_IDENTITY_REVOKED');
    // The MSP loaded before the CRL existed still accepts it: an MSP never changes in place.
    const before = orgMsps.get('Org3MSP');
    const old = before?.deserializeIdentity('Org3MSP', user?.pem ?? '');
    expect(old?.ok === true && before?.validate(old.identity).valid).toBe(true);
  });
});

describe('MSP definitions stored as data', () => {
  it('a definition read from a folder, stored as JSON and parsed back, gives the same verdicts', async () => {
    const folder = await readMspFolder(path.join(corpus, 'intermediate'), 'SampleOrg', false);
    const stored = JSON.parse(JSON.stringify(folder.definition)) as unknown;
    const fromJson = setupMsp(parseMspDefinition(stored), { version: '3.0', now: new Date() });
    const fromFolder = setupMsp(folder.definition, { version: '3.0', now: new Date() });
    if (!fromJson.ok || !fromFolder.ok) throw new Error('setup failed');
    for (const cert of [
      'intermediate/signcerts/signcert.pem',
      'sampleconfig-msp/signcerts/peer.pem',
    ]) {
      const pem = await readFile(path.join(corpus, cert), 'utf8');
      const a = fromJson.msp.deserializeIdentity('SampleOrg', pem);
      const b = fromFolder.msp.deserializeIdentity('SampleOrg', pem);
      expect(a.ok, cert).toBe(b.ok);
      if (a.ok && b.ok)
        expect(fromJson.msp.validate(a.identity)).toEqual(fromFolder.msp.validate(b.identity));
    }
  });

  it('refuses malformed definitions naming the field path', () => {
    const attempts: [unknown, string][] = [
      [null, 'msp'],
      [{ mspId: '' }, 'msp.mspId'],
      [{ mspId: 'A', rootCerts: 'x' }, 'msp.rootCerts'],
      [{ mspId: 'A', rootCerts: ['not pem'] }, 'msp.rootCerts[0]'],
      [{ mspId: 'A', nodeOus: { enable: 'yes' } }, 'msp.nodeOus.enable'],
      [
        { mspId: 'A', organizationalUnitIdentifiers: [{}] },
        'msp.organizationalUnitIdentifiers[0].organizationalUnitIdentifier',
      ],
    ];
    for (const [value, field] of attempts) {
      try {
        parseMspDefinition(value);
        expect.fail(`accepted ${JSON.stringify(value)}`);
      } catch (error) {
        expect(isCofferError(error, 'MSP_E_DEFINITION_INVALID'), String(error)).toBe(true);
        if (isCofferError(error)) expect(error.details['field']).toBe(field);
      }
    }
  });
});

describe('validation cache', () => {
  it('validates the same certificate once; later calls are lookups with the same verdict', () => {
    const msp = orgMsps.get('Org1MSP');
    const user = signers.get('Org1.User1');
    if (msp === undefined || user === undefined) throw new Error('fixture');
    const before = msp.cacheStats();
    const first = msp.deserializeIdentity('Org1MSP', user.pem);
    const second = msp.deserializeIdentity('Org1MSP', user.pem);
    if (!first.ok || !second.ok) throw new Error('deserialize');
    const a = msp.validate(first.identity);
    const afterFirst = msp.cacheStats();
    const b = msp.validate(second.identity);
    const afterSecond = msp.cacheStats();
    expect(a).toEqual(b);
    expect(afterSecond.misses).toBe(afterFirst.misses);
    expect(afterSecond.hits).toBe(afterFirst.hits + 1);
    expect(afterFirst.misses + afterFirst.hits).toBeGreaterThan(before.misses + before.hits);
  });
});

describe('signature policies over the consortium MSPs', () => {
  const message = Buffer.from('config update #7');

  function sign(...names: string[]) {
    return names.map((name) => {
      const entry = signers.get(name);
      if (entry === undefined) throw new Error(name);
      return { mspId: entry.mspId, certPem: entry.pem, signature: entry.signer.sign(message) };
    });
  }

  function decide(policy: string, ...names: string[]): boolean {
    const { signers: verified } = verifiedSigners(orgMsps, message, sign(...names));
    return policySatisfied(parsePolicy(policy), verified);
  }

  it('OR of admins: any one organisation admin is enough, a client is not', () => {
    const policy = "OR('Org1MSP.admin', 'Org2MSP.admin')";
    expect(decide(policy, 'Org2.Admin')).toBe(true);
    expect(decide(policy, 'Org1.User1')).toBe(false);
    expect(decide(policy, 'Org3.Admin')).toBe(false);
  });

  it('AND needs both organisations; the same signature twice counts once', () => {
    const policy = "AND('Org1MSP.admin', 'Org2MSP.admin')";
    expect(decide(policy, 'Org1.Admin', 'Org2.Admin')).toBe(true);
    expect(decide(policy, 'Org1.Admin', 'Org1.Admin')).toBe(false);
    expect(decide("AND('Org1MSP.member', 'Org1MSP.member')", 'Org1.Admin', 'Org1.Admin')).toBe(
      false,
    );
  });

  it('OutOf(2, three admins): a strict majority of three organisations', () => {
    const policy = "OutOf(2, 'Org1MSP.admin', 'Org2MSP.admin', 'Org3MSP.admin')";
    expect(decide(policy, 'Org1.Admin', 'Org3.Admin')).toBe(true);
    expect(decide(policy, 'Org2.Admin')).toBe(false);
    expect(decide(policy, 'Org2.Admin', 'Org2.peer0', 'Org1.User1')).toBe(false);
  });

  it('drops signatures that do not verify and reports them', () => {
    const signed = sign('Org1.Admin', 'Org2.Admin');
    const tampered = signed.map((item, index) =>
      index === 1 ? { ...item, signature: Buffer.from(item.signature).fill(1, 10, 12) } : item,
    );
    const { signers: verified, rejected } = verifiedSigners(orgMsps, message, tampered);
    expect(verified.length).toBe(1);
    expect(rejected.map((item) => item.index)).toEqual([1]);
    expect(policySatisfied(parsePolicy("AND('Org1MSP.admin', 'Org2MSP.admin')"), verified)).toBe(
      false,
    );
  });

  it('peer and client roles are told apart by NodeOUs', () => {
    expect(decide("OR('Org1MSP.peer')", 'Org1.peer0')).toBe(true);
    expect(decide("OR('Org1MSP.peer')", 'Org1.User1')).toBe(false);
    expect(decide("OR('Org1MSP.client')", 'Org1.User1')).toBe(true);
    expect(decide("OR('Org1MSP.member')", 'Org1.peer0')).toBe(true);
  });
});

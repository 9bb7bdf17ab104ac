// Test helper for receipts: the synthetic ledger entries the fixtures use, and the generator of
// test/fixtures/receipts/ (STYLE.md 12). receipt.test.ts reads the committed fixtures; this
// rewrites them only when run as `COFFER_REGENERATE=1 npx vitest run test/ledger/receipt.test.ts`.
//
// Material: `coffer crypto generate` PKI for Org1 and Org2 (NodeOUs on, two peers each, a user
// and an admin) plus a Rogue organisation whose MSP is not trusted; Org2's peer1 is revoked.
// The verifying MSP definitions of Org1 and Org2 go to msps.json; private keys never leave the
// temporary folder.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { curveOrder, decodeEcdsaSignature, encodeEcdsaSignature } from '../../src/crypto/index.js';
import { canonicalBytes, parseCanonical } from '../../src/ledger/canonical.js';
import { createMerkleTree, leafHash } from '../../src/ledger/merkle.js';
import {
  createReceipt,
  signRoot,
  verifyReceipt,
  type Receipt,
  type RootSigner,
} from '../../src/ledger/receipt.js';
import { generateCryptoMaterial, revokeCertificate } from '../../src/msp/cryptogen/index.js';
import {
  loadMspFolder,
  parseMspDefinition,
  readMspFolder,
  setupMsp,
  type Msp,
  type MspDefinition,
} from '../../src/msp/index.js';

/** MSP version the fixtures' definitions are set up with. */
export const fixtureMspVersion = '3.0';
/** The clock the verifying MSPs are set up at (only a local signer's expiry reads it). */
export const fixtureClock = new Date('2026-01-15T12:00:00Z');
const signedAt = Date.UTC(2026, 0, 15, 12, 0, 0);

/** A synthetic ledger entry: canonical JSON that records a request; txId = SHA-256(request). */
export function testEntry(i: number): { readonly entry: Uint8Array; readonly txId: string } {
  const request = canonicalBytes({
    v: 1,
    app: 'demo',
    action: 'put',
    args: { key: `k${i}`, value: String(i * 7) },
    nonce: createHash('sha256').update(`nonce ${i}`).digest('hex').slice(0, 32),
  });
  const entry = canonicalBytes({
    type: 'test-entry/1',
    request: Buffer.from(request).toString('base64'),
    outcome: 'ok',
  });
  return { entry, txId: createHash('sha256').update(request).digest('hex') };
}

/** The txIdOf hook for test entries. */
export function testTxIdOf(entry: Uint8Array): string | undefined {
  const value = parseCanonical(entry) as { request?: unknown };
  if (typeof value.request !== 'string') return undefined;
  return createHash('sha256').update(Buffer.from(value.request, 'base64')).digest('hex');
}

export type MspsFixture = {
  readonly mspVersion: typeof fixtureMspVersion;
  readonly msps: readonly MspDefinition[];
};

/** Sets up the verifying MSPs of msps.json. */
export function mspsFromFixture(json: unknown): Map<string, Msp> {
  const fixture = json as { msps: unknown[] };
  const msps = new Map<string, Msp>();
  fixture.msps.forEach((value, i) => {
    const outcome = setupMsp(parseMspDefinition(value, `msps[${i}]`), {
      version: fixtureMspVersion,
      now: fixtureClock,
    });
    if (!outcome.ok) throw outcome.error;
    msps.set(outcome.msp.mspId, outcome.msp);
  });
  return msps;
}

export type Vector = {
  readonly description: string;
  /** `ok`, or the error code verification must give. */
  readonly expect: string;
  readonly receipt: unknown;
};

// ---- regeneration ----------------------------------------------------------------------------

const cryptoConfig = `
PeerOrgs:
  - Name: Org1
    Domain: org1.example.com
    EnableNodeOUs: true
    Template: { Count: 2 }
    Users: { Count: 1 }
  - Name: Org2
    Domain: org2.example.com
    EnableNodeOUs: true
    Template: { Count: 2 }
    Users: { Count: 1 }
  - Name: Rogue
    Domain: rogue.example.com
    EnableNodeOUs: true
    Template: { Count: 1 }
    Users: { Count: 1 }
`;

type Signer = RootSigner & { readonly nodeId: string };

async function loadSigner(work: string, org: string, who: string): Promise<Signer> {
  const mspId = `${org[0]?.toUpperCase() ?? ''}${org.slice(1)}MSP`;
  const domain = `${org}.example.com`;
  const dir = who.startsWith('peer')
    ? path.join(work, 'peerOrganizations', domain, 'peers', `${who}.${domain}`, 'msp')
    : path.join(work, 'peerOrganizations', domain, 'users', `${who}@${domain}`, 'msp');
  const local = await loadMspFolder(dir, { mspId, local: true, now: fixtureClock });
  if (!local.ok) throw local.error;
  const signing = local.msp.signingIdentity;
  const certPem = local.folder?.signing?.signCert.pem;
  if (signing === undefined || certPem === undefined) throw new Error(`${dir}: no signer`);
  return { mspId, certPem, sign: signing.sign, nodeId: `${who}.${domain}` };
}

/**
 * Generates crypto material for the property tests: Org1 (NodeOUs on) with its peer0, and
 * Plain (NodeOUs off) with its User1; the map holds both verifying MSPs.
 */
export async function generateTestSigners(): Promise<{
  readonly msps: Map<string, Msp>;
  readonly peer: Signer;
  readonly plainUser: Signer;
  readonly cleanup: () => Promise<void>;
}> {
  const work = await mkdtemp(path.join(tmpdir(), 'coffer-receipts-'));
  await generateCryptoMaterial({
    config: `
PeerOrgs:
  - Name: Org1
    Domain: org1.example.com
    EnableNodeOUs: true
    Template: { Count: 1 }
    Users: { Count: 1 }
  - Name: Plain
    Domain: plain.example.com
    EnableNodeOUs: false
    Template: { Count: 1 }
    Users: { Count: 1 }
`,
    outputDir: work,
    now: fixtureClock,
  });
  const definitions: MspDefinition[] = [];
  for (const [org, mspId] of [
    ['org1', 'Org1MSP'],
    ['plain', 'PlainMSP'],
  ] as const) {
    const folder = await readMspFolder(
      path.join(work, 'peerOrganizations', `${org}.example.com`, 'msp'),
      mspId,
      false,
    );
    definitions.push(folder.definition);
  }
  return {
    msps: mspsFromFixture({ msps: definitions }),
    peer: await loadSigner(work, 'org1', 'peer0'),
    plainUser: await loadSigner(work, 'plain', 'User1'),
    cleanup: () => rm(work, { recursive: true, force: true }),
  };
}

function flipBit(base64: string, byte: number, bit = 0): string {
  const bytes = Buffer.from(base64, 'base64');
  bytes[byte] = (bytes[byte] ?? 0) ^ (1 << bit);
  return bytes.toString('base64');
}

function flipHex(hex: string, byte = 0, bit = 0): string {
  const bytes = Buffer.from(hex, 'hex');
  bytes[byte] = (bytes[byte] ?? 0) ^ (1 << bit);
  return bytes.toString('hex');
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };

function clone(receipt: Receipt): Mutable<Receipt> {
  return JSON.parse(JSON.stringify(receipt)) as Mutable<Receipt>;
}

/** Rewrites every fixture of `dir` (msps.json and one file per vector). */
export async function regenerateReceiptFixtures(dir: string): Promise<void> {
  const work = await mkdtemp(path.join(tmpdir(), 'coffer-receipt-fixtures-'));
  try {
    await generateCryptoMaterial({ config: cryptoConfig, outputDir: work, now: fixtureClock });
    const org1Peer0 = await loadSigner(work, 'org1', 'peer0');
    const org1Peer1 = await loadSigner(work, 'org1', 'peer1');
    const org1User = await loadSigner(work, 'org1', 'User1');
    const org1Admin = await loadSigner(work, 'org1', 'Admin');
    const org2Peer0 = await loadSigner(work, 'org2', 'peer0');
    const org2Peer1 = await loadSigner(work, 'org2', 'peer1');
    const roguePeer0 = await loadSigner(work, 'rogue', 'peer0');
    await revokeCertificate({
      orgDir: path.join(work, 'peerOrganizations', 'org2.example.com'),
      certPem: org2Peer1.certPem,
      now: fixtureClock,
    });
    const definitions: MspDefinition[] = [];
    for (const [org, mspId] of [
      ['org1', 'Org1MSP'],
      ['org2', 'Org2MSP'],
    ] as const) {
      const folder = await readMspFolder(
        path.join(work, 'peerOrganizations', `${org}.example.com`, 'msp'),
        mspId,
        false,
      );
      definitions.push(folder.definition);
    }
    const mspsFixture: MspsFixture = { mspVersion: fixtureMspVersion, msps: definitions };
    const msps = mspsFromFixture(JSON.parse(JSON.stringify(mspsFixture)));

    // A ledger of seven entries (not a power of two: the right spine is not complete).
    const ledger = Array.from({ length: 7 }, (_, i) => testEntry(i));
    const tree = createMerkleTree();
    for (const { entry } of ledger) tree.append(leafHash(entry));
    const treeSize = tree.size();
    const receiptFor = (
      leafIndex: number,
      signer: Signer,
      as: Partial<RootSigner> = {},
    ): Receipt => {
      const signedRoot = signRoot(
        { treeSize, root: tree.root(treeSize), nodeId: signer.nodeId, signedAt },
        { ...signer, ...as },
      );
      const { entry, txId } = ledger[leafIndex] ?? ledger[0] ?? testEntry(0);
      return createReceipt({
        txId,
        entry,
        leafIndex,
        proof: tree.inclusionProof(leafIndex, treeSize),
        signedRoot,
      });
    };

    const valid = receiptFor(2, org1Peer0);
    const vectors: Record<string, Vector> = {};
    const add = (name: string, description: string, expect: string, receipt: unknown): void => {
      vectors[name] = { description, expect, receipt };
    };
    add('valid', 'leaf 2 of 7, root signed by peer0 of Org1', 'ok', valid);
    add(
      'valid-org2-last-leaf',
      'the last leaf (6 of 7), root signed by peer0 of Org2',
      'ok',
      receiptFor(6, org2Peer0),
    );
    add(
      'valid-first-leaf',
      'the first leaf (0 of 7), root signed by peer1 of Org1',
      'ok',
      receiptFor(0, org1Peer1),
    );

    let r = clone(valid);
    delete (r.signedRoot as Partial<typeof r.signedRoot>).signature;
    add('malformed-no-signature', 'signedRoot.signature is missing', 'RECEIPT_E_MALFORMED', r);
    r = clone(valid);
    r.seqno += 1;
    add('malformed-seqno', 'seqno is not proof.leafIndex + 1', 'RECEIPT_E_MALFORMED', r);
    r = clone(valid);
    r.proof.hashes[1] = (r.proof.hashes[1] ?? '').toUpperCase();
    add('malformed-hash-case', 'a proof hash in upper-case hex', 'RECEIPT_E_MALFORMED', r);

    r = clone(valid);
    r.entry = flipBit(r.entry, 10, 3);
    add('entry-bit-flipped', 'one bit of the entry flipped', 'RECEIPT_E_ENTRY_MISMATCH', r);
    r = clone(valid);
    r.proof.leafHash = flipHex(r.proof.leafHash, 31, 7);
    add('leaf-hash-flipped', 'one bit of the leaf hash flipped', 'RECEIPT_E_ENTRY_MISMATCH', r);
    r = clone(valid);
    r.txId = ledger[3]?.txId ?? '';
    add('txid-other', "txId of another entry's transaction", 'RECEIPT_E_TXID_MISMATCH', r);

    r = clone(valid);
    r.proof.hashes[1] = flipHex(r.proof.hashes[1] ?? '', 5, 2);
    add('proof-hash-flipped', 'one bit of proof.hashes[1] flipped', 'RECEIPT_E_PROOF_INVALID', r);
    r = clone(valid);
    r.proof.hashes.pop();
    add('proof-truncated', 'the last proof hash removed', 'RECEIPT_E_PROOF_INVALID', r);
    r = clone(valid);
    r.proof.hashes.push(valid.signedRoot.root);
    add('proof-extended', 'the root appended to the proof', 'RECEIPT_E_PROOF_INVALID', r);
    r = clone(valid);
    r.proof.leafIndex = 3;
    r.seqno = 4;
    add('wrong-index', 'leafIndex and seqno of the next leaf', 'RECEIPT_E_PROOF_INVALID', r);
    r = clone(valid);
    r.proof.treeSize = 8;
    add(
      'wrong-tree-size',
      'proof.treeSize is not the signed tree size',
      'RECEIPT_E_PROOF_INVALID',
      r,
    );
    r = clone(valid);
    r.proof.treeSize = 6;
    r.signedRoot.treeSize = 6;
    add(
      'wrong-tree-size-both',
      'proof and signed tree size both 6: the path for leaf 2 has the same shape in trees of 6 and 7 leaves, so only the signature (which covers treeSize) catches it',
      'RECEIPT_E_SIGNATURE_INVALID',
      r,
    );
    r = clone(valid);
    r.proof.leafIndex = 7;
    r.seqno = 8;
    add('index-beyond-tree', 'leafIndex equal to the tree size', 'RECEIPT_E_PROOF_INVALID', r);
    r = clone(valid);
    r.signedRoot.root = flipHex(r.signedRoot.root, 0, 0);
    add('root-flipped', 'one bit of the signed root flipped', 'RECEIPT_E_PROOF_INVALID', r);

    add(
      'signer-unknown-org',
      'root signed by a peer of an organisation that is not trusted (RogueMSP)',
      'RECEIPT_E_SIGNER_UNKNOWN',
      receiptFor(2, roguePeer0),
    );
    add(
      'signer-other-org-cert',
      'root signed by peer0 of Org2 but presented as Org1MSP',
      'RECEIPT_E_SIGNER_INVALID',
      receiptFor(2, org2Peer0, { mspId: 'Org1MSP' }),
    );
    add(
      'signer-rogue-cert-as-org1',
      'root signed by a Rogue peer whose certificate claims Org1MSP',
      'RECEIPT_E_SIGNER_INVALID',
      receiptFor(2, roguePeer0, { mspId: 'Org1MSP' }),
    );
    add(
      'signer-revoked',
      'root signed by peer1 of Org2, revoked by the Org2 CRL',
      'RECEIPT_E_SIGNER_INVALID',
      receiptFor(2, org2Peer1),
    );
    add(
      'signer-client',
      'root signed by User1 of Org1 (NodeOU client, not peer)',
      'RECEIPT_E_SIGNER_NOT_PEER',
      receiptFor(2, org1User),
    );
    add(
      'signer-admin',
      'root signed by Admin of Org1 (NodeOU admin, not peer)',
      'RECEIPT_E_SIGNER_NOT_PEER',
      receiptFor(2, org1Admin),
    );

    r = clone(valid);
    r.signedRoot.signature = flipBit(
      r.signedRoot.signature,
      Buffer.from(r.signedRoot.signature, 'base64').length - 1,
      0,
    );
    add('signature-flipped', 'one bit of the signature flipped', 'RECEIPT_E_SIGNATURE_INVALID', r);
    r = clone(valid);
    {
      const order = curveOrder('P-256') ?? 0n;
      const { r: sigR, s } = decodeEcdsaSignature(Buffer.from(r.signedRoot.signature, 'base64'));
      r.signedRoot.signature = Buffer.from(
        encodeEcdsaSignature({ r: sigR, s: order - s }),
      ).toString('base64');
    }
    add(
      'signature-high-s',
      'the same signature with S replaced by n - S (high S)',
      'RECEIPT_E_SIGNATURE_INVALID',
      r,
    );
    r = clone(valid);
    r.signedRoot.signature = flipBit(r.signedRoot.signature, 0, 7);
    add(
      'signature-der-tag-altered',
      'DER SEQUENCE tag 0x30 changed to 0xb0, which the lenient ASN.1 decoder still reads',
      'RECEIPT_E_SIGNATURE_INVALID',
      r,
    );
    r = clone(valid);
    r.signedRoot.signature = Buffer.concat([
      Buffer.from(r.signedRoot.signature, 'base64'),
      Buffer.of(0),
    ]).toString('base64');
    add(
      'signature-trailing-byte',
      'a byte appended after the DER signature (Fabric ignores it; receipts do not)',
      'RECEIPT_E_SIGNATURE_INVALID',
      r,
    );
    r = clone(valid);
    r.signedRoot.nodeId = 'peer1.org1.example.com';
    add(
      'node-id-altered',
      'signedRoot.nodeId changed after signing',
      'RECEIPT_E_SIGNATURE_INVALID',
      r,
    );
    r = clone(valid);
    r.signedRoot.signedAt += 1;
    add(
      'signed-at-altered',
      'signedRoot.signedAt changed after signing',
      'RECEIPT_E_SIGNATURE_INVALID',
      r,
    );
    add(
      'signature-by-other-peer',
      "signature by peer1 of Org1 with peer0's certificate",
      'RECEIPT_E_SIGNATURE_INVALID',
      receiptFor(2, org1Peer1, { certPem: org1Peer0.certPem }),
    );

    // Every vector must give what it says before it is written.
    for (const [name, vector] of Object.entries(vectors)) {
      const check = verifyReceipt(vector.receipt, msps, { txIdOf: testTxIdOf });
      const got = check.ok ? 'ok' : check.error.code;
      if (got !== vector.expect) {
        throw new Error(
          `fixture ${name}: expected ${vector.expect}, got ${got}${check.ok ? '' : `: ${check.error.message}`}`,
        );
      }
    }

    await mkdir(dir, { recursive: true });
    for (const name of await readdir(dir)) {
      if (name.endsWith('.json')) await rm(path.join(dir, name));
    }
    await writeFile(path.join(dir, 'msps.json'), `${JSON.stringify(mspsFixture, null, 2)}\n`);
    for (const [name, vector] of Object.entries(vectors)) {
      await writeFile(path.join(dir, `${name}.json`), `${JSON.stringify(vector, null, 2)}\n`);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

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
  type ReceiptV1,
  type ReceiptV2,
  type RootSigner,
  type SignedRoot,
  type VerifyReceiptOptions,
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

/** The verifier's demands a vector is checked with (`coffer receipt verify` flags). */
export type VectorOptions = Pick<VerifyReceiptOptions, 'signaturesMin' | 'organisationsMin'>;

export type Vector = {
  readonly description: string;
  /** `ok`, or the error code verification must give. */
  readonly expect: string;
  /** Given, verification runs with these options (and txIdOf). */
  readonly options?: VectorOptions;
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
 * Generates crypto material for the property tests: Org1 (NodeOUs on) with peer0 and peer1,
 * Org2 (NodeOUs on) with peer0, and Plain (NodeOUs off) with its User1; the map holds the three
 * verifying MSPs.
 */
export async function generateTestSigners(): Promise<{
  readonly msps: Map<string, Msp>;
  readonly peer: Signer;
  readonly peer1: Signer;
  readonly org2Peer: Signer;
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
    Template: { Count: 2 }
    Users: { Count: 1 }
  - Name: Org2
    Domain: org2.example.com
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
  const fixture = await mspsFixtureOf(work, [
    ['org1', 'Org1MSP'],
    ['org2', 'Org2MSP'],
    ['plain', 'PlainMSP'],
  ]);
  return {
    msps: mspsFromFixture(fixture),
    peer: await loadSigner(work, 'org1', 'peer0'),
    peer1: await loadSigner(work, 'org1', 'peer1'),
    org2Peer: await loadSigner(work, 'org2', 'peer0'),
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

function clone<R extends ReceiptV1 | ReceiptV2>(receipt: R): Mutable<R> {
  return JSON.parse(JSON.stringify(receipt)) as Mutable<R>;
}

/** The verifying MSP definitions of `orgs` (folder name, MSP ID) of generated material. */
async function mspsFixtureOf(
  work: string,
  orgs: readonly (readonly [string, string])[],
): Promise<MspsFixture> {
  const definitions: MspDefinition[] = [];
  for (const [org, mspId] of orgs) {
    const folder = await readMspFolder(
      path.join(work, 'peerOrganizations', `${org}.example.com`, 'msp'),
      mspId,
      false,
    );
    definitions.push(folder.definition);
  }
  return { mspVersion: fixtureMspVersion, msps: definitions };
}

/**
 * Checks that every vector gives what it says, then replaces the JSON files of `dir` (not its
 * subfolders) with msps.json and one file per vector.
 */
async function writeVectors(
  dir: string,
  mspsFixture: MspsFixture,
  vectors: Readonly<Record<string, Vector>>,
): Promise<void> {
  const msps = mspsFromFixture(JSON.parse(JSON.stringify(mspsFixture)));
  for (const [name, vector] of Object.entries(vectors)) {
    const check = verifyReceipt(vector.receipt, msps, { ...vector.options, txIdOf: testTxIdOf });
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
}

/** A ledger of seven entries (not a power of two: the right spine is not complete). */
function sevenEntryLedger() {
  const ledger = Array.from({ length: 7 }, (_, i) => testEntry(i));
  const tree = createMerkleTree();
  for (const { entry } of ledger) tree.append(leafHash(entry));
  return { ledger, tree };
}

/** Rewrites the format 1 fixtures of `dir` (msps.json and one file per vector). */
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
    const mspsFixture = await mspsFixtureOf(work, [
      ['org1', 'Org1MSP'],
      ['org2', 'Org2MSP'],
    ]);
    const { ledger, tree } = sevenEntryLedger();
    const treeSize = tree.size();
    const receiptFor = (
      leafIndex: number,
      signer: Signer,
      as: Partial<RootSigner> = {},
    ): ReceiptV1 => {
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

    await writeVectors(dir, mspsFixture, vectors);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const cryptoConfigV2 = `
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
  - Name: Org3
    Domain: org3.example.com
    EnableNodeOUs: true
    Template: { Count: 1 }
    Users: { Count: 1 }
  - Name: Rogue
    Domain: rogue.example.com
    EnableNodeOUs: true
    Template: { Count: 1 }
    Users: { Count: 1 }
`;

/**
 * Rewrites the format 2 fixtures of `dir` (several nodes' signatures): Org1 (two peers), Org2
 * (two peers, peer1 revoked) and Org3 (one peer) are trusted, Rogue is not.
 */
export async function regenerateReceiptFixturesV2(dir: string): Promise<void> {
  const work = await mkdtemp(path.join(tmpdir(), 'coffer-receipt-fixtures-v2-'));
  try {
    await generateCryptoMaterial({ config: cryptoConfigV2, outputDir: work, now: fixtureClock });
    const org1Peer0 = await loadSigner(work, 'org1', 'peer0');
    const org1Peer1 = await loadSigner(work, 'org1', 'peer1');
    const org1User = await loadSigner(work, 'org1', 'User1');
    const org2Peer0 = await loadSigner(work, 'org2', 'peer0');
    const org2Peer1 = await loadSigner(work, 'org2', 'peer1');
    const org3Peer0 = await loadSigner(work, 'org3', 'peer0');
    const roguePeer0 = await loadSigner(work, 'rogue', 'peer0');
    await revokeCertificate({
      orgDir: path.join(work, 'peerOrganizations', 'org2.example.com'),
      certPem: org2Peer1.certPem,
      now: fixtureClock,
    });
    const mspsFixture = await mspsFixtureOf(work, [
      ['org1', 'Org1MSP'],
      ['org2', 'Org2MSP'],
      ['org3', 'Org3MSP'],
    ]);
    const { ledger, tree } = sevenEntryLedger();
    const sign = (
      signer: Signer,
      at: { treeSize?: number; root?: Uint8Array; nodeId?: string; signedAt?: number } = {},
    ): SignedRoot => {
      const treeSize = at.treeSize ?? tree.size();
      return signRoot(
        {
          treeSize,
          root: at.root ?? tree.root(treeSize),
          nodeId: at.nodeId ?? signer.nodeId,
          signedAt: at.signedAt ?? signedAt,
        },
        signer,
      );
    };
    const receiptFor = (leafIndex: number, signers: readonly Signer[]): ReceiptV2 => {
      const { entry, txId } = ledger[leafIndex] ?? ledger[0] ?? testEntry(0);
      return createReceipt({
        txId,
        entry,
        leafIndex,
        proof: tree.inclusionProof(leafIndex, tree.size()),
        signedRoots: signers.map((signer) => sign(signer)),
      });
    };
    /** `receipt` with signedRoots replaced (sorted by node ID unless `sort` is false). */
    const withRoots = (receipt: ReceiptV2, signedRoots: readonly SignedRoot[], sort = true) => {
      const r = clone(receipt);
      const list = [...signedRoots];
      if (sort) list.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
      r.signedRoots = JSON.parse(JSON.stringify(list)) as typeof r.signedRoots;
      return r;
    };

    const vectors: Record<string, Vector> = {};
    const add = (
      name: string,
      description: string,
      expect: string,
      receipt: unknown,
      options?: VectorOptions,
    ): void => {
      vectors[name] = {
        description,
        expect,
        ...(options === undefined ? {} : { options }),
        receipt,
      };
    };

    // Sorted by node ID: peer0.org1, peer0.org2, peer1.org1.
    const three = receiptFor(2, [org2Peer0, org1Peer1, org1Peer0]);
    const [first, second, third] = three.signedRoots;
    if (first === undefined || second === undefined || third === undefined) {
      throw new Error('three signed roots');
    }
    add(
      'valid-three-nodes',
      'leaf 2 of 7, signed by two peers of Org1 and one of Org2',
      'ok',
      three,
    );
    add(
      'valid-three-nodes-min-3-signatures-2-orgs',
      'three nodes of two organisations, when the verifier demands 3 nodes of 2 organisations',
      'ok',
      three,
      { signaturesMin: 3, organisationsMin: 2 },
    );
    add(
      'valid-three-orgs',
      'the last leaf (6 of 7), signed by peer0 of Org1, Org2 and Org3, demanding 3 organisations',
      'ok',
      receiptFor(6, [org3Peer0, org2Peer0, org1Peer0]),
      { organisationsMin: 3 },
    );
    const one = receiptFor(0, [org2Peer0]);
    add(
      'valid-one-node',
      'the first leaf (0 of 7), format 2 signed by peer0 of Org2 alone',
      'ok',
      one,
    );

    add(
      'too-few-signatures',
      'one node signed, the verifier demands 2',
      'RECEIPT_E_TOO_FEW_SIGNERS',
      one,
      { signaturesMin: 2 },
    );
    add(
      'too-few-orgs',
      'three nodes of two organisations, the verifier demands 3 organisations',
      'RECEIPT_E_TOO_FEW_SIGNERS',
      three,
      { organisationsMin: 3 },
    );
    add(
      'too-few-orgs-one-org-two-peers',
      'two peers of Org1 count as one organisation; the verifier demands 2',
      'RECEIPT_E_TOO_FEW_SIGNERS',
      receiptFor(2, [org1Peer0, org1Peer1]),
      { organisationsMin: 2 },
    );

    const nth = <T>(list: readonly T[], i: number): T => {
      const item = list[i];
      if (item === undefined) throw new Error(`no item ${i}`);
      return item;
    };
    let r = clone(three);
    nth(r.signedRoots, 1).signature = flipBit(
      second.signature,
      Buffer.from(second.signature, 'base64').length - 1,
      0,
    );
    add(
      'second-signature-flipped',
      'one bit of the second signature (peer0 of Org2) flipped; the other two are intact',
      'RECEIPT_E_SIGNATURE_INVALID',
      r,
    );
    r = clone(three);
    nth(r.signedRoots, 2).signedAt += 1;
    add(
      'third-signed-at-altered',
      'signedRoots[2].signedAt (peer1 of Org1) changed after signing',
      'RECEIPT_E_SIGNATURE_INVALID',
      r,
    );
    add(
      'second-signer-revoked',
      'peer0 of Org1 and peer1 of Org2, whose certificate the Org2 CRL revokes',
      'RECEIPT_E_SIGNER_INVALID',
      receiptFor(2, [org1Peer0, org2Peer1]),
    );
    add(
      'second-signer-unknown-org',
      'peer0 of Org1 and a peer of Rogue, an organisation that is not trusted',
      'RECEIPT_E_SIGNER_UNKNOWN',
      receiptFor(2, [org1Peer0, roguePeer0]),
    );
    add(
      'second-signer-client',
      'peer0 of Org1 and User1 of Org1 (NodeOU client, not peer)',
      'RECEIPT_E_SIGNER_NOT_PEER',
      receiptFor(2, [org1Peer0, { ...org1User, nodeId: 'zz-user1.org1.example.com' }]),
    );

    add(
      'tree-size-mixed',
      'the second node (peer0 of Org2) signed the root of the same ledger at tree size 6: a valid signature for another position',
      'RECEIPT_E_ROOTS_DISAGREE',
      withRoots(three, [first, sign(org2Peer0, { treeSize: 6 }), third]),
    );
    add(
      'root-mixed',
      'the third node (peer1 of Org1) signed another root at tree size 7',
      'RECEIPT_E_ROOTS_DISAGREE',
      withRoots(three, [first, second, sign(org1Peer1, { root: new Uint8Array(32).fill(7) })]),
    );
    add(
      'node-repeated',
      'peer0 of Org1 signed twice (two signedAt), listed as the same node twice',
      'RECEIPT_E_SIGNER_REPEATED',
      withRoots(three, [first, sign(org1Peer0, { signedAt: signedAt + 1 }), second, third]),
    );
    add(
      'key-repeated',
      'peer0 of Org1 signed again under another node ID (peer9.org1.example.com), to count twice',
      'RECEIPT_E_SIGNER_REPEATED',
      withRoots(three, [
        first,
        second,
        third,
        sign(org1Peer0, { nodeId: 'peer9.org1.example.com' }),
      ]),
    );

    add(
      'malformed-unsorted',
      'signed roots not sorted by node ID',
      'RECEIPT_E_MALFORMED',
      withRoots(three, [second, first, third], false),
    );
    add('malformed-empty', 'signedRoots is empty', 'RECEIPT_E_MALFORMED', withRoots(three, []));
    {
      const rest: Partial<Mutable<ReceiptV2>> = clone(one);
      delete rest.signedRoots;
      add(
        'malformed-v2-with-signed-root',
        'format 2 with the format 1 field signedRoot instead of signedRoots',
        'RECEIPT_E_MALFORMED',
        { ...rest, signedRoot: first },
      );
    }
    r = clone(three);
    r.proof.treeSize = 6;
    add(
      'proof-tree-size-other',
      'proof.treeSize is not the signed tree size',
      'RECEIPT_E_PROOF_INVALID',
      r,
    );

    await writeVectors(dir, mspsFixture, vectors);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

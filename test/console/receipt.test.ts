// The console's in-page receipt verifier (console/src/lib/receipt.ts) against the node's
// `verifyReceipt`: every committed vector of test/fixtures/receipts/ gives both the code it says;
// receipts of a real node (engine, governance genesis with Org1 and Org2, the HTTPS API with a
// second organisation's peer signing the same roots) verify alike in both, with the trust anchors
// the page reads from the node; tampered ones (entry, proof, index, signature, foreign CA,
// unknown MSP, revoked or client signers, oversize fields) fail in both with the same code, also
// for random single-bit flips (fast-check; a failure prints its seed).
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { p256 } from '@noble/curves/nist.js';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  certPemCharsMax,
  cofferTxIdOf,
  decodeLedgerEntry,
  nodeIdCharsMax,
  receiptEntryBytesMax,
  receiptProofHashesMax,
  receiptTextCharsMax,
  signatureBytesMax,
  signedRootsMax,
  trustAnchorsFromConsortium,
  verifyReceiptInBrowser,
  type ReceiptVerification,
  type TrustAnchors,
  type VerifyInBrowserOptions,
} from '../../console/src/lib/receipt.js';
import { txIdOfEntry } from '../../src/cli/receipt.js';
import { canonicalBytes } from '../../src/ledger/canonical.js';
import { createClient, createNodeHttp, type Client } from '../../src/client/client.js';
import { identityFromMspFolder } from '../../src/client/signer.js';
import { builtInApps } from '../../src/contracts/index.js';
import {
  checkGenesis,
  configWrites,
  consortiumOf,
  governanceApp,
  govConfigMap,
  mspDefinitionJson,
  readGovConfig,
} from '../../src/governance/index.js';
import type { Consortium } from '../../src/ledger/execute.js';
import {
  signRoot,
  verifyReceipt,
  type ReceiptCheck,
  type ReceiptV2,
  type RootSigner,
  type SignedRoot,
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
import { createApi, type ApiServer } from '../../src/node/api.js';
import { startEngine, type Engine } from '../../src/node/engine.js';
import { mspsFromFixture, testTxIdOf, type Vector } from '../ledger/receipt-fixtures.js';

// ---- both verifiers --------------------------------------------------------------------------

type Demands = { readonly minSignatures?: number; readonly minOrganisations?: number };

type Both = {
  readonly node: ReceiptCheck;
  readonly browser: ReceiptVerification;
  /** `ok` or the node's code, and the same for the browser. */
  readonly codes: readonly [string, string];
};

async function verifyBoth(
  receipt: unknown,
  trusted: { readonly msps: ReadonlyMap<string, Msp>; readonly anchors: TrustAnchors },
  demands: Demands = {},
  /** For both; by default the node checks with the CLI's and the page with its own. */
  txIdOf?: (entry: Uint8Array) => string | undefined,
): Promise<Both> {
  const node = verifyReceipt(receipt, trusted.msps, {
    txIdOf: txIdOf ?? txIdOfEntry,
    ...(demands.minSignatures === undefined ? {} : { signaturesMin: demands.minSignatures }),
    ...(demands.minOrganisations === undefined
      ? {}
      : { organisationsMin: demands.minOrganisations }),
  });
  const options: VerifyInBrowserOptions = {
    ...demands,
    ...(txIdOf === undefined ? {} : { txIdOf }),
  };
  const browser = await verifyReceiptInBrowser(receipt, trusted.anchors, options);
  return {
    node,
    browser,
    codes: [node.ok ? 'ok' : node.error.code, browser.ok ? 'ok' : browser.code],
  };
}

/** Both verifiers accepted, and say the same about what the receipt proves. */
function expectSameVerdict({ node, browser }: Both): void {
  if (!node.ok) throw new Error(`node: ${node.error.code}: ${node.error.message}`);
  if (!browser.ok) throw new Error(`browser: ${browser.code}: ${browser.message}`);
  const { value } = node;
  const { verified } = browser;
  expect(verified.version).toBe(value.version);
  expect(verified.txId).toBe(value.txId);
  expect(verified.seqno).toBe(value.seqno);
  expect(verified.treeSize).toBe(value.treeSize);
  expect(verified.root).toBe(value.root);
  expect(verified.organisations).toEqual(value.organisations);
  expect(verified.signers).toEqual(
    value.signers.map(({ nodeId, mspId, signedAt, role }) => ({ nodeId, mspId, signedAt, role })),
  );
  expect(Buffer.from(verified.entry).equals(Buffer.from(value.entry))).toBe(true);
}

/** Definitions (parseMspDefinition's input) keyed by MSP ID: the shape `msps` is stored in. */
function byMspId(definitions: readonly unknown[]): Record<string, unknown> {
  return Object.fromEntries(
    definitions.map((definition) => [parseMspDefinition(definition).mspId, definition]),
  );
}

function anchorsOf(json: unknown): TrustAnchors {
  const outcome = trustAnchorsFromConsortium(json);
  if (!outcome.ok) throw new Error(`${outcome.code}: ${outcome.message}`);
  return outcome.anchors;
}

// ---- the committed vectors -------------------------------------------------------------------

const fixturesDir = path.resolve(import.meta.dirname, '../fixtures/receipts');

function readVectors(dir: string) {
  const mspsJson = JSON.parse(readFileSync(path.join(dir, 'msps.json'), 'utf8')) as {
    msps: unknown[];
  };
  const trusted = { msps: mspsFromFixture(mspsJson), anchors: anchorsOf(byMspId(mspsJson.msps)) };
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json') && name !== 'msps.json')
    .sort()
    .map((name) => {
      const vector = JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as Vector;
      return [name.slice(0, -'.json'.length), vector, trusted] as const;
    });
}

describe.each([
  ['format 1 (test/fixtures/receipts)', readVectors(fixturesDir)],
  ['format 2 (test/fixtures/receipts/v2)', readVectors(path.join(fixturesDir, 'v2'))],
])('the receipt vectors on disk, %s, in the browser verifier', (_, vectors) => {
  it.each(vectors)('%s', async (_name, vector, trusted) => {
    const demands: Demands = {
      ...(vector.options?.signaturesMin === undefined
        ? {}
        : { minSignatures: vector.options.signaturesMin }),
      ...(vector.options?.organisationsMin === undefined
        ? {}
        : { minOrganisations: vector.options.organisationsMin }),
    };
    const both = await verifyBoth(vector.receipt, trusted, demands, testTxIdOf);
    expect(both.codes, `${vector.description}: ${JSON.stringify(both.browser)}`).toEqual([
      vector.expect,
      vector.expect,
    ]);
    if (vector.expect === 'ok') expectSameVerdict(both);
  });
});

// ---- a real node -----------------------------------------------------------------------------

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
    Template: { Count: 1 }
    Users: { Count: 1 }
  - Name: Rogue
    Domain: rogue.example.com
    EnableNodeOUs: true
    Template: { Count: 1 }
    Users: { Count: 1 }
`;

type NodeSigner = RootSigner & { readonly nodeId: string };

let work: string;
let engine: Engine;
let api: ApiServer;
let client: Client;
let raw: ReturnType<typeof createNodeHttp>;
let signers: Record<
  'org1Peer0' | 'org1Peer1' | 'org2Peer0' | 'org1User1' | 'roguePeer0',
  NodeSigner
>;
let trusted: { readonly msps: ReadonlyMap<string, Msp>; readonly anchors: TrustAnchors };
/** Receipts of the node's transactions, as GET /v1/tx/:txId/receipt answered. */
let receipts: ReceiptV2[];

const orgDir = (org: string): string =>
  path.join(work, 'crypto', 'peerOrganizations', `${org}.example.com`);

async function loadSigner(org: string, who: string): Promise<NodeSigner> {
  const mspId = `${org[0]?.toUpperCase() ?? ''}${org.slice(1)}MSP`;
  const domain = `${org}.example.com`;
  const dir = who.startsWith('peer')
    ? path.join(orgDir(org), 'peers', `${who}.${domain}`, 'msp')
    : path.join(orgDir(org), 'users', `${who}@${domain}`, 'msp');
  const local = await loadMspFolder(dir, { mspId, local: true });
  if (!local.ok) throw local.error;
  const signing = local.msp.signingIdentity;
  const certPem = local.folder?.signing?.signCert.pem;
  if (signing === undefined || certPem === undefined) throw new Error(`${dir}: no signer`);
  return { mspId, certPem, sign: signing.sign, nodeId: `${who}.${domain}` };
}

async function definitionOf(org: string): Promise<MspDefinition> {
  const mspId = `${org[0]?.toUpperCase() ?? ''}${org.slice(1)}MSP`;
  return (await readMspFolder(path.join(orgDir(org), 'msp'), mspId, false)).definition;
}

async function receiptOf(txId: string): Promise<ReceiptV2> {
  for (let attempt = 0; ; attempt += 1) {
    const http = await raw.call('GET', `/v1/tx/${txId}/receipt`);
    if (http.status === 200) return http.body as ReceiptV2;
    if (attempt > 400) throw new Error(`no receipt for ${txId}: ${JSON.stringify(http.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-console-receipt-'));
  await generateCryptoMaterial({ config: cryptoConfig, outputDir: path.join(work, 'crypto') });
  signers = {
    org1Peer0: await loadSigner('org1', 'peer0'),
    org1Peer1: await loadSigner('org1', 'peer1'),
    org2Peer0: await loadSigner('org2', 'peer0'),
    org1User1: await loadSigner('org1', 'User1'),
    roguePeer0: await loadSigner('rogue', 'peer0'),
  };
  // The genesis a `coffer up --genesis` node reads (node/index.ts governedOptions).
  const config = checkGenesis({
    msps: {
      Org1MSP: mspDefinitionJson(await definitionOf('org1')),
      Org2MSP: mspDefinitionJson(await definitionOf('org2')),
    },
    members: ['Org1MSP', 'Org2MSP'],
  });
  const apps = new Map([...builtInApps(), [governanceApp.name, governanceApp]]);
  const none: Consortium = { msps: new Map() };
  engine = await startEngine({
    dataDir: path.join(work, 'node'),
    nodeId: signers.org1Peer0.nodeId,
    consortium: () => none, // the ledger holds the consortium
    governed: {
      genesis: { config, writes: configWrites(config) },
      configMap: govConfigMap,
      consortiumOf: (read) => {
        const current = readGovConfig(read);
        if (current === undefined) throw new Error('governed ledger without a configuration');
        return consortiumOf(current);
      },
    },
    apps,
    rootSigner: signers.org1Peer0,
    logger: pino({ level: 'silent' }),
    signatureIntervalTx: 4,
    signatureIntervalMs: 20,
  });
  const peerTls = path.join(orgDir('org1'), 'peers', 'peer0.org1.example.com', 'tls');
  api = await createApi({
    engine,
    consortium: () => engine.consortium(),
    apps,
    tls: {
      cert: await readFile(path.join(peerTls, 'server.crt'), 'utf8'),
      key: await readFile(path.join(peerTls, 'server.key'), 'utf8'),
    },
    logger: pino({ level: 'silent' }),
    // Peer0 of Org2 and peer1 of Org1 sign the same roots, as peers.ts would fetch them.
    peerRoots: () => ({
      commonTreeSize: () => engine.lastSignedRoot()?.treeSize,
      rootsAt: async (treeSize) => {
        const own = await engine.signedRootAt(treeSize);
        if (own === undefined) return [];
        return [signers.org2Peer0, signers.org1Peer1].map((peer) =>
          signRoot({ treeSize, root: own.root, nodeId: peer.nodeId, signedAt: own.signedAt }, peer),
        );
      },
    }),
  });
  const url = await api.listen('127.0.0.1', 0);
  const userDir = path.join(orgDir('org1'), 'users', 'User1@org1.example.com', 'msp');
  const { identity, signer } = await identityFromMspFolder(userDir, 'Org1MSP');
  const [keyFile] = await readdir(path.join(userDir, 'keystore'));
  const options = {
    url,
    ca: await readFile(path.join(peerTls, 'ca.crt'), 'utf8'),
    servername: 'peer0.org1.example.com',
    tlsCert: identity.certPem,
    tlsKey: await readFile(path.join(userDir, 'keystore', String(keyFile)), 'utf8'),
    identity,
    signer,
  };
  client = createClient(options);
  raw = createNodeHttp(options, 2);

  const txIds: string[] = [];
  for (let i = 0; i < 6; i += 1) {
    const tx = await client.submit(
      'kv',
      'put',
      { map: 'public:kv.console', key: `k${i}`, value: `v${i}` },
      { wait: 'commit' },
    );
    expect(tx.status, JSON.stringify(tx)).toBe('Committed');
    txIds.push(tx.txId);
  }
  receipts = [];
  for (const txId of txIds) receipts.push(await receiptOf(txId));
  // What the page reads: the consortium's MSP definitions, from the node it audits.
  const state = await raw.call('GET', `/v1/state/${encodeURIComponent(govConfigMap)}/msps`);
  expect(state.status).toBe(200);
  trusted = { msps: engine.consortium().msps, anchors: anchorsOf(state.body) };
}, 60_000);

afterAll(async () => {
  client.close();
  raw.close();
  await api.close();
  await engine.stop();
  await rm(work, { recursive: true, force: true });
});

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Format 1 of a format 2 receipt: its i-th signed root alone. */
function formatOne(receipt: ReceiptV2, i = 0): unknown {
  const { txId, seqno, entry, proof, signedRoots } = clone(receipt);
  return { version: 1, txId, seqno, entry, proof, signedRoot: signedRoots[i] };
}

function flipBase64(text: string, byte: number, bit = 0): string {
  const bytes = Buffer.from(text, 'base64');
  const at = byte % bytes.byteLength;
  bytes[at] = (bytes[at] ?? 0) ^ (1 << bit);
  return bytes.toString('base64');
}

function flipHex(hex: string, byte: number, bit = 0): string {
  return Buffer.from(
    flipBase64(Buffer.from(hex, 'hex').toString('base64'), byte, bit),
    'base64',
  ).toString('hex');
}

/** The same ECDSA signature with S replaced by n - S. */
function highS(signature: string): string {
  const parsed = p256.Signature.fromBytes(Buffer.from(signature, 'base64'), 'der');
  const flipped = new p256.Signature(parsed.r, p256.Point.Fn.ORDER - parsed.s);
  return Buffer.from(flipped.toBytes('der')).toString('base64');
}

/** `who` signs the receipt's position (or `at`) under `nodeId` and `mspId`. */
function signedBy(
  receipt: ReceiptV2,
  who: NodeSigner,
  at: Partial<{ treeSize: number; root: string; nodeId: string; mspId: string }> = {},
): SignedRoot {
  const [first] = receipt.signedRoots;
  if (first === undefined) throw new Error('a receipt without signed roots');
  return signRoot(
    {
      treeSize: at.treeSize ?? first.treeSize,
      root: at.root ?? first.root,
      nodeId: at.nodeId ?? who.nodeId,
      signedAt: first.signedAt,
    },
    { ...who, mspId: at.mspId ?? who.mspId },
  );
}

function newest(): ReceiptV2 {
  const receipt = receipts[receipts.length - 1];
  if (receipt === undefined) throw new Error('no receipts');
  return receipt;
}

describe('receipts of a real node', () => {
  it('verify in the page as on the node: format 2 with three nodes of two organisations, and format 1', async () => {
    expect(receipts).toHaveLength(6);
    for (const receipt of receipts) {
      expect(receipt.version).toBe(2);
      expect(receipt.signedRoots.map((root) => root.nodeId)).toEqual([
        'peer0.org1.example.com',
        'peer0.org2.example.com',
        'peer1.org1.example.com',
      ]);
      const both = await verifyBoth(receipt, trusted);
      expectSameVerdict(both);
      expect(both.browser.ok && both.browser.verified.organisations).toEqual([
        'Org1MSP',
        'Org2MSP',
      ]);
      for (const i of [0, 1, 2])
        expectSameVerdict(await verifyBoth(formatOne(receipt, i), trusted));
    }
    // The JSON text, as a downloaded file gives it, verifies as the parsed receipt.
    const text = await verifyReceiptInBrowser(JSON.stringify(newest()), trusted.anchors);
    expect(text.ok && text.verified.txId).toBe(newest().txId);
  });

  it('count signers and organisations as the node does (--min-signatures, --min-orgs)', async () => {
    for (const [demands, expected] of [
      [{ minOrganisations: 2, minSignatures: 3 }, 'ok'],
      [{ minOrganisations: 3 }, 'RECEIPT_E_TOO_FEW_SIGNERS'],
      [{ minSignatures: 4 }, 'RECEIPT_E_TOO_FEW_SIGNERS'],
    ] as const) {
      expect((await verifyBoth(newest(), trusted, demands)).codes).toEqual([expected, expected]);
    }
    expect((await verifyBoth(formatOne(newest()), trusted, { minOrganisations: 2 })).codes).toEqual(
      ['RECEIPT_E_TOO_FEW_SIGNERS', 'RECEIPT_E_TOO_FEW_SIGNERS'],
    );
    await expect(
      verifyReceiptInBrowser(newest(), trusted.anchors, { minOrganisations: 0 }),
    ).rejects.toThrow(RangeError);
  });

  it('take their trust anchors from what the node publishes: the state route and the gov query agree', async () => {
    const query = await raw.call('POST', '/v1/query', { app: 'gov', query: 'config', args: {} });
    expect(query.status).toBe(200);
    expect(anchorsOf(query.body)).toEqual(trusted.anchors);
    expect(anchorsOf(await client.query('gov', 'config'))).toEqual(trusted.anchors);
    expect([...trusted.anchors.keys()]).toEqual(['Org1MSP', 'Org2MSP']);
    const org1 = trusted.anchors.get('Org1MSP');
    expect(org1?.nodeOus?.enable).toBe(true);
    expect(org1?.nodeOus?.peerOuIdentifier?.organizationalUnitIdentifier).toBe('peer');

    const other = await raw.call('GET', `/v1/state/${encodeURIComponent(govConfigMap)}/members`);
    for (const bad of [
      other.body,
      {},
      [],
      'msps',
      { Org1MSP: { mspId: 'Org2MSP', rootCerts: [] } },
      { Org1MSP: { mspId: 'Org1MSP', rootCerts: ['not a PEM'] } },
      { Org1MSP: { mspId: 'Org1MSP', rootCerts: [], nodeOus: { enable: 'yes' } } },
    ]) {
      const outcome = trustAnchorsFromConsortium(bad);
      expect(outcome.ok ? 'ok' : outcome.code, JSON.stringify(bad)).toBe(
        'MSP_E_DEFINITION_INVALID',
      );
    }
    // An MSP whose CA cannot be read makes its signers invalid, not the page crash.
    const broken: TrustAnchors = new Map([
      [
        'Org1MSP',
        {
          rootCerts: ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'],
          intermediateCerts: [],
        },
      ],
    ]);
    const check = await verifyReceiptInBrowser(formatOne(newest()), broken);
    expect(check.ok ? 'ok' : check.code).toBe('RECEIPT_E_SIGNER_INVALID');
  });

  it("read an entry's txId as the CLI does (property)", () => {
    const outcome = (read: (entry: Uint8Array) => string | undefined, entry: Uint8Array) => {
      try {
        return { txId: read(entry) };
      } catch {
        return 'throws';
      }
    };
    const entryValue = fc.oneof(
      fc.record(
        {
          type: fc.constantFrom('tx', 'signature', 'other'),
          txId: fc.oneof(
            fc
              .uint8Array({ minLength: 32, maxLength: 32 })
              .map((bytes) => Buffer.from(bytes).toString('hex')),
            fc.constant(null),
          ),
          seqno: fc.integer(),
          extra: fc.jsonValue(),
        },
        { requiredKeys: ['type'] },
      ),
      fc.jsonValue(),
    );
    const text = new TextEncoder();
    fc.assert(
      fc.property(entryValue, fc.boolean(), (value, canonical) => {
        let entry: Uint8Array;
        try {
          entry = canonical ? canonicalBytes(value) : text.encode(JSON.stringify(value, null, 1));
        } catch {
          entry = text.encode(JSON.stringify(value));
        }
        expect(outcome(cofferTxIdOf, entry)).toEqual(outcome(txIdOfEntry, entry));
      }),
      { numRuns: 500 },
    );
  });

  it('show what the receipt proves: the transaction entry, its signed request and its writes', async () => {
    const receipt = receipts[0];
    if (receipt === undefined) throw new Error('no receipt');
    const check = await verifyReceiptInBrowser(receipt, trusted.anchors);
    if (!check.ok) throw new Error(check.message);
    const decoded = decodeLedgerEntry(check.verified.entry);
    if (!decoded.ok || decoded.entry.kind !== 'tx') throw new Error(JSON.stringify(decoded));
    const { entry } = decoded;
    expect(entry.txId).toBe(receipt.txId);
    expect(entry.seqno).toBe(receipt.seqno);
    expect(entry.requestHash).toBe(receipt.txId);
    expect(entry).toMatchObject({ status: 'committed', app: 'kv', action: 'put' });
    expect(entry.signer?.mspId).toBe('Org1MSP');
    expect(entry.request).toMatchObject({ app: 'kv', action: 'put' });
    expect(entry.publicWrites).toContainEqual(['public:kv.console', 'k0', 'v0']);
    expect(decodeLedgerEntry(new TextEncoder().encode('{"b":1,"a":2}')).ok).toBe(false);
    expect(decodeLedgerEntry(new TextEncoder().encode('{"a":1.5}')).ok).toBe(false);
    expect(decodeLedgerEntry(new TextEncoder().encode('[1]'))).toEqual({
      ok: true,
      entry: { kind: 'other', json: [1] },
    });
  });
});

type Tampering = {
  readonly name: string;
  readonly receipt: () => unknown;
  readonly expect: string;
  /** Trusted organisations other than the node's (e.g. one left out). */
  readonly trusted?: () => typeof trusted;
};

/** Each format 2 change also made to the format 1 receipt of the same signed root. */
function tamperings(): Tampering[] {
  const base = newest();
  const v1 = (): ReceiptV2 & Record<string, unknown> =>
    formatOne(base) as ReceiptV2 & Record<string, unknown>;
  const v2 = (): ReceiptV2 => clone(base);
  const root = (receipt: ReceiptV2, i: number): SignedRoot => {
    const signedRoot = receipt.signedRoots[i];
    if (signedRoot === undefined) throw new Error(`no signed root ${i}`);
    return signedRoot;
  };
  const withRoot = (receipt: ReceiptV2, i: number, change: Partial<SignedRoot>): ReceiptV2 => ({
    ...receipt,
    signedRoots: receipt.signedRoots.map((each, j) => (j === i ? { ...each, ...change } : each)),
  });
  const asV1 = (signedRoot: SignedRoot): unknown => ({ ...v1(), signedRoot });
  const other = receipts[0];
  if (other === undefined) throw new Error('no receipts');
  const withoutOrg2 = () => ({
    msps: new Map([...trusted.msps].filter(([mspId]) => mspId !== 'Org2MSP')),
    anchors: new Map([...trusted.anchors].filter(([mspId]) => mspId !== 'Org2MSP')),
  });
  const certWithTrailingByte = (() => {
    const der = Buffer.from(
      signers.org1Peer0.certPem.replace(/-----[A-Z ]+-----|\s/g, ''),
      'base64',
    );
    const body = Buffer.concat([der, Buffer.of(0)]).toString('base64');
    return `-----BEGIN CERTIFICATE-----\n${(body.match(/.{1,64}/g) ?? []).join('\n')}\n-----END CERTIFICATE-----\n`;
  })();
  return [
    {
      name: 'one bit of the entry flipped',
      receipt: () => ({ ...v2(), entry: flipBase64(base.entry, 40) }),
      expect: 'RECEIPT_E_ENTRY_MISMATCH',
    },
    {
      name: 'one bit of the entry flipped, format 1',
      receipt: () => ({ ...v1(), entry: flipBase64(base.entry, 7, 3) }),
      expect: 'RECEIPT_E_ENTRY_MISMATCH',
    },
    {
      name: 'one bit of a proof hash flipped',
      receipt: () => {
        const receipt = v2();
        return {
          ...receipt,
          proof: {
            ...receipt.proof,
            hashes: receipt.proof.hashes.map((h, i) => (i === 0 ? flipHex(h, 5) : h)),
          },
        };
      },
      expect: 'RECEIPT_E_PROOF_INVALID',
    },
    {
      name: 'the last proof hash replaced, format 1',
      receipt: () => {
        const receipt = v1();
        const hashes = [...receipt.proof.hashes];
        hashes[hashes.length - 1] = 'ab'.repeat(32);
        return { ...receipt, proof: { ...receipt.proof, hashes } };
      },
      expect: 'RECEIPT_E_PROOF_INVALID',
    },
    {
      name: 'the previous leaf index (and seqno)',
      receipt: () => {
        const receipt = v2();
        const leafIndex = receipt.proof.leafIndex - 1;
        return { ...receipt, seqno: leafIndex + 1, proof: { ...receipt.proof, leafIndex } };
      },
      expect: 'RECEIPT_E_PROOF_INVALID',
    },
    {
      name: 'a leaf index beyond the tree, format 1',
      receipt: () => {
        const receipt = v1();
        const leafIndex = receipt.proof.treeSize;
        return { ...receipt, seqno: leafIndex + 1, proof: { ...receipt.proof, leafIndex } };
      },
      expect: 'RECEIPT_E_PROOF_INVALID',
    },
    {
      name: 'proof.treeSize is not the signed tree size',
      receipt: () => {
        const receipt = v2();
        return { ...receipt, proof: { ...receipt.proof, treeSize: receipt.proof.treeSize + 1 } };
      },
      expect: 'RECEIPT_E_PROOF_INVALID',
    },
    {
      name: "one bit of Org2's signature flipped",
      receipt: () => withRoot(v2(), 1, { signature: flipBase64(root(base, 1).signature, 12) }),
      expect: 'RECEIPT_E_SIGNATURE_INVALID',
    },
    {
      name: 'a signature with high S, format 1',
      receipt: () => asV1({ ...root(base, 0), signature: highS(root(base, 0).signature) }),
      expect: 'RECEIPT_E_SIGNATURE_INVALID',
    },
    {
      name: 'a byte appended to the DER signature',
      receipt: () =>
        withRoot(v2(), 2, {
          signature: Buffer.concat([
            Buffer.from(root(base, 2).signature, 'base64'),
            Buffer.of(0),
          ]).toString('base64'),
        }),
      expect: 'RECEIPT_E_SIGNATURE_INVALID',
    },
    {
      name: 'signedAt changed after signing, format 1',
      receipt: () => asV1({ ...root(base, 0), signedAt: root(base, 0).signedAt + 1 }),
      expect: 'RECEIPT_E_SIGNATURE_INVALID',
    },
    {
      name: 'nodeId changed after signing (order kept)',
      receipt: () => withRoot(v2(), 0, { nodeId: 'peer0.org1.example.co' }),
      expect: 'RECEIPT_E_SIGNATURE_INVALID',
    },
    {
      name: 'the root signed by a peer of an unknown CA, presented as Org1MSP',
      receipt: () => {
        const receipt = v2();
        const forged = signedBy(receipt, signers.roguePeer0, {
          nodeId: root(base, 0).nodeId,
          mspId: 'Org1MSP',
        });
        return withRoot(receipt, 0, forged);
      },
      expect: 'RECEIPT_E_SIGNER_INVALID',
    },
    {
      name: 'the root signed by a peer of an unknown CA, presented as Org1MSP, format 1',
      receipt: () => asV1(signedBy(base, signers.roguePeer0, { mspId: 'Org1MSP' })),
      expect: 'RECEIPT_E_SIGNER_INVALID',
    },
    {
      name: "peer0 of Org1's certificate with a byte of trailing data",
      receipt: () => asV1({ ...root(base, 0), certPem: certWithTrailingByte }),
      expect: 'RECEIPT_E_SIGNER_INVALID',
    },
    {
      name: 'the root signed by a peer of RogueMSP, which is not trusted',
      receipt: () => asV1(signedBy(base, signers.roguePeer0)),
      expect: 'RECEIPT_E_SIGNER_UNKNOWN',
    },
    {
      name: 'Org2 signed, and the page does not trust Org2MSP',
      receipt: v2,
      trusted: withoutOrg2,
      expect: 'RECEIPT_E_SIGNER_UNKNOWN',
    },
    {
      name: 'Org2 signed, and the page does not trust Org2MSP, format 1',
      receipt: () => formatOne(base, 1),
      trusted: withoutOrg2,
      expect: 'RECEIPT_E_SIGNER_UNKNOWN',
    },
    {
      name: 'the root signed by User1 of Org1 (NodeOU client)',
      receipt: () => {
        const receipt = v2();
        return {
          ...receipt,
          signedRoots: [
            ...receipt.signedRoots,
            signedBy(receipt, signers.org1User1, { nodeId: 'user1.org1.example.com' }),
          ],
        };
      },
      expect: 'RECEIPT_E_SIGNER_NOT_PEER',
    },
    {
      name: 'peer0 of Org1 signed again under another node ID',
      receipt: () => {
        const receipt = v2();
        return {
          ...receipt,
          signedRoots: [
            ...receipt.signedRoots,
            signedBy(receipt, signers.org1Peer0, { nodeId: 'peer9.org1.example.com' }),
          ],
        };
      },
      expect: 'RECEIPT_E_SIGNER_REPEATED',
    },
    {
      name: 'the same node listed twice',
      receipt: () => {
        const receipt = v2();
        return { ...receipt, signedRoots: [root(receipt, 0), ...receipt.signedRoots] };
      },
      expect: 'RECEIPT_E_SIGNER_REPEATED',
    },
    {
      name: 'peer1 of Org1 signed the root of an earlier tree size',
      receipt: () => {
        const receipt = v2();
        const treeSize = root(base, 0).treeSize - 1;
        const earlier = engine.rootAt(treeSize);
        if (earlier === undefined) throw new Error('no earlier root');
        return withRoot(
          receipt,
          2,
          signedBy(receipt, signers.org1Peer1, { treeSize, root: earlier }),
        );
      },
      expect: 'RECEIPT_E_ROOTS_DISAGREE',
    },
    {
      name: 'the txId of another transaction',
      receipt: () => ({ ...v2(), txId: other.txId }),
      expect: 'RECEIPT_E_TXID_MISMATCH',
    },
    {
      name: "another transaction's txId, entry and leaf on this proof, format 1",
      receipt: () => {
        const receipt = v1();
        return {
          ...receipt,
          txId: other.txId,
          entry: other.entry,
          proof: { ...receipt.proof, leafHash: other.proof.leafHash },
        };
      },
      expect: 'RECEIPT_E_PROOF_INVALID',
    },
    {
      name: 'an entry over receiptEntryBytesMax',
      receipt: () => ({
        ...v2(),
        entry: Buffer.alloc(receiptEntryBytesMax + 1).toString('base64'),
      }),
      expect: 'RECEIPT_E_MALFORMED',
    },
    {
      name: 'more than receiptProofHashesMax proof hashes',
      receipt: () => {
        const receipt = v2();
        const hashes = Array.from({ length: receiptProofHashesMax + 1 }, () => 'cd'.repeat(32));
        return { ...receipt, proof: { ...receipt.proof, hashes } };
      },
      expect: 'RECEIPT_E_MALFORMED',
    },
    {
      name: 'more than signedRootsMax signed roots',
      receipt: () => {
        const receipt = v2();
        const signedRoots = Array.from({ length: signedRootsMax + 1 }, (_, i) => ({
          ...root(receipt, 0),
          nodeId: `node${String(i).padStart(3, '0')}`,
        }));
        return { ...receipt, signedRoots };
      },
      expect: 'RECEIPT_E_MALFORMED',
    },
    {
      name: 'a certificate PEM over certPemCharsMax',
      receipt: () =>
        asV1({ ...root(base, 0), certPem: root(base, 0).certPem + ' '.repeat(certPemCharsMax) }),
      expect: 'RECEIPT_E_MALFORMED',
    },
    {
      name: 'a signature over signatureBytesMax',
      receipt: () =>
        asV1({
          ...root(base, 0),
          signature: Buffer.alloc(signatureBytesMax + 1, 1).toString('base64'),
        }),
      expect: 'RECEIPT_E_MALFORMED',
    },
    {
      name: 'a node ID over nodeIdCharsMax',
      receipt: () => asV1({ ...root(base, 0), nodeId: 'n'.repeat(nodeIdCharsMax + 1) }),
      expect: 'RECEIPT_E_MALFORMED',
    },
    {
      name: 'an entry in base64 with non-zero padding bits',
      // 'AB==' decodes to one zero byte, whose canonical base64 is 'AA=='.
      receipt: () => ({ ...v2(), entry: 'AB==' }),
      expect: 'RECEIPT_E_MALFORMED',
    },
    {
      name: 'signed roots out of node ID order',
      receipt: () => {
        const receipt = v2();
        return { ...receipt, signedRoots: [...receipt.signedRoots].reverse() };
      },
      expect: 'RECEIPT_E_MALFORMED',
    },
    {
      name: 'format 2 with the format 1 field',
      receipt: () => ({ ...v1(), version: 2 }),
      expect: 'RECEIPT_E_MALFORMED',
    },
    {
      name: 'an unknown format',
      receipt: () => ({ ...v2(), version: 3 }),
      expect: 'RECEIPT_E_MALFORMED',
    },
  ];
}

describe('tampered receipts of a real node', () => {
  it('fail in the page and on the node, with the same code', async () => {
    const cases = tamperings();
    for (const tampering of cases) {
      const receipt = tampering.receipt();
      const both = await verifyBoth(receipt, tampering.trusted?.() ?? trusted);
      expect(
        both.codes,
        `${tampering.name}: ${JSON.stringify(both.browser).slice(0, 400)}`,
      ).toEqual([tampering.expect, tampering.expect]);
    }
  });

  it('say so, rather than blame the receipt, in a page without WebCrypto (not HTTPS)', async () => {
    vi.stubGlobal('crypto', undefined);
    try {
      await expect(verifyReceiptInBrowser(newest(), trusted.anchors)).rejects.toThrow(/HTTPS/);
    } finally {
      vi.unstubAllGlobals();
    }
    expect((await verifyReceiptInBrowser(newest(), trusted.anchors)).ok).toBe(true);
  });

  it('oversize or unreadable text fails in the page with RECEIPT_E_MALFORMED', async () => {
    for (const text of [
      ' '.repeat(receiptTextCharsMax + 1),
      '{"version":2,',
      JSON.stringify(newest()).slice(0, -1),
      '',
    ]) {
      const check = await verifyReceiptInBrowser(text, trusted.anchors);
      expect(check.ok ? 'ok' : check.code).toBe('RECEIPT_E_MALFORMED');
    }
  });

  it('any JSON value that is not a receipt is malformed in both (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const both = await verifyBoth(value, trusted);
        expect(both.codes).toEqual(['RECEIPT_E_MALFORMED', 'RECEIPT_E_MALFORMED']);
      }),
      { numRuns: 200 },
    );
  });

  it('one random change anywhere makes both fail, with the same code (property)', async () => {
    const base = newest();
    const fields = [
      'entry',
      'leafHash',
      'proofHash',
      'txId',
      'root',
      'signature',
      'signedAt',
      'treeSize',
      'nodeId',
      'mspId',
    ] as const;
    const change = (
      field: (typeof fields)[number],
      index: number,
      byte: number,
      bit: number,
    ): unknown => {
      const receipt = clone(base) as { -readonly [K in keyof ReceiptV2]: ReceiptV2[K] };
      const i = index % receipt.signedRoots.length;
      const signedRoots = receipt.signedRoots.map((each) => ({ ...each }));
      const signed = signedRoots[i];
      if (signed === undefined) throw new Error('no signed root');
      switch (field) {
        case 'entry':
          return { ...receipt, entry: flipBase64(receipt.entry, byte, bit) };
        case 'leafHash':
          return {
            ...receipt,
            proof: { ...receipt.proof, leafHash: flipHex(receipt.proof.leafHash, byte, bit) },
          };
        case 'proofHash': {
          const hashes = [...receipt.proof.hashes];
          const at = index % hashes.length;
          hashes[at] = flipHex(hashes[at] ?? '', byte, bit);
          return { ...receipt, proof: { ...receipt.proof, hashes } };
        }
        case 'txId':
          return { ...receipt, txId: flipHex(receipt.txId, byte, bit) };
        case 'root':
          signedRoots[i] = { ...signed, root: flipHex(signed.root, byte, bit) };
          break;
        case 'signature':
          signedRoots[i] = { ...signed, signature: flipBase64(signed.signature, byte, bit) };
          break;
        case 'signedAt':
          signedRoots[i] = { ...signed, signedAt: signed.signedAt + 1 + byte };
          break;
        case 'treeSize':
          signedRoots[i] = { ...signed, treeSize: signed.treeSize + (bit % 2 === 0 ? 1 : -1) };
          break;
        case 'nodeId':
          // A suffix keeps the order of node IDs.
          signedRoots[i] = {
            ...signed,
            nodeId: `${signed.nodeId}${String.fromCharCode(0x21 + (byte % 90))}`,
          };
          break;
        case 'mspId':
          signedRoots[i] = { ...signed, mspId: signed.mspId === 'Org1MSP' ? 'Org2MSP' : 'Org1MSP' };
          break;
      }
      return { ...receipt, signedRoots };
    };
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...fields),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        async (field, index, byte, bit) => {
          const both = await verifyBoth(change(field, index, byte, bit), trusted);
          expect(both.codes[0]).not.toBe('ok');
          expect(both.codes[1], JSON.stringify(both.browser).slice(0, 300)).toBe(both.codes[0]);
        },
      ),
      { numRuns: 120 },
    );
  });

  // Last: it revokes a certificate in the organisation's folder.
  it("after Org1's CRL revokes peer1, both refuse receipts it signed and keep the others", async () => {
    await revokeCertificate({ orgDir: orgDir('org1'), certPem: signers.org1Peer1.certPem });
    const definitions = [
      mspDefinitionJson(await definitionOf('org1')),
      mspDefinitionJson(await definitionOf('org2')),
    ];
    const msps = new Map<string, Msp>();
    for (const json of definitions) {
      const outcome = setupMsp(parseMspDefinition(json), { version: '3.0', now: new Date() });
      if (!outcome.ok) throw outcome.error;
      msps.set(outcome.msp.mspId, outcome.msp);
    }
    const revoked = { msps, anchors: anchorsOf(byMspId(definitions)) };
    expect(revoked.anchors.get('Org1MSP')?.revocationList).toHaveLength(1);
    expect((await verifyBoth(newest(), revoked)).codes).toEqual([
      'RECEIPT_E_SIGNER_INVALID',
      'RECEIPT_E_SIGNER_INVALID',
    ]);
    expect((await verifyBoth(formatOne(newest(), 2), revoked)).codes).toEqual([
      'RECEIPT_E_SIGNER_INVALID',
      'RECEIPT_E_SIGNER_INVALID',
    ]);
    expectSameVerdict(await verifyBoth(formatOne(newest(), 0), revoked));
    expectSameVerdict(await verifyBoth(formatOne(newest(), 1), revoked));
  });
});

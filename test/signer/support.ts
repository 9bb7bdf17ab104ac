// A consortium, receipts and mutual-TLS clients for signer tests: three organisations (Org1..3,
// NodeOUs on) whose peers sign Merkle roots, a Rogue organisation outside the consortium, and
// custody transaction entries built the way the node writes them (engine.ts txEntry), so that
// receipts are real: Merkle proofs, root signatures, RFC 8785 entries.
import { createHash, randomBytes } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import path from 'node:path';
import { canonicalBytes } from '../../src/ledger/canonical.js';
import { createMerkleTree, leafHash } from '../../src/ledger/merkle.js';
import {
  createReceipt,
  signRoot,
  type ReceiptV2,
  type RootSigner,
  type SignedRoot,
} from '../../src/ledger/receipt.js';
import { generateCryptoMaterial } from '../../src/msp/cryptogen/index.js';
import { loadMspFolder } from '../../src/msp/index.js';

export const orgs = ['org1', 'org2', 'org3'] as const;

const cryptoConfig = `PeerOrgs:
${[...orgs, 'rogue']
  .map(
    (org) => `  - Name: ${org[0]?.toUpperCase() ?? ''}${org.slice(1)}
    Domain: ${org}.example.com
    EnableNodeOUs: true
    Template: { Count: 1 }
    Users: { Count: 2 }`,
  )
  .join('\n')}
`;

export function mspIdOf(org: string): string {
  return `${org[0]?.toUpperCase() ?? ''}${org.slice(1)}MSP`;
}

export function orgDir(crypto: string, org: string): string {
  return path.join(crypto, 'peerOrganizations', `${org}.example.com`);
}

export type NodeSigner = RootSigner & { readonly nodeId: string };

export type Material = {
  readonly crypto: string;
  /** peer0 of each organisation (Rogue included), as a root signer. */
  readonly peers: Readonly<Record<string, NodeSigner>>;
};

async function peerSigner(crypto: string, org: string): Promise<NodeSigner> {
  const nodeId = `peer0.${org}.example.com`;
  const dir = path.join(orgDir(crypto, org), 'peers', nodeId, 'msp');
  const local = await loadMspFolder(dir, { mspId: mspIdOf(org), local: true });
  if (!local.ok) throw local.error;
  const signing = local.msp.signingIdentity;
  const certPem = local.folder?.signing?.signCert.pem;
  if (signing === undefined || certPem === undefined) throw new Error(`${dir}: no signer`);
  return { mspId: mspIdOf(org), certPem, sign: (message) => signing.sign(message), nodeId };
}

export async function generateMaterial(work: string): Promise<Material> {
  const crypto = path.join(work, 'crypto');
  await generateCryptoMaterial({ config: cryptoConfig, outputDir: crypto });
  const peers: Record<string, NodeSigner> = {};
  for (const org of [...orgs, 'rogue']) peers[org] = await peerSigner(crypto, org);
  return { crypto, peers };
}

/** Certificate and key of a user's MSP identity: what a custody worker connects with. */
export async function userTls(
  crypto: string,
  org: string,
  user: string,
): Promise<{ readonly cert: string; readonly key: string }> {
  const msp = path.join(orgDir(crypto, org), 'users', `${user}@${org}.example.com`, 'msp');
  const [certFile] = await readdir(path.join(msp, 'signcerts'));
  return {
    cert: await readFile(path.join(msp, 'signcerts', certFile ?? ''), 'utf8'),
    key: await readFile(path.join(msp, 'keystore', 'priv_sk'), 'utf8'),
  };
}

export type PlatformKeyJson = { keyId: string; publicKey: string; curve: string };

export type WithdrawalJson = {
  id: string;
  walletId: string;
  state: string;
  /** One digest per input on Bitcoin, one on coffer and Ethereum. */
  digests: string[] | null;
  platformKey: PlatformKeyJson;
  [field: string]: unknown;
};

/** SHA-256 of `text`, lower-case hex: a stand-in for a chain's sighash. */
export function digestOf(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** `count` distinct digests, as a Bitcoin withdrawal of `count` inputs carries them. */
export function digestsOf(label: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => digestOf(`${label} input ${i}`));
}

export function withdrawal(
  fields: Partial<WithdrawalJson> & { platformKey: PlatformKeyJson },
): WithdrawalJson {
  return {
    id: 'w-1',
    walletId: 'wallet-1',
    chain: 'ethereum',
    asset: 'ETH',
    amount: '1000',
    destination: `0x${'ab'.repeat(20)}`,
    state: 'service_signed',
    digests: [digestOf('unsigned tx w-1')],
    fee: '21000',
    serviceSignatures: ['aa'.repeat(64)],
    platformSignatures: null,
    // Ledger time from which it may be expired (custody's withdrawalExpiryMs, 24 h by default).
    expiresAt: Date.now() + 24 * 60 * 60 * 1000,
    ...fields,
  };
}

export type EntryOptions = {
  readonly app?: string;
  readonly action?: string;
  readonly status?: string;
  readonly writes?: readonly (readonly [string, string, string | null])[];
};

/** A transaction entry as engine.ts writes it; its txId is fresh. */
export function txEntry(
  seqno: number,
  options: EntryOptions,
): { readonly entry: Uint8Array; readonly txId: string } {
  const txId = randomBytes(32).toString('hex');
  const entry = canonicalBytes({
    type: 'tx',
    seqno,
    txId,
    status: options.status ?? 'committed',
    result: null,
    signer: { mspId: 'Org1MSP', identityId: 'ff'.repeat(32) },
    app: options.app ?? 'custody',
    action: options.action ?? 'service_sign',
    envelope: { request: Buffer.from('{}').toString('base64'), signature: '' },
    writes: {
      public: (options.writes ?? []).map((write) => [...write]),
      private: Buffer.from(randomBytes(28)).toString('base64'),
    },
  });
  return { entry, txId };
}

/** The custody entry that records `record` in public:custody.withdrawals. */
export function withdrawalEntry(
  seqno: number,
  record: WithdrawalJson,
  options: Omit<EntryOptions, 'writes'> = {},
) {
  return txEntry(seqno, {
    ...options,
    writes: [['public:custody.withdrawals', record.id, JSON.stringify(record)]],
  });
}

/**
 * A receipt for `entry` at position 3 of a 5-leaf ledger (filler entries around it), its root
 * signed by `signers` at `signedAt`.
 */
export function receiptFor(
  entry: { readonly entry: Uint8Array; readonly txId: string },
  signers: readonly NodeSigner[],
  signedAt: number = Date.now(),
): ReceiptV2 {
  const tree = createMerkleTree();
  const leafIndex = 2;
  for (let i = 0; i < 5; i += 1) {
    tree.append(
      leafHash(i === leafIndex ? entry.entry : txEntry(i + 1, { app: 'kv', action: 'put' }).entry),
    );
  }
  const root = Buffer.from(tree.root()).toString('hex');
  const signedRoots: SignedRoot[] = signers.map((signer) =>
    signRoot({ treeSize: 5, root, nodeId: signer.nodeId, signedAt }, signer),
  );
  return createReceipt({
    txId: entry.txId,
    entry: entry.entry,
    leafIndex,
    proof: tree.inclusionProof(leafIndex, 5),
    signedRoots,
  });
}

export type Answer = { readonly status: number; readonly body: Record<string, unknown> };

export type ClientTls = {
  readonly ca: string;
  readonly servername: string;
  readonly client: { readonly cert: string; readonly key: string } | null;
};

/** GETs JSON from the signer over mutual TLS. */
export function get(url: string, route: string, tls: ClientTls): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${url}${route}`,
      {
        method: 'GET',
        ca: tls.ca,
        servername: tls.servername,
        ...(tls.client === null ? {} : { cert: tls.client.cert, key: tls.client.key }),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
          });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** POSTs JSON to the signer over mutual TLS (no client certificate when `client` is null). */
export function post(url: string, route: string, body: unknown, tls: ClientTls): Promise<Answer> {
  const payload = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${url}${route}`,
      {
        method: 'POST',
        ca: tls.ca,
        servername: tls.servername,
        ...(tls.client === null ? {} : { cert: tls.client.cert, key: tls.client.key }),
        headers: { 'content-type': 'application/json', 'content-length': payload.length },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({
              status: res.statusCode ?? 0,
              body: JSON.parse(text) as Record<string, unknown>,
            });
          } catch {
            resolve({ status: res.statusCode ?? 0, body: { text } });
          }
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

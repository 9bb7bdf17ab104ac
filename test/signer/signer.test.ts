// The signer on a real SoftHSM2 token, over real mutual TLS on 127.0.0.1, with real receipts:
// it signs exactly what a receipt proves the consortium approved, and every bypass attempt is
// refused with its code, logged with its reason and caller, and signs nothing.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  curveOrder,
  rawSignatureToDer,
  toHex,
  verifyDigestSignature,
  type KeyInfo,
} from '../../src/crypto/index.js';
import { signRoot, type ReceiptV2 } from '../../src/ledger/receipt.js';
import { digestsPerRequestMax } from '../../src/signer/approval.js';
import {
  auditLineBytesMax,
  openConfiguredKeyStore,
  parseSignerConfig,
  receiptBytesMax,
  startSigner,
  verifyAuditLog,
  type RunningSigner,
  type SignerConfig,
} from '../../src/signer/index.js';
import { createSoftHsm, makeRawEcKey, userPin, type SoftHsm } from '../crypto/softhsm.js';
import {
  digestOf,
  digestsOf,
  generateMaterial,
  mspIdOf,
  orgDir,
  post,
  receiptFor,
  txEntry,
  userTls,
  withdrawal,
  withdrawalEntry,
  type Answer,
  type Material,
  type WithdrawalJson,
} from './support.js';

const tokenLabel = 'signer-test';
let work: string;
let hsm: SoftHsm;
let material: Material;
let config: SignerConfig;
let signer: RunningSigner;
let platform: KeyInfo;
let p256Key: KeyInfo;
let extractable: KeyInfo;
let tls: { ca: string; servername: string };
let worker: { cert: string; key: string };
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-signer-'));
  hsm = await createSoftHsm([tokenLabel]);
  material = await generateMaterial(work);
  const pinFile = path.join(work, 'pin');
  await writeFile(pinFile, `${userPin}\n`, { mode: 0o600 });
  const peerTls = path.join(
    orgDir(material.crypto, 'org1'),
    'peers',
    'peer0.org1.example.com',
    'tls',
  );
  config = parseSignerConfig(
    {
      listen: { host: '127.0.0.1', port: 0 },
      tls: {
        certFile: path.join(peerTls, 'server.crt'),
        keyFile: path.join(peerTls, 'server.key'),
      },
      consortium: ['org1', 'org2', 'org3'].map((org) => ({
        mspId: mspIdOf(org),
        mspDir: path.join(orgDir(material.crypto, org), 'msp'),
      })),
      authorisedCallers: [{ mspId: 'Org1MSP', role: 'client' }],
      keyStore: { kind: 'pkcs11', library: hsm.library, tokenLabel, pinFile: 'pin' },
      auditLog: 'audit.log',
    },
    work,
  );
  expect(config.organisationsMin).toBe(2); // a strict majority of three

  const store = await openConfiguredKeyStore(config.keyStore);
  platform = await store.generate({ curve: 'secp256k1', label: 'platform' });
  p256Key = await store.generate({ curve: 'P-256', label: 'platform p256' });
  // A key an administrator made extractable, bypassing coffer signer keygen.
  makeRawEcKey(hsm.library, tokenLabel, 'ee'.repeat(16), [
    { type: 0x162 /* CKA_EXTRACTABLE */, value: true },
    { type: 0x103 /* CKA_SENSITIVE */, value: true },
  ]);
  const found = await store.key('ee'.repeat(16));
  if (found === undefined) throw new Error('the raw key is not on the token');
  extractable = found;
  await store.close();

  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.length > 0) logLines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  signer = await startSigner(config, pino({ level: 'info' }, sink));
  tls = {
    ca: await readFile(path.join(peerTls, 'ca.crt'), 'utf8'),
    servername: 'peer0.org1.example.com',
  };
  worker = await userTls(material.crypto, 'org1', 'User1');
});

afterAll(async () => {
  await signer.stop();
  await hsm.cleanup();
  await rm(work, { recursive: true, force: true });
});

const twoOrgs = () =>
  [material.peers['org1'], material.peers['org2']].map((peer) => {
    if (peer === undefined) throw new Error('no peer');
    return peer;
  });

function platformKeyOf(key: KeyInfo) {
  return { keyId: key.keyId, publicKey: key.publicKey, curve: key.curve };
}

/** An approved withdrawal, its receipt, and the sign request a worker sends for it. */
function approved(fields: Partial<WithdrawalJson> = {}, key: KeyInfo = platform) {
  const record = withdrawal({ platformKey: platformKeyOf(key), ...fields });
  const receipt = receiptFor(withdrawalEntry(3, record), twoOrgs());
  const body = {
    walletId: record.walletId,
    withdrawalId: record.id,
    digests: record.digests ?? [],
    keyId: key.keyId,
    receipt: receipt as unknown,
  };
  return { record, receipt, body };
}

function sign(body: unknown, client: { cert: string; key: string } | null = worker) {
  return post(signer.url, '/v1/sign', body, { ...tls, client });
}

function codeOf(answer: Answer): string | undefined {
  return (answer.body['error'] as { code?: string } | undefined)?.code;
}

function signaturesOf(answer: Answer): string[] {
  const signatures = answer.body['signatures'];
  expect(Array.isArray(signatures)).toBe(true);
  return (signatures as unknown[]).map(String);
}

/** Does `signature` (hex of r‖s) verify over `digest` with the platform key? */
function verifies(key: KeyInfo, digest: string, signature: string): boolean {
  return verifyDigestSignature(
    key.curve,
    key.publicKey,
    Buffer.from(digest, 'hex'),
    Buffer.from(signature, 'hex'),
  );
}

function flipHex(hex: string): string {
  const bytes = Buffer.from(hex, 'hex');
  bytes[31] = (bytes[31] ?? 0) ^ 1;
  return bytes.toString('hex');
}

function clone(receipt: ReceiptV2): { -readonly [K in keyof ReceiptV2]: ReceiptV2[K] } {
  return JSON.parse(JSON.stringify(receipt)) as ReceiptV2;
}

async function auditEvents(): Promise<Record<string, unknown>[]> {
  const text = await readFile(config.auditLog, 'utf8');
  expect(verifyAuditLog(text).brokenAt).toBeUndefined();
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('signer: what the ledger approved is signed', () => {
  it('signs an approved digest with the HSM key: low-S r‖s that verifies, audited', async () => {
    const { body, receipt } = approved();
    expect(body.digests).toHaveLength(1);
    const answer = await sign(body);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      withdrawalId: 'w-1',
      walletId: 'wallet-1',
      keyId: platform.keyId,
      curve: 'secp256k1',
      publicKey: platform.publicKey,
      digests: body.digests,
      txId: receipt.txId,
      seqno: 3,
    });
    const [hex] = signaturesOf(answer);
    const signature = Buffer.from(hex ?? '', 'hex');
    expect(signature).toHaveLength(64);
    expect(
      secp256k1.verify(
        signature,
        Buffer.from(body.digests[0] ?? '', 'hex'),
        Buffer.from(platform.publicKey, 'hex'),
        {
          prehash: false,
          lowS: true,
        },
      ),
    ).toBe(true);
    const s = BigInt(`0x${signature.subarray(32).toString('hex')}`);
    expect(s <= (curveOrder('secp256k1') ?? 0n) >> 1n).toBe(true);
    expect(answer.body['signaturesDer']).toEqual([toHex(rawSignatureToDer(signature))]);
    const events = await auditEvents();
    const signed = events.filter((event) => event['event'] === 'signed');
    expect(signed.at(-1)).toMatchObject({
      withdrawalId: 'w-1',
      digests: body.digests,
      txId: receipt.txId,
      signatures: answer.body['signatures'],
      caller: { mspId: 'Org1MSP', role: 'client' },
    });
  });

  it('signs each digest of a 3-input withdrawal, in order, each verifying over its own', async () => {
    const digests = digestsOf('w-btc-3', 3);
    const { body, receipt } = approved({ id: 'w-btc-3', chain: 'bitcoin', asset: 'BTC', digests });
    const answer = await sign(body);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body).toMatchObject({ withdrawalId: 'w-btc-3', digests, txId: receipt.txId });
    const signatures = signaturesOf(answer);
    expect(signatures).toHaveLength(3);
    for (const [i, digest] of digests.entries()) {
      const signature = signatures[i] ?? '';
      expect(verifies(platform, digest, signature), `signature ${i}`).toBe(true);
      // Over its own digest only: not a signature of the next input's.
      expect(verifies(platform, digests[(i + 1) % 3] ?? '', signature)).toBe(false);
    }
    expect(answer.body['signaturesDer']).toEqual(
      signatures.map((signature) => toHex(rawSignatureToDer(Buffer.from(signature, 'hex')))),
    );
    const signed = (await auditEvents()).filter((event) => event['event'] === 'signed').at(-1);
    expect(signed).toMatchObject({ withdrawalId: 'w-btc-3', digests, signatures });
  });

  it(`signs digestsPerRequestMax (${digestsPerRequestMax}) digests; the audit line fits its limit`, async () => {
    const digests = digestsOf('w-btc-max', digestsPerRequestMax);
    const { body } = approved({ id: 'w-btc-max', chain: 'bitcoin', asset: 'BTC', digests });
    const answer = await sign(body);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const signatures = signaturesOf(answer);
    expect(signatures).toHaveLength(digestsPerRequestMax);
    expect(
      signatures.every((signature, i) => verifies(platform, digests[i] ?? '', signature)),
    ).toBe(true);
    const line = (await readFile(config.auditLog, 'utf8'))
      .split('\n')
      .find((text) => text.includes('"withdrawalId":"w-btc-max"'));
    // Longer than the 16 KiB that held one digest's line; within the limit that holds a full list.
    expect(Buffer.byteLength(line ?? '')).toBeGreaterThan(16 * 1024);
    expect(Buffer.byteLength(line ?? '')).toBeLessThanOrEqual(auditLineBytesMax);
  });

  it('refuses the approved digests reordered or one fewer, signing nothing; the list as approved signs', async () => {
    const digests = digestsOf('w-btc-exact', 3);
    const { body } = approved({ id: 'w-btc-exact', chain: 'bitcoin', asset: 'BTC', digests });
    const [a = '', b = '', c = ''] = digests;
    for (const wrong of [
      [b, a, c],
      [a, c, b],
      [a, b],
      [b, c],
    ]) {
      const answer = await sign({ ...body, digests: wrong });
      expect(codeOf(answer), JSON.stringify(wrong)).toBe('SIGNER_E_DIGEST_NOT_APPROVED');
      expect(answer.status).toBe(403);
      expect(answer.body['signatures']).toBeUndefined();
      expect((await auditEvents()).at(-1)).toMatchObject({
        event: 'refused',
        code: 'SIGNER_E_DIGEST_NOT_APPROVED',
        withdrawalId: 'w-btc-exact',
        digests: wrong,
      });
    }
    const ofThis = async () =>
      (await auditEvents()).filter(
        (event) => event['event'] === 'signed' && event['withdrawalId'] === 'w-btc-exact',
      );
    expect(await ofThis()).toHaveLength(0);
    // The same receipt with the digests in the approved order is signed.
    const answer = await sign(body);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(await ofThis()).toEqual([expect.objectContaining({ digests })]);
  });

  it('signs with a P-256 platform key too', async () => {
    const { body } = approved({ id: 'w-p256', walletId: 'wallet-p256' }, p256Key);
    const answer = await sign(body);
    expect(answer.status).toBe(200);
    expect(answer.body['curve']).toBe('P-256');
  });

  it('reports its key store on /v1/status to authorised callers only', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      void import('node:https').then(({ get }) => {
        get(
          `${signer.url}/v1/status`,
          { ...tls, cert: worker.cert, key: worker.key, agent: false },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        ).on('error', reject);
      });
    });
    expect(status).toBe(200);
    expect(signer.keyStore.description).toContain('PKCS#11');
    expect(signer.keys.find((key) => key.keyId === extractable.keyId)).toMatchObject({
      ok: false,
      code: 'KEYSTORE_E_KEY_EXPORTABLE',
    });
  });
});

describe('signer: every bypass is refused with its code and signs nothing', () => {
  const cases: [string, () => Promise<Answer>, string, string?][] = [
    [
      'a digest the ledger never approved',
      () => {
        const { body } = approved();
        return sign({ ...body, digests: [digestOf('evil tx')] });
      },
      'SIGNER_E_DIGEST_NOT_APPROVED',
    ],
    [
      'the approved digest with one bit flipped',
      () => {
        const { body } = approved();
        return sign({ ...body, digests: body.digests.map(flipHex) });
      },
      'SIGNER_E_DIGEST_NOT_APPROVED',
    ],
    [
      'the approved digests of a 3-input withdrawal in another order',
      () => {
        const { body } = approved({ id: 'w-order', digests: digestsOf('w-order', 3) });
        const [a = '', b = '', c = ''] = body.digests;
        return sign({ ...body, digests: [b, a, c] });
      },
      'SIGNER_E_DIGEST_NOT_APPROVED',
    ],
    [
      'the approved digests of a 3-input withdrawal, reversed',
      () => {
        const { body } = approved({ id: 'w-reversed', digests: digestsOf('w-reversed', 3) });
        return sign({ ...body, digests: [...body.digests].reverse() });
      },
      'SIGNER_E_DIGEST_NOT_APPROVED',
    ],
    [
      'the approved digests of a 3-input withdrawal, one fewer',
      () => {
        const { body } = approved({ id: 'w-fewer', digests: digestsOf('w-fewer', 3) });
        return sign({ ...body, digests: body.digests.slice(0, 2) });
      },
      'SIGNER_E_DIGEST_NOT_APPROVED',
    ],
    [
      'the approved digests of a 3-input withdrawal, one more',
      () => {
        const { body } = approved({ id: 'w-more', digests: digestsOf('w-more', 3) });
        return sign({ ...body, digests: [...body.digests, digestOf('evil input')] });
      },
      'SIGNER_E_DIGEST_NOT_APPROVED',
    ],
    [
      'the approved digests of a 3-input withdrawal, one repeated in place of another',
      () => {
        const { body } = approved({ id: 'w-repeat', digests: digestsOf('w-repeat', 3) });
        const [a = '', b = ''] = body.digests;
        return sign({ ...body, digests: [a, b, a] });
      },
      'SIGNER_E_DIGEST_NOT_APPROVED',
    ],
    [
      "another withdrawal's receipt",
      () => {
        const { receipt } = approved({ id: 'w-other' });
        const { body } = approved();
        return sign({ ...body, receipt });
      },
      'SIGNER_E_WITHDRAWAL_MISMATCH',
    ],
    [
      'a receipt for another wallet',
      () => {
        const { body } = approved();
        return sign({ ...body, walletId: 'wallet-attacker' });
      },
      'SIGNER_E_WITHDRAWAL_MISMATCH',
    ],
    [
      'a withdrawal that is built but not signed by the service',
      () => sign(approved({ state: 'built' }).body),
      'SIGNER_E_STATE_NOT_APPROVED',
    ],
    [
      'a withdrawal already platform-signed (a later transaction)',
      () => sign(approved({ state: 'platform_signed' }).body),
      'SIGNER_E_STATE_NOT_APPROVED',
    ],
    [
      'a withdrawal whose expiry has passed (the receipt itself is fresh)',
      () => sign(approved({ expiresAt: Date.now() - 1000 }).body),
      'SIGNER_E_WITHDRAWAL_EXPIRED',
    ],
    [
      'an entry with one bit flipped',
      () => {
        const { body, receipt } = approved();
        const tampered = clone(receipt);
        const bytes = Buffer.from(tampered.entry, 'base64');
        bytes[40] = (bytes[40] ?? 0) ^ 1;
        tampered.entry = bytes.toString('base64');
        return sign({ ...body, receipt: tampered });
      },
      'SIGNER_E_RECEIPT_INVALID',
      'RECEIPT_E_ENTRY_MISMATCH',
    ],
    [
      'an entry rewritten with the attacker’s digest and its leaf hash recomputed',
      () => {
        const evil = digestOf('evil tx');
        const { body, receipt } = approved();
        const forged = approved({ digests: [evil] });
        const tampered = clone(receipt);
        tampered.entry = forged.receipt.entry;
        tampered.proof = { ...tampered.proof, leafHash: forged.receipt.proof.leafHash };
        tampered.txId = forged.receipt.txId;
        return sign({ ...body, digests: [evil], receipt: tampered });
      },
      'SIGNER_E_RECEIPT_INVALID',
      'RECEIPT_E_PROOF_INVALID',
    ],
    [
      'a root signed by a node outside the consortium',
      () => {
        const { record } = approved();
        const rogue = material.peers['rogue'];
        const org1 = material.peers['org1'];
        if (rogue === undefined || org1 === undefined) throw new Error('no peer');
        const receipt = receiptFor(withdrawalEntry(3, record), [org1, rogue]);
        return sign({ ...approved().body, receipt });
      },
      'SIGNER_E_RECEIPT_INVALID',
      'RECEIPT_E_SIGNER_UNKNOWN',
    ],
    [
      "a forged root: Org2's certificate, signed by a key not in the MSP",
      () => {
        const { body, receipt } = approved();
        const forged = clone(receipt);
        const rogue = material.peers['rogue'];
        if (rogue === undefined) throw new Error('no rogue');
        forged.signedRoots = forged.signedRoots.map((root) =>
          root.mspId === 'Org2MSP'
            ? { ...signRoot(root, rogue), mspId: root.mspId, certPem: root.certPem }
            : root,
        );
        return sign({ ...body, receipt: forged });
      },
      'SIGNER_E_RECEIPT_INVALID',
      'RECEIPT_E_SIGNATURE_INVALID',
    ],
    [
      'a receipt signed by one organisation of three',
      () => {
        const { record, body } = approved();
        const org1 = material.peers['org1'];
        if (org1 === undefined) throw new Error('no peer');
        return sign({ ...body, receipt: receiptFor(withdrawalEntry(3, record), [org1]) });
      },
      'SIGNER_E_RECEIPT_INVALID',
      'RECEIPT_E_TOO_FEW_SIGNERS',
    ],
    [
      'a receipt whose txId is not its entry’s',
      () => {
        const { body, receipt } = approved();
        return sign({ ...body, receipt: { ...receipt, txId: 'ab'.repeat(32) } });
      },
      'SIGNER_E_RECEIPT_INVALID',
      'RECEIPT_E_TXID_MISMATCH',
    ],
    [
      'a receipt signed two days ago',
      () => {
        const { record, body } = approved();
        const old = Date.now() - 2 * 24 * 60 * 60 * 1000;
        return sign({ ...body, receipt: receiptFor(withdrawalEntry(3, record), twoOrgs(), old) });
      },
      'SIGNER_E_RECEIPT_STALE',
    ],
    [
      'a receipt of a transaction of another app',
      () => {
        const { record, body } = approved();
        const entry = txEntry(3, {
          app: 'kv',
          writes: [['public:custody.withdrawals', record.id, JSON.stringify(record)]],
        });
        return sign({ ...body, receipt: receiptFor(entry, twoOrgs()) });
      },
      'SIGNER_E_NOT_APPROVAL',
    ],
    [
      'an entry recording another ledger position than its receipt',
      () => {
        const { record, body } = approved();
        return sign({ ...body, receipt: receiptFor(withdrawalEntry(9, record), twoOrgs()) });
      },
      'SIGNER_E_NOT_APPROVAL',
    ],
    [
      'a receipt of an invalid custody transaction',
      () => {
        const { record, body } = approved();
        return sign({
          ...body,
          receipt: receiptFor(withdrawalEntry(3, record, { status: 'invalid' }), twoOrgs()),
        });
      },
      'SIGNER_E_NOT_APPROVAL',
    ],
    [
      'a request naming another HSM key than the wallet’s',
      () => {
        const { body } = approved();
        return sign({ ...body, keyId: p256Key.keyId });
      },
      'SIGNER_E_KEY_MISMATCH',
    ],
    [
      'a record whose platform public key is not the HSM key’s',
      () => {
        const other = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), false);
        const { body } = approved({
          platformKey: {
            keyId: platform.keyId,
            publicKey: Buffer.from(other).toString('hex'),
            curve: 'secp256k1',
          },
        });
        return sign(body);
      },
      'SIGNER_E_KEY_MISMATCH',
    ],
    [
      'an approved withdrawal of an extractable HSM key',
      () => sign(approved({ id: 'w-ext' }, extractable).body),
      'KEYSTORE_E_KEY_EXPORTABLE',
    ],
    [
      'a key the HSM does not hold',
      () => sign({ ...approved().body, keyId: '12'.repeat(16) }),
      'SIGNER_E_KEY_UNKNOWN',
    ],
    [
      'a digest that is not 32 bytes of hex',
      () => sign({ ...approved().body, digests: ['ab'.repeat(33)] }),
      'SIGNER_E_DIGEST_INVALID',
    ],
    [
      'a list with one digest in upper-case hex',
      () => {
        const { body } = approved({ id: 'w-upper', digests: digestsOf('w-upper', 2) });
        return sign({ ...body, digests: [body.digests[0], body.digests[1]?.toUpperCase()] });
      },
      'SIGNER_E_DIGEST_INVALID',
    ],
    [
      `${digestsPerRequestMax + 1} digests, one more than digestsPerRequestMax`,
      () => {
        const digests = digestsOf('w-too-many', digestsPerRequestMax + 1);
        return sign({ ...approved({ id: 'w-too-many', digests }).body, digests });
      },
      'SIGNER_E_DIGEST_INVALID',
    ],
    [
      'an empty list of digests',
      () => sign({ ...approved().body, digests: [] }),
      'SIGNER_E_DIGEST_INVALID',
    ],
    [
      'one digest as a string, not a list',
      () => {
        const { body } = approved();
        return sign({ ...body, digests: body.digests[0] });
      },
      'SIGNER_E_DIGEST_INVALID',
    ],
    [
      'the single `digest` field of the former API',
      () => {
        const { digests, ...body } = approved().body;
        return sign({ ...body, digest: digests[0] });
      },
      'SIGNER_E_REQUEST_INVALID',
    ],
    [
      'a body with an unknown field',
      () => sign({ ...approved().body, force: true }),
      'SIGNER_E_REQUEST_INVALID',
    ],
    [
      'a receipt larger than the limit',
      () => sign({ ...approved().body, receipt: { padding: 'x'.repeat(receiptBytesMax) } }),
      'SIGNER_E_REQUEST_INVALID',
    ],
    [
      'a valid MSP identity that is not an authorised caller (Org2 client)',
      async () => sign(approved().body, await userTls(material.crypto, 'org2', 'User1')),
      'SIGNER_E_CALLER_FORBIDDEN',
    ],
    [
      'an Org1 admin: authorised callers are Org1 clients only',
      async () => sign(approved().body, await userTls(material.crypto, 'org1', 'Admin')),
      'SIGNER_E_CALLER_FORBIDDEN',
    ],
    [
      'a caller with no client certificate',
      () => sign(approved().body, null),
      'SIGNER_E_UNAUTHENTICATED',
    ],
    [
      'a caller whose certificate is from a CA outside the consortium',
      async () => sign(approved().body, await userTls(material.crypto, 'rogue', 'User1')),
      'SIGNER_E_UNAUTHENTICATED',
    ],
  ];

  it.each(cases)('%s', async (_name, attempt, code, receiptCode) => {
    const before = (await auditEvents()).filter((event) => event['event'] === 'signed').length;
    const answer = await attempt();
    expect(codeOf(answer), JSON.stringify(answer.body)).toBe(code);
    expect(answer.status).toBeGreaterThanOrEqual(400);
    expect(answer.body['signatures']).toBeUndefined();
    expect(answer.body['signaturesDer']).toBeUndefined();
    if (receiptCode !== undefined) {
      expect((answer.body['error'] as Record<string, unknown>)['receiptCode']).toBe(receiptCode);
    }
    const after = await auditEvents();
    expect(after.filter((event) => event['event'] === 'signed')).toHaveLength(before);
    // Logged with the reason (and the caller, once it is known).
    const logged = logLines.filter((line) => line['code'] === code).at(-1);
    expect(logged?.['reason']).toEqual(expect.any(String));
    if (code !== 'SIGNER_E_UNAUTHENTICATED') {
      expect(typeof (logged?.['caller'] as { mspId?: unknown } | undefined)?.mspId).toBe('string');
      expect(after.at(-1)).toMatchObject({ event: 'refused', code });
    }
  });
});

// Receipts: the committed vectors of test/fixtures/receipts/ (each with the code it must give),
// field paths of malformed receipts, and a property: one flipped bit anywhere in the entry,
// leaf hash, proof, root or signature of a receipt for a random tree makes it fail.
// `COFFER_REGENERATE=1 npx vitest run test/ledger/receipt.test.ts` rewrites the fixtures first.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorRegistry, isCofferError } from '../../src/errors/index.js';
import { canonicalBytes } from '../../src/ledger/canonical.js';
import { createMerkleTree, leafHash } from '../../src/ledger/merkle.js';
import {
  createReceipt,
  parseReceipt,
  rootSignatureMessage,
  signRoot,
  verifyReceipt,
  type Receipt,
} from '../../src/ledger/receipt.js';
import type { Msp } from '../../src/msp/index.js';
import {
  generateTestSigners,
  mspsFromFixture,
  regenerateReceiptFixtures,
  testTxIdOf,
  type Vector,
} from './receipt-fixtures.js';

const fixturesDir = path.resolve(import.meta.dirname, '../fixtures/receipts');

if (process.env['COFFER_REGENERATE'] === '1') await regenerateReceiptFixtures(fixturesDir);

const msps = mspsFromFixture(JSON.parse(readFileSync(path.join(fixturesDir, 'msps.json'), 'utf8')));
const vectors = readdirSync(fixturesDir)
  .filter((name) => name.endsWith('.json') && name !== 'msps.json')
  .sort()
  .map((name) => {
    const vector = JSON.parse(readFileSync(path.join(fixturesDir, name), 'utf8')) as Vector;
    return [name.slice(0, -'.json'.length), vector] as const;
  });
const valid = vectors.find(([name]) => name === 'valid')?.[1].receipt as Receipt;

describe('receipt vectors on disk (test/fixtures/receipts)', () => {
  it.each(vectors)('%s', (_, vector) => {
    const check = verifyReceipt(vector.receipt, msps, { txIdOf: testTxIdOf });
    if (vector.expect === 'ok') {
      expect(check.ok ? 'ok' : `${check.error.code}: ${check.error.message}`).toBe('ok');
    } else {
      expect(check.ok ? 'ok' : check.error.code, vector.description).toBe(vector.expect);
    }
  });

  it('cover every receipt error code, and each error says what to do', () => {
    const expected = new Set(vectors.map(([, vector]) => vector.expect));
    for (const code of Object.keys(errorRegistry).filter((c) => c.startsWith('RECEIPT_E_'))) {
      expect(expected, code).toContain(code);
    }
    for (const [, vector] of vectors) {
      const check = verifyReceipt(vector.receipt, msps, { txIdOf: testTxIdOf });
      if (!check.ok) {
        expect(check.error.message.length).toBeGreaterThan(20);
        expect(check.error.fix).toBe(errorRegistry[check.error.code].fix);
      }
    }
  });

  it('a valid receipt reports what it proves', () => {
    const check = verifyReceipt(valid, msps, { txIdOf: testTxIdOf });
    if (!check.ok) throw check.error;
    expect(check.value).toMatchObject({
      txId: valid.txId,
      seqno: 3,
      treeSize: 7,
      root: valid.signedRoot.root,
      nodeId: 'peer0.org1.example.com',
      signer: { mspId: 'Org1MSP', role: 'peer' },
    });
    expect(Buffer.from(check.value.entry).toString('base64')).toBe(valid.entry);
    // Without the txId hook the entry format is opaque; the rest is checked the same.
    expect(verifyReceipt(valid, msps).ok).toBe(true);
    // Not trusting Org1 makes it fail.
    const org2Only = new Map([...msps].filter(([id]) => id !== 'Org1MSP'));
    const check2 = verifyReceipt(valid, org2Only);
    expect(!check2.ok && check2.error.code).toBe('RECEIPT_E_SIGNER_UNKNOWN');
  });

  it('the signed message is the canonical JSON the brief specifies', () => {
    const message = rootSignatureMessage({
      treeSize: 7,
      root: 'ab'.repeat(32),
      nodeId: 'peer0.org1.example.com',
      signedAt: 1768478400000,
    });
    expect(Buffer.from(message).toString('utf8')).toBe(
      `{"nodeId":"peer0.org1.example.com","root":"${'ab'.repeat(32)}","signedAt":1768478400000,"treeSize":7,"type":"coffer-root/1"}`,
    );
    expect(
      rootSignatureMessage({
        treeSize: 7,
        root: new Uint8Array(32).fill(0xab),
        nodeId: 'peer0.org1.example.com',
        signedAt: 1768478400000,
      }),
    ).toEqual(message);
  });
});

describe('parseReceipt names the failing field', () => {
  function fieldOf(mutate: (receipt: Record<string, unknown>) => void): unknown {
    const copy = JSON.parse(JSON.stringify(valid)) as Record<string, unknown>;
    mutate(copy);
    try {
      parseReceipt(copy);
    } catch (error) {
      expect(isCofferError(error, 'RECEIPT_E_MALFORMED')).toBe(true);
      return isCofferError(error) ? error.details['field'] : undefined;
    }
    return 'accepted';
  }
  const proof = (r: Record<string, unknown>): Record<string, unknown> =>
    r['proof'] as Record<string, unknown>;
  const signed = (r: Record<string, unknown>): Record<string, unknown> =>
    r['signedRoot'] as Record<string, unknown>;

  it.each([
    ['receipt.version', (r: Record<string, unknown>) => (r['version'] = 2)],
    ['receipt.txId', (r: Record<string, unknown>) => (r['txId'] = 'xyz')],
    ['receipt.seqno', (r: Record<string, unknown>) => (r['seqno'] = 0)],
    ['receipt.entry', (r: Record<string, unknown>) => (r['entry'] = 'not base64!')],
    ['receipt.entry', (r: Record<string, unknown>) => (r['entry'] = 'QQ=R')],
    ['receipt.entry', (r: Record<string, unknown>) => (r['entry'] = 'QR==')],
    ['receipt.extra', (r: Record<string, unknown>) => (r['extra'] = 1)],
    ['receipt.proof', (r: Record<string, unknown>) => (r['proof'] = [])],
    ['receipt.proof.leafIndex', (r: Record<string, unknown>) => (proof(r)['leafIndex'] = -1)],
    ['receipt.proof.treeSize', (r: Record<string, unknown>) => (proof(r)['treeSize'] = 1.5)],
    ['receipt.proof.leafHash', (r: Record<string, unknown>) => delete proof(r)['leafHash']],
    ['receipt.proof.hashes', (r: Record<string, unknown>) => (proof(r)['hashes'] = 'ab')],
    [
      'receipt.proof.hashes[0]',
      (r: Record<string, unknown>) => ((proof(r)['hashes'] as string[])[0] = 'ab'),
    ],
    [
      'receipt.proof.hashes',
      (r: Record<string, unknown>) =>
        (proof(r)['hashes'] = new Array<string>(65).fill('ab'.repeat(32))),
    ],
    ['receipt.signedRoot', (r: Record<string, unknown>) => (r['signedRoot'] = null)],
    [
      'receipt.signedRoot.root',
      (r: Record<string, unknown>) => (signed(r)['root'] = 'AB'.repeat(32)),
    ],
    ['receipt.signedRoot.nodeId', (r: Record<string, unknown>) => (signed(r)['nodeId'] = '')],
    ['receipt.signedRoot.nodeId', (r: Record<string, unknown>) => (signed(r)['nodeId'] = '\ud800')],
    ['receipt.signedRoot.signedAt', (r: Record<string, unknown>) => (signed(r)['signedAt'] = '0')],
    ['receipt.signedRoot.mspId', (r: Record<string, unknown>) => (signed(r)['mspId'] = 7)],
    ['receipt.signedRoot.certPem', (r: Record<string, unknown>) => (signed(r)['certPem'] = 'x')],
    ['receipt.signedRoot.signature', (r: Record<string, unknown>) => (signed(r)['signature'] = '')],
    [
      'receipt.signedRoot.signature',
      (r: Record<string, unknown>) => (signed(r)['signature'] = 'A'.repeat(400)),
    ],
  ])('%s', (field, mutate) => {
    expect(fieldOf(mutate)).toBe(field);
  });

  it('receipt (not an object)', () => {
    expect(() => parseReceipt(null)).toThrow(/receipt must be a JSON object/);
  });

  it('verifyReceipt returns, never throws, for anything', () => {
    for (const junk of [null, 1, 'x', [], {}, { ...valid, proof: null }]) {
      const check = verifyReceipt(junk, msps);
      expect(!check.ok && check.error.code).toBe('RECEIPT_E_MALFORMED');
    }
  });
});

describe('property: one flipped bit anywhere in entry, proof, root or signature fails', () => {
  let signers: Awaited<ReturnType<typeof generateTestSigners>>;
  beforeAll(async () => {
    signers = await generateTestSigners();
  });
  afterAll(async () => {
    await signers.cleanup();
  });

  type Region = 'entry' | 'leafHash' | 'proof' | 'root' | 'signature';
  const expectedCode: Record<Region, string> = {
    entry: 'RECEIPT_E_ENTRY_MISMATCH',
    leafHash: 'RECEIPT_E_ENTRY_MISMATCH',
    proof: 'RECEIPT_E_PROOF_INVALID',
    root: 'RECEIPT_E_PROOF_INVALID',
    signature: 'RECEIPT_E_SIGNATURE_INVALID',
  };

  function flipBase64(text: string, bit: number): string {
    const bytes = Buffer.from(text, 'base64');
    const at = bit % (bytes.length * 8);
    bytes[at >> 3] = (bytes[at >> 3] ?? 0) ^ (1 << (at & 7));
    return bytes.toString('base64');
  }
  function flipHex(text: string, bit: number): string {
    const bytes = Buffer.from(text, 'hex');
    const at = bit % 256;
    bytes[at >> 3] = (bytes[at >> 3] ?? 0) ^ (1 << (at & 7));
    return bytes.toString('hex');
  }

  it('for a random tree, leaf and bit', () => {
    const msp = signers.msps;
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { minLength: 1, maxLength: 40 }),
        fc.nat(),
        fc.constantFrom<Region>('entry', 'leafHash', 'proof', 'root', 'signature'),
        fc.nat(),
        fc.nat(),
        (entries, a, region, which, bit) => {
          const tree = createMerkleTree();
          for (const entry of entries) tree.append(leafHash(entry));
          const leafIndex = a % entries.length;
          const entry = entries[leafIndex] ?? new Uint8Array(1);
          const receipt = createReceipt({
            txId: 'ab'.repeat(32),
            entry,
            leafIndex,
            proof: tree.inclusionProof(leafIndex),
            signedRoot: signRoot(
              {
                treeSize: tree.size(),
                root: tree.root(),
                nodeId: signers.peer.nodeId,
                signedAt: 1,
              },
              signers.peer,
            ),
          });
          expect(verifyReceipt(receipt, msp).ok).toBe(true);
          if (region === 'proof' && receipt.proof.hashes.length === 0) return;
          const bad = JSON.parse(JSON.stringify(receipt)) as {
            -readonly [K in keyof Receipt]: Receipt[K] extends object
              ? { -readonly [L in keyof Receipt[K]]: Receipt[K][L] }
              : Receipt[K];
          };
          switch (region) {
            case 'entry':
              bad.entry = flipBase64(bad.entry, bit);
              break;
            case 'leafHash':
              bad.proof.leafHash = flipHex(bad.proof.leafHash, bit);
              break;
            case 'proof': {
              const hashes = [...bad.proof.hashes];
              const i = which % hashes.length;
              hashes[i] = flipHex(hashes[i] ?? '', bit);
              bad.proof.hashes = hashes;
              break;
            }
            case 'root':
              bad.signedRoot.root = flipHex(bad.signedRoot.root, bit);
              break;
            case 'signature':
              bad.signedRoot.signature = flipBase64(bad.signedRoot.signature, bit);
              break;
          }
          const check = verifyReceipt(bad, msp);
          expect(check.ok ? 'ok' : check.error.code, region).toBe(expectedCode[region]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('with NodeOUs off, any valid identity of the MSP may sign a root', () => {
    const tree = createMerkleTree();
    tree.append(leafHash(Uint8Array.of(1)));
    tree.append(leafHash(Uint8Array.of(2)));
    const receipt = createReceipt({
      txId: 'ef'.repeat(32),
      entry: Uint8Array.of(2),
      leafIndex: 1,
      proof: tree.inclusionProof(1),
      signedRoot: signRoot(
        { treeSize: 2, root: tree.root(), nodeId: 'user1.plain', signedAt: 9 },
        signers.plainUser,
      ),
    });
    expect(signers.msps.get('PlainMSP')?.nodeOusEnabled).toBe(false);
    const check = verifyReceipt(receipt, signers.msps);
    expect(check.ok && check.value.signer).toMatchObject({ mspId: 'PlainMSP', role: null });
  });

  it('every bit of the signature and root of one receipt', () => {
    const tree = createMerkleTree();
    for (let i = 0; i < 11; i += 1) tree.append(leafHash(canonicalBytes({ i })));
    const receipt = createReceipt({
      txId: 'cd'.repeat(32),
      entry: canonicalBytes({ i: 4 }),
      leafIndex: 4,
      proof: tree.inclusionProof(4),
      signedRoot: signRoot(
        { treeSize: 11, root: tree.root(), nodeId: 'peer0.org1.example.com', signedAt: 5 },
        signers.peer,
      ),
    });
    const msp: ReadonlyMap<string, Msp> = signers.msps;
    expect(verifyReceipt(receipt, msp).ok).toBe(true);
    const signatureBits = Buffer.from(receipt.signedRoot.signature, 'base64').length * 8;
    for (let bit = 0; bit < signatureBits; bit += 1) {
      const bad = {
        ...receipt,
        signedRoot: {
          ...receipt.signedRoot,
          signature: flipBase64(receipt.signedRoot.signature, bit),
        },
      };
      const check = verifyReceipt(bad, msp);
      expect(check.ok ? 'ok' : check.error.code, `signature bit ${bit}`).toBe(
        'RECEIPT_E_SIGNATURE_INVALID',
      );
    }
    for (let bit = 0; bit < 256; bit += 1) {
      const bad = {
        ...receipt,
        signedRoot: { ...receipt.signedRoot, root: flipHex(receipt.signedRoot.root, bit) },
      };
      const check = verifyReceipt(bad, msp);
      expect(check.ok ? 'ok' : check.error.code, `root bit ${bit}`).toBe('RECEIPT_E_PROOF_INVALID');
    }
  });
});

// `coffer custody offline keygen|sign` run as the real command (bin/coffer), as on the
// air-gapped machine: the key file is sealed, the signature file holds one signature per digest
// of the request, each verifying over its digest with the printed public key, a request of one
// `digest` (the form before lists) is still read, and mistakes give their codes and exit
// statuses. The same steps in process check the request limits against the custody app's.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyDigestSignature, type KeyCurve } from '../../src/crypto/index.js';
import {
  createOfflineKey,
  offlineDigestsMax,
  offlineSignatureFormat,
  openOfflineKey,
  parseOfflineSignRequest,
  signOfflineRequest,
} from '../../src/crypto/offline-key.js';
import { digestsPerWithdrawalMax } from '../../src/custody/limits.js';
import { isCofferError } from '../../src/errors/index.js';
import { runCoffer } from '../cli/run.js';

let dir: string;
let passphraseFile: string;
const cost = ['--kdf-cost', '14'];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'coffer-offline-'));
  passphraseFile = path.join(dir, 'passphrase');
  await writeFile(passphraseFile, 'an offline passphrase, long enough\n', { mode: 0o600 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const digestOf = (text: string) => createHash('sha256').update(text).digest('hex');
const digest = digestOf('unsigned chain transaction');
/** A 2-input Bitcoin withdrawal: one digest per input. */
const digests = [digestOf('input 0 sighash'), digestOf('input 1 sighash')];

/** Each signature verifies over the digest at its index, and over no other. */
function expectSignaturesOver(
  curve: KeyCurve,
  publicKey: string,
  signed: readonly string[],
  signatures: readonly string[],
) {
  expect(signatures).toHaveLength(signed.length);
  for (const [i, signature] of signatures.entries()) {
    for (const [j, over] of signed.entries()) {
      expect(
        verifyDigestSignature(
          curve,
          publicKey,
          Buffer.from(over, 'hex'),
          Buffer.from(signature, 'hex'),
        ),
        `signature ${i} over digest ${j}`,
      ).toBe(i === j || over === signed[i]);
    }
  }
}

async function sign(key: string, request: string, out: string) {
  return runCoffer([
    'custody',
    'offline',
    'sign',
    '--key',
    key,
    '--request',
    request,
    '--out',
    out,
    '--passphrase-file',
    passphraseFile,
  ]);
}

describe('coffer custody offline', () => {
  it.each(['secp256k1', 'P-256'] as const)(
    'keygen then sign a 2-digest request (%s): both signatures verify with the public key',
    async (curve: KeyCurve) => {
      const key = path.join(dir, `key-${curve}.json`);
      const made = await runCoffer([
        'custody',
        'offline',
        'keygen',
        '--out',
        key,
        '--curve',
        curve,
        '--passphrase-file',
        passphraseFile,
        '--json',
        ...cost,
      ]);
      expect(made.stderr).toBe('');
      expect(made.code).toBe(0);
      const { publicKey } = JSON.parse(made.stdout) as { publicKey: string };
      expect(publicKey).toMatch(/^04[0-9a-f]{128}$/);
      const keyText = await readFile(key, 'utf8');
      expect(keyText).toContain('"format": "coffer-offline-key/1"');
      expect(keyText).toContain(publicKey);

      const request = path.join(dir, `request-${curve}.json`);
      await writeFile(
        request,
        JSON.stringify({ withdrawalId: 'w-1', walletId: 'wallet-9', digests }),
      );
      const out = path.join(dir, `signature-${curve}.json`);
      const signed = await sign(key, request, out);
      expect(signed.stderr).toBe('');
      expect(signed.code).toBe(0);
      expect(signed.stdout).toContain('signed withdrawal w-1 of wallet wallet-9');
      for (const each of digests) expect(signed.stdout).toContain(each);
      const file = JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown>;
      expect(file).toMatchObject({
        format: 'coffer-offline-signature/2',
        withdrawalId: 'w-1',
        walletId: 'wallet-9',
        digests,
        publicKey,
        curve,
      });
      expect(file['signature']).toBeUndefined();
      expectSignaturesOver(curve, publicKey, digests, file['signatures'] as string[]);

      // A request of one `digest`, as written before lists, is still read: one signature.
      const legacy = path.join(dir, `request-legacy-${curve}.json`);
      await writeFile(
        legacy,
        JSON.stringify({ withdrawalId: 'w-0', walletId: 'wallet-9', digest }),
      );
      const legacyOut = path.join(dir, `signature-legacy-${curve}.json`);
      const legacySigned = await sign(key, legacy, legacyOut);
      expect(legacySigned.code).toBe(0);
      const legacyFile = JSON.parse(await readFile(legacyOut, 'utf8')) as Record<string, unknown>;
      expect(legacyFile).toMatchObject({ withdrawalId: 'w-0', digests: [digest] });
      expectSignaturesOver(curve, publicKey, [digest], legacyFile['signatures'] as string[]);
    },
  );

  it('refuses a wrong passphrase, a bad request, an existing output, and bad usage', async () => {
    const key = path.join(dir, 'key-refusals.json');
    expect(
      (
        await runCoffer([
          'custody',
          'offline',
          'keygen',
          '--out',
          key,
          '--passphrase-file',
          passphraseFile,
          ...cost,
        ])
      ).code,
    ).toBe(0);
    // Never overwritten.
    const again = await runCoffer([
      'custody',
      'offline',
      'keygen',
      '--out',
      key,
      '--passphrase-file',
      passphraseFile,
      ...cost,
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('KEYSTORE_E_FILE_EXISTS');

    const request = path.join(dir, 'request-refusals.json');
    await writeFile(request, JSON.stringify({ withdrawalId: 'w-2', walletId: 'x', digests }));
    const wrong = path.join(dir, 'wrong-passphrase');
    await writeFile(wrong, 'not the passphrase at all\n');
    const refused = await runCoffer([
      'custody',
      'offline',
      'sign',
      '--key',
      key,
      '--request',
      request,
      '--out',
      path.join(dir, 'never.json'),
      '--passphrase-file',
      wrong,
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('KEYSTORE_E_PASSPHRASE_WRONG');
    expect(refused.stderr).toContain('what to do');

    const bad = path.join(dir, 'request-bad.json');
    await writeFile(bad, JSON.stringify({ withdrawalId: 'w-3', walletId: 'x', digest: 'abcd' }));
    const badRequest = await runCoffer([
      'custody',
      'offline',
      'sign',
      '--key',
      key,
      '--request',
      bad,
      '--out',
      path.join(dir, 'never.json'),
      '--passphrase-file',
      passphraseFile,
    ]);
    expect(badRequest.code).toBe(1);
    expect(badRequest.stderr).toContain('KEYSTORE_E_REQUEST_INVALID');
    expect(badRequest.stderr).toContain('digests');

    // One more digest than a withdrawal can have: nothing is signed, nothing written.
    const tooMany = path.join(dir, 'request-too-many.json');
    const never = path.join(dir, 'never.json');
    await writeFile(
      tooMany,
      JSON.stringify({
        withdrawalId: 'w-4',
        walletId: 'x',
        digests: Array.from({ length: offlineDigestsMax + 1 }, (_, i) => digestOf(`in ${i}`)),
      }),
    );
    const tooManyRequest = await sign(key, tooMany, never);
    expect(tooManyRequest.code).toBe(1);
    expect(tooManyRequest.stderr).toContain('KEYSTORE_E_REQUEST_INVALID');
    expect(tooManyRequest.stderr).toContain(`1 to ${offlineDigestsMax} digests`);
    await expect(readFile(never)).rejects.toMatchObject({ code: 'ENOENT' });

    const usage = await runCoffer([
      'custody',
      'offline',
      'keygen',
      '--passphrase-file',
      passphraseFile,
    ]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--out is required');
    const curve = await runCoffer([
      'custody',
      'offline',
      'keygen',
      '--out',
      path.join(dir, 'k.json'),
      '--curve',
      'P-384',
      '--passphrase-file',
      passphraseFile,
    ]);
    expect(curve.code).toBe(2);
    expect((await runCoffer(['custody', 'nothing'])).code).toBe(2);
    expect((await runCoffer(['custody', 'offline', '--help'])).stdout).toContain('air-gapped');
  });
});

describe('offline signing in process', () => {
  let key: Awaited<ReturnType<typeof openOfflineKey>>;
  beforeAll(async () => {
    const passphrase = 'an in-process passphrase, long enough';
    const file = await createOfflineKey({ curve: 'secp256k1', passphrase, kdfLog2N: 14 });
    key = await openOfflineKey(JSON.parse(JSON.stringify(file)), passphrase);
  });

  it('offlineDigestsMax is the custody app’s digestsPerWithdrawalMax', () => {
    // Every withdrawal the ledger can build is one an offline key can sign.
    expect(offlineDigestsMax).toBe(digestsPerWithdrawalMax);
  });

  it('signs a 2-digest request: 2 signatures in order, each over its digest', async () => {
    const request = parseOfflineSignRequest({ withdrawalId: 'w-1', walletId: 'wl', digests });
    const signature = await signOfflineRequest(key, request);
    expect(signature).toMatchObject({
      format: offlineSignatureFormat,
      withdrawalId: 'w-1',
      walletId: 'wl',
      digests,
      curve: 'secp256k1',
      publicKey: key.publicKey,
    });
    expect(offlineSignatureFormat).toBe('coffer-offline-signature/2');
    expectSignaturesOver(key.curve, key.publicKey, digests, signature.signatures);
  });

  it('reads a legacy single `digest` as a list of one; `digests` wins when both are given', () => {
    expect(parseOfflineSignRequest({ withdrawalId: 'w', walletId: 'wl', digest })).toEqual({
      withdrawalId: 'w',
      walletId: 'wl',
      digests: [digest],
    });
    expect(
      parseOfflineSignRequest({ withdrawalId: 'w', walletId: 'wl', digest, digests }).digests,
    ).toEqual(digests);
  });

  it(`reads 1 to ${offlineDigestsMax} digests; anything else names the field digests`, () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => digestOf(`in ${i}`));
    expect(
      parseOfflineSignRequest({
        withdrawalId: 'w',
        walletId: 'wl',
        digests: many(offlineDigestsMax),
      }).digests,
    ).toHaveLength(offlineDigestsMax);
    for (const bad of [
      { digests: many(offlineDigestsMax + 1) },
      { digests: [] },
      { digests: digest },
      { digests: [digest, digest.toUpperCase()] },
      { digests: [digest, 'abcd'] },
      { digest: 'abcd' },
      {},
    ]) {
      let field: unknown = 'accepted';
      try {
        parseOfflineSignRequest({ withdrawalId: 'w', walletId: 'wl', ...bad });
      } catch (error) {
        if (!isCofferError(error, 'KEYSTORE_E_REQUEST_INVALID')) throw error;
        field = error.details['field'];
      }
      expect(field, JSON.stringify(bad).slice(0, 80)).toBe('digests');
    }
  });
});

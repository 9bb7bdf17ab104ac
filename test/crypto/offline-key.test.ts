// `coffer custody offline keygen|sign` run as the real command (bin/coffer), as on the
// air-gapped machine: the key file is sealed, the signature file verifies over the request's
// digest with the printed public key, and mistakes give their codes and exit statuses.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyDigestSignature, type KeyCurve } from '../../src/crypto/index.js';
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

const digest = createHash('sha256').update('unsigned chain transaction').digest('hex');

describe('coffer custody offline', () => {
  it.each(['secp256k1', 'P-256'] as const)(
    'keygen then sign (%s): the signature file verifies with the public key',
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
        JSON.stringify({ withdrawalId: 'w-1', walletId: 'wallet-9', digest }),
      );
      const out = path.join(dir, `signature-${curve}.json`);
      const signed = await runCoffer([
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
      expect(signed.code).toBe(0);
      expect(signed.stdout).toContain('signed withdrawal w-1 of wallet wallet-9');
      const signature = JSON.parse(await readFile(out, 'utf8')) as Record<string, string>;
      expect(signature).toMatchObject({
        withdrawalId: 'w-1',
        walletId: 'wallet-9',
        digest,
        publicKey,
        curve,
      });
      expect(
        verifyDigestSignature(
          curve,
          publicKey,
          Buffer.from(digest, 'hex'),
          Buffer.from(signature['signature'] ?? '', 'hex'),
        ),
      ).toBe(true);
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
    await writeFile(request, JSON.stringify({ withdrawalId: 'w-2', walletId: 'x', digest }));
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
    expect(badRequest.stderr).toContain('digest');

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

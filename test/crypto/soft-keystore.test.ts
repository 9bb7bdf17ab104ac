// The software key store (the embedded default, not an HSM): keys sealed in one file, reopened
// with the passphrase, refused with a wrong one or after tampering, labelled plainly.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  openSoftKeyStore,
  softKeyStoreLabel,
  verifyDigestSignature,
} from '../../src/crypto/index.js';
import { isCofferError } from '../../src/errors/index.js';

const passphrase = 'correct horse battery staple';
// The cheapest scrypt cost a file may declare: the tests open stores many times.
const kdfLog2N = 14;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'coffer-softks-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    if (isCofferError(error)) return error.code;
    throw error;
  }
}

const digest = new Uint8Array(createHash('sha256').update('withdrawal').digest());

describe('software key store', () => {
  it('says it is not an HSM, keeps keys across reopening, signs low-S', async () => {
    const file = path.join(dir, 'keys.json');
    const store = await openSoftKeyStore({ file, passphrase, create: true, kdfLog2N });
    expect(store.kind).toBe('software');
    expect(store.description).toContain('software key store (not an HSM)');
    expect(softKeyStoreLabel).toBe('software key store (not an HSM)');
    const k1 = await store.generate({ curve: 'secp256k1', label: 'platform' });
    const p256 = await store.generate({ curve: 'P-256', label: 'other' });
    await store.close();
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const text = await readFile(file, 'utf8');
    expect(text).toContain('software key store (not an HSM)');
    // No temporary file is left beside it.
    expect((await readdir(dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);

    const again = await openSoftKeyStore({ file, passphrase });
    expect(await again.list()).toEqual([k1, p256]);
    for (const key of [k1, p256]) {
      const signer = await again.signer(key.keyId);
      for (let i = 0; i < 8; i += 1) {
        const each = new Uint8Array(createHash('sha256').update(`w${i}`).digest());
        expect(verifyDigestSignature(key.curve, key.publicKey, each, await signer(each))).toBe(
          true,
        );
      }
    }
    expect(await codeOf(again.signer('00'.repeat(16)))).toBe('KEYSTORE_E_KEY_NOT_FOUND');
    await again.close();
    expect(await codeOf(again.list())).toBe('KEYSTORE_E_CLOSED');
  });

  it('refuses a wrong passphrase, a weak one, a missing file, and a tampered key', async () => {
    const file = path.join(dir, 'tamper.json');
    const store = await openSoftKeyStore({ file, passphrase, create: true, kdfLog2N });
    const key = await store.generate({ curve: 'secp256k1', label: 'x' });
    await store.close();
    expect(await codeOf(openSoftKeyStore({ file, passphrase: 'wrong passphrase!' }))).toBe(
      'KEYSTORE_E_PASSPHRASE_WRONG',
    );
    expect(
      await codeOf(
        openSoftKeyStore({ file: path.join(dir, 'new.json'), passphrase: 'short', create: true }),
      ),
    ).toBe('KEYSTORE_E_PASSPHRASE_WEAK');
    expect(await codeOf(openSoftKeyStore({ file: path.join(dir, 'none.json'), passphrase }))).toBe(
      'KEYSTORE_E_STORE_NOT_FOUND',
    );

    // A record whose public key is swapped for another key's fails to open (GCM associated
    // data binds the sealed scalar to its record) instead of signing as the wrong key.
    const json = JSON.parse(await readFile(file, 'utf8')) as {
      keys: { publicKey: string; label: string }[];
    };
    const other = await openSoftKeyStore({
      file: path.join(dir, 'other.json'),
      passphrase,
      create: true,
      kdfLog2N,
    });
    const otherKey = await other.generate({ curve: 'secp256k1', label: 'x' });
    await other.close();
    const [record] = json.keys;
    if (record === undefined) throw new Error('no key record');
    record.publicKey = otherKey.publicKey;
    await writeFile(file, JSON.stringify(json));
    const tampered = await openSoftKeyStore({ file, passphrase });
    expect(await codeOf(tampered.signer(key.keyId))).toBe('KEYSTORE_E_PASSPHRASE_WRONG');
    await tampered.close();

    await writeFile(file, '{"format":"something else"}');
    expect(await codeOf(openSoftKeyStore({ file, passphrase }))).toBe('KEYSTORE_E_FILE_INVALID');
  });

  it('refuses bad digests, labels and curves', async () => {
    const file = path.join(dir, 'checks.json');
    const store = await openSoftKeyStore({ file, passphrase, create: true, kdfLog2N });
    const key = await store.generate({ curve: 'secp256k1', label: 'checks' });
    const signer = await store.signer(key.keyId);
    expect(await codeOf(signer(digest.subarray(1)))).toBe('KEYSTORE_E_DIGEST_INVALID');
    expect(await codeOf(store.generate({ curve: 'secp256k1', label: 'a\nb' }))).toBe(
      'KEYSTORE_E_LABEL_INVALID',
    );
    expect(await codeOf(store.generate({ curve: 'ed25519' as 'P-256', label: 'c' }))).toBe(
      'KEYSTORE_E_CURVE_UNSUPPORTED',
    );
    await store.close();
  });
});

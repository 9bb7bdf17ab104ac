// The PKCS#11 key store against a real SoftHSM2 token: keys made on the token are sensitive and
// never extractable (read back from the token), signatures verify with node:crypto and with
// @noble/curves and are low-S, keys that are or were extractable are refused, a lost session is
// rebuilt with a new login, and the usual configuration mistakes give their codes.
import { createHash, verify as nodeVerify } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p256 } from '@noble/curves/nist.js';
import type * as Pkcs11Module from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  curveOrder,
  derSignatureToRaw,
  openPkcs11KeyStore,
  publicKeyObject,
  rawSignatureToDer,
  readPin,
  verifyDigestSignature,
  type Pkcs11KeyStore,
} from '../../src/crypto/index.js';
import { isCofferError } from '../../src/errors/index.js';
import { createSoftHsm, makeRawEcKey, rawToken, userPin, type SoftHsm } from './softhsm.js';

const pkcs11 = createRequire(import.meta.url)('pkcs11js') as typeof Pkcs11Module;

let hsm: SoftHsm;
let store: Pkcs11KeyStore;

beforeAll(async () => {
  hsm = await createSoftHsm(['coffer-test', 'coffer-other', 'coffer-pin']);
  store = await openPkcs11KeyStore({
    library: hsm.library,
    tokenLabel: 'coffer-test',
    pin: userPin,
  });
});

afterAll(async () => {
  await store.close();
  await hsm.cleanup();
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

function sha256(text: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(text).digest());
}

function makeRawKey(id: string, privateAttributes: Pkcs11Module.Template) {
  return makeRawEcKey(hsm.library, 'coffer-test', id, privateAttributes);
}

describe('PKCS#11 key store on SoftHSM2', () => {
  it.each(['secp256k1', 'P-256'] as const)(
    'generates a %s key on the token: sensitive, never extractable, a token object',
    async (curve) => {
      const key = await store.generate({ curve, label: `platform ${curve}` });
      expect(key.curve).toBe(curve);
      expect(key.publicKey).toMatch(/^04[0-9a-f]{128}$/);
      expect(key.keyId).toMatch(/^[0-9a-f]{32}$/);
      expect(await store.attributes(key.keyId)).toEqual({
        keyId: key.keyId,
        label: `platform ${curve}`,
        token: true,
        private: true,
        sensitive: true,
        extractable: false,
        alwaysSensitive: true,
        neverExtractable: true,
        sign: true,
      });
      expect(await store.list()).toContainEqual(key);
      expect(await store.key(key.keyId)).toEqual(key);
    },
  );

  it.each(['secp256k1', 'P-256'] as const)(
    'signs %s digests: r‖s, low-S, verified by node:crypto and @noble/curves',
    async (curve) => {
      const key = await store.generate({ curve, label: `verify ${curve}` });
      const signer = await store.signer(key.keyId);
      const order = curveOrder(curve) ?? 0n;
      const publicKey = publicKeyObject(curve, key.publicKey);
      const noble = curve === 'secp256k1' ? secp256k1 : p256;
      // Enough signatures that the token's own high-S half is certainly met and normalised.
      for (let i = 0; i < 24; i += 1) {
        const message = `withdrawal ${curve} ${i}`;
        const digest = sha256(message);
        const signature = await signer(digest);
        expect(signature).toHaveLength(64);
        const s = BigInt(`0x${Buffer.from(signature.subarray(32)).toString('hex')}`);
        expect(s <= order >> 1n).toBe(true);
        expect(
          nodeVerify(
            'sha256',
            Buffer.from(message),
            { key: publicKey, dsaEncoding: 'ieee-p1363' },
            signature,
          ),
        ).toBe(true);
        expect(
          noble.verify(signature, digest, Buffer.from(key.publicKey, 'hex'), {
            prehash: false,
            lowS: true,
          }),
        ).toBe(true);
        expect(verifyDigestSignature(curve, key.publicKey, digest, signature)).toBe(true);
        // The DER helper round-trips, and node:crypto accepts the DER form too.
        const der = rawSignatureToDer(signature);
        expect(derSignatureToRaw(der)).toEqual(signature);
        expect(nodeVerify('sha256', Buffer.from(message), publicKey, der)).toBe(true);
      }
      expect(
        verifyDigestSignature(curve, key.publicKey, sha256('other'), await signer(sha256('x'))),
      ).toBe(false);
    },
  );

  it('refuses digests that are not 32 bytes, and unknown keys', async () => {
    const key = await store.generate({ curve: 'secp256k1', label: 'digest length' });
    const signer = await store.signer(key.keyId);
    expect(await codeOf(signer(new Uint8Array(31)))).toBe('KEYSTORE_E_DIGEST_INVALID');
    expect(await codeOf(signer(new Uint8Array(33)))).toBe('KEYSTORE_E_DIGEST_INVALID');
    expect(await codeOf(store.signer('00'.repeat(16)))).toBe('KEYSTORE_E_KEY_NOT_FOUND');
    expect(await codeOf(store.attributes('not hex'))).toBe('KEYSTORE_E_KEY_NOT_FOUND');
    expect(await store.key('ab'.repeat(16))).toBeUndefined();
    expect(await codeOf(store.generate({ curve: 'secp256k1', label: '' }))).toBe(
      'KEYSTORE_E_LABEL_INVALID',
    );
    expect(
      await codeOf(store.generate({ curve: 'P-384' as 'P-256', label: 'unsupported curve' })),
    ).toBe('KEYSTORE_E_CURVE_UNSUPPORTED');
  });

  it('refuses a key created extractable, even though it is sensitive', async () => {
    const id = 'e0'.repeat(16);
    makeRawKey(id, [
      { type: pkcs11.CKA_SENSITIVE, value: true },
      { type: pkcs11.CKA_EXTRACTABLE, value: true },
    ]);
    const attributes = await store.attributes(id);
    expect(attributes.extractable).toBe(true);
    expect(attributes.neverExtractable).toBe(false);
    expect(await codeOf(store.signer(id))).toBe('KEYSTORE_E_KEY_EXPORTABLE');
  });

  it('refuses a key that was not sensitive when made, even once made sensitive', async () => {
    const id = 'e1'.repeat(16);
    const { module, session, privateKey } = makeRawKey(id, [
      { type: pkcs11.CKA_SENSITIVE, value: false },
      { type: pkcs11.CKA_EXTRACTABLE, value: false },
    ]);
    // CKA_SENSITIVE may go from false to true (§4.9); CKA_ALWAYS_SENSITIVE remembers it was not.
    module.C_SetAttributeValue(session, privateKey, [{ type: pkcs11.CKA_SENSITIVE, value: true }]);
    const attributes = await store.attributes(id);
    expect(attributes.sensitive).toBe(true);
    expect(attributes.alwaysSensitive).toBe(false);
    expect(await codeOf(store.signer(id))).toBe('KEYSTORE_E_KEY_EXPORTABLE');
  });

  it('rebuilds its sessions and logs in again when the token closes them', async () => {
    const key = await store.generate({ curve: 'secp256k1', label: 'session loss' });
    const signer = await store.signer(key.keyId);
    const digest = sha256('before');
    expect(verifyDigestSignature('secp256k1', key.publicKey, digest, await signer(digest))).toBe(
      true,
    );
    // Closing every session of the slot also logs the application out (PKCS#11 §5.6).
    const { module, slot } = rawToken(hsm.library, 'coffer-test');
    module.C_CloseAllSessions(slot);
    const after = sha256('after');
    expect(verifyDigestSignature('secp256k1', key.publicKey, after, await signer(after))).toBe(
      true,
    );
    expect((await store.attributes(key.keyId)).sensitive).toBe(true);
  });

  it('keeps keys on the token across stores; several signatures in flight share the pool', async () => {
    const other = await openPkcs11KeyStore({
      library: hsm.library,
      tokenLabel: 'coffer-other',
      pin: userPin,
      sessions: 2,
    });
    const key = await other.generate({ curve: 'P-256', label: 'persisted' });
    await other.close();
    const again = await openPkcs11KeyStore({
      library: hsm.library,
      tokenLabel: 'coffer-other',
      pin: userPin,
      sessions: 2,
    });
    try {
      expect(await again.list()).toEqual([key]);
      const signer = await again.signer(key.keyId);
      const digests = Array.from({ length: 16 }, (_, i) => sha256(`parallel ${i}`));
      const signatures = await Promise.all(digests.map((digest) => signer(digest)));
      signatures.forEach((signature, i) => {
        expect(
          verifyDigestSignature('P-256', key.publicKey, digests[i] ?? new Uint8Array(), signature),
        ).toBe(true);
      });
      expect(again.description).toContain('coffer-other');
    } finally {
      await again.close();
    }
  });

  it('signs with many sessions in flight at once without crashing the process (the module locks with the OS: CKF_OS_LOCKING_OK)', async () => {
    const busy = await openPkcs11KeyStore({
      library: hsm.library,
      tokenLabel: 'coffer-other',
      pin: userPin,
      sessions: 8,
    });
    try {
      const key = await busy.generate({ curve: 'secp256k1', label: 'busy' });
      const signer = await busy.signer(key.keyId);
      const digests = Array.from({ length: 128 }, (_, i) => sha256(`busy ${i}`));
      const signatures = await Promise.all(digests.map((digest) => signer(digest)));
      expect(
        signatures.every((signature, i) =>
          verifyDigestSignature(
            'secp256k1',
            key.publicKey,
            digests[i] ?? new Uint8Array(),
            signature,
          ),
        ),
      ).toBe(true);
    } finally {
      await busy.close();
    }
  });

  it('names the configuration mistake: token label, PIN, module path', async () => {
    expect(
      await codeOf(openPkcs11KeyStore({ library: hsm.library, tokenLabel: 'nope', pin: userPin })),
    ).toBe('KEYSTORE_E_TOKEN_NOT_FOUND');
    expect(
      await codeOf(
        openPkcs11KeyStore({
          library: hsm.library,
          tokenLabel: 'coffer-pin',
          pin: 'wrong-pin',
        }).then((opened) => opened.list()),
      ),
    ).toBe('KEYSTORE_E_PIN_WRONG');
    expect(
      await codeOf(
        openPkcs11KeyStore({
          library: path.join(hsm.dir, 'missing.so'),
          tokenLabel: 'coffer-test',
          pin: userPin,
        }),
      ),
    ).toBe('KEYSTORE_E_HSM_UNAVAILABLE');
  });

  it('reads the PIN from a file or an environment variable', async () => {
    const file = path.join(hsm.dir, 'pin');
    await writeFile(file, `${userPin}\n`, { mode: 0o600 });
    expect(await readPin({ pinFile: file })).toBe(userPin);
    expect(await readPin({ pinEnv: 'COFFER_TEST_PIN' }, { COFFER_TEST_PIN: userPin })).toBe(
      userPin,
    );
    expect(await codeOf(readPin({ pinEnv: 'COFFER_TEST_PIN' }, {}))).toBe(
      'KEYSTORE_E_SECRET_UNREADABLE',
    );
    expect(await codeOf(readPin({ pinFile: path.join(hsm.dir, 'none') }))).toBe(
      'KEYSTORE_E_SECRET_UNREADABLE',
    );
  });

  it('measures raw SoftHSM2 signatures per second (secp256k1, one and four sessions)', async () => {
    const key = await store.generate({ curve: 'secp256k1', label: 'throughput' });
    const signer = await store.signer(key.keyId);
    const digest = sha256('throughput');
    const count = 400;
    let started = performance.now();
    for (let i = 0; i < count; i += 1) await signer(digest);
    const serial = count / ((performance.now() - started) / 1000);
    started = performance.now();
    await Promise.all(Array.from({ length: count }, () => signer(digest)));
    const parallel = count / ((performance.now() - started) / 1000);
    process.stdout.write(
      `${JSON.stringify({ bench: 'softhsm2-ecdsa-secp256k1', serialPerSecond: Math.round(serial), pooledPerSecond: Math.round(parallel) })}\n`,
    );
    expect(serial).toBeGreaterThan(10);
  });
});

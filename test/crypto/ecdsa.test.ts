// ECDSA with Fabric's rules: low-S when signing, high-S refused when verifying, strict r, s > 0.
import { generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  curveOrder,
  decodeEcdsaSignature,
  encodeEcdsaSignature,
  isLowS,
  signEcdsaSha256,
  verifyEcdsaSha256,
} from '../../src/crypto/index.js';

const order = curveOrder('P-256') ?? 0n;
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

describe('ECDSA P-256 with low-S', () => {
  it('signs low-S canonical DER that verifies, for any message', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (message) => {
        const signature = signEcdsaSha256(privateKey, message);
        const decoded = decodeEcdsaSignature(signature);
        expect(isLowS(decoded, order)).toBe(true);
        expect(Buffer.from(encodeEcdsaSignature(decoded))).toEqual(Buffer.from(signature));
        expect(verifyEcdsaSha256(publicKey, message, signature)).toBe('valid');
      }),
      { numRuns: 200 },
    );
  });

  it('refuses the high-S twin of a valid signature, which plain ECDSA accepts', () => {
    const message = Buffer.from('coffer');
    const low = decodeEcdsaSignature(signEcdsaSha256(privateKey, message));
    const high = encodeEcdsaSignature({ r: low.r, s: order - low.s });
    expect(verifyEcdsaSha256(publicKey, message, high)).toBe('high-s');
  });

  it('OpenSSL signatures are normalised: half of them are high-S before normalisation', () => {
    let highBefore = 0;
    for (let i = 0; i < 64; i += 1) {
      const raw = nodeSign('sha256', Buffer.from([i]), { key: privateKey, dsaEncoding: 'der' });
      if (!isLowS(decodeEcdsaSignature(raw), order)) highBefore += 1;
      const normalised = signEcdsaSha256(privateKey, Buffer.from([i]));
      expect(isLowS(decodeEcdsaSignature(normalised), order)).toBe(true);
    }
    expect(highBefore).toBeGreaterThan(0);
  });

  it('reports malformed, zero and out-of-range signatures instead of throwing', () => {
    const message = Buffer.from('coffer');
    const good = signEcdsaSha256(privateKey, message);
    expect(verifyEcdsaSha256(publicKey, message, good.subarray(1))).toBe('malformed');
    expect(verifyEcdsaSha256(publicKey, message, new Uint8Array())).toBe('malformed');
    expect(verifyEcdsaSha256(publicKey, message, encodeEcdsaSignature({ r: 0n, s: 1n }))).toBe(
      'malformed',
    );
    expect(verifyEcdsaSha256(publicKey, Buffer.from('other'), good)).toBe('invalid');
    const { publicKey: otherKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(verifyEcdsaSha256(otherKey, message, good)).toBe('invalid');
  });

  it('ignores bytes after the DER SEQUENCE, as Go asn1.Unmarshal in Fabric does', () => {
    const message = Buffer.from('coffer');
    const good = signEcdsaSha256(privateKey, message);
    expect(verifyEcdsaSha256(publicKey, message, Buffer.concat([good, Buffer.of(0, 1)]))).toBe(
      'valid',
    );
  });
});

describe('ECDSA DER strictness (as Go encoding/asn1)', () => {
  function derInteger(value: bigint, extraZero: boolean): Buffer {
    let hex = value.toString(16);
    if (hex.length % 2 === 1) hex = `0${hex}`;
    let bytes = Buffer.from(hex, 'hex');
    if ((bytes[0] ?? 0) >= 0x80 || extraZero) bytes = Buffer.concat([Buffer.of(0), bytes]);
    return Buffer.concat([Buffer.of(0x02, bytes.length), bytes]);
  }

  it('refuses a signature whose SEQUENCE tag was changed', () => {
    const message = Buffer.from('coffer');
    const retagged = Buffer.from(signEcdsaSha256(privateKey, message));
    retagged[0] = 0xb0;
    expect(verifyEcdsaSha256(publicKey, message, retagged)).toBe('malformed');
  });

  it('refuses an INTEGER with a superfluous leading zero, accepts the minimal twin', () => {
    // Find a signature whose r has its top bit clear: a leading 0x00 is then not minimal.
    let message = Buffer.alloc(0);
    let sig = { r: 0n, s: 0n };
    for (let i = 0; i < 64; i += 1) {
      message = Buffer.from(`coffer-${i}`);
      sig = decodeEcdsaSignature(signEcdsaSha256(privateKey, message));
      if (sig.r >> 248n < 0x80n && sig.r >> 248n > 0n) break;
    }
    const build = (extraZero: boolean): Buffer => {
      const body = Buffer.concat([derInteger(sig.r, extraZero), derInteger(sig.s, false)]);
      return Buffer.concat([Buffer.of(0x30, body.length), body]);
    };
    expect(verifyEcdsaSha256(publicKey, message, build(false))).toBe('valid');
    expect(verifyEcdsaSha256(publicKey, message, build(true))).toBe('malformed');
  });
});

// Worker thread of the ledger benchmark's load generator: builds and signs kv `put` envelopes,
// exactly as the SDK's signEnvelope does (canonical request bytes, a fresh 128-bit nonce, an
// expiry, ECDSA P-256 low-S DER over SHA-256 of the bytes, the certificate attached), but
// with node:crypto (OpenSSL) instead of @noble/curves, and with S made low by a few lines
// of DER handling here rather than the ASN.1 library behind dist/crypto's signEcdsaSha256
// (which costs more than the signature itself): 100,000 envelopes are ready in seconds.
//
// workerData: { keyPem, mspId, certPem, certRef, map, prefix, start, count, expiresAt, sendCert }
// Replies once: { txIds: string[], bodies: string[] } — each body the envelope's JSON text.
import { Buffer } from 'node:buffer';
import { createPrivateKey, randomBytes, sign } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { encodeRequest, envelopeToJson, transactionId } from '../../dist/ledger/tx.js';

const { keyPem, mspId, certPem, certRef, map, prefix, start, count, expiresAt, sendCert } =
  workerData;
const p256Order = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** Minimal DER INTEGER of a positive bigint. */
function derInteger(value) {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  if (parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  const bytes = Buffer.from(hex, 'hex');
  return Buffer.concat([Buffer.of(0x02, bytes.length), bytes]);
}

/** ECDSA P-256 over SHA-256(bytes), DER, S replaced by n - S when above n/2 (as Fabric signs). */
function signLowS(key, bytes) {
  const der = sign('sha256', bytes, key);
  // SEQUENCE (short length: P-256 signatures are at most 72 bytes) { INTEGER r, INTEGER s }
  const rLength = der[3];
  const r = der.subarray(2, 4 + rLength);
  const s = BigInt(`0x${der.subarray(6 + rLength).toString('hex')}`);
  if (s <= p256Order >> 1n) return new Uint8Array(der);
  const body = Buffer.concat([r, derInteger(p256Order - s)]);
  return new Uint8Array(Buffer.concat([Buffer.of(0x30, body.length), body]));
}

const key = createPrivateKey(keyPem);
const value = 'x'.repeat(32);
const txIds = [];
const bodies = [];
for (let i = start; i < start + count; i += 1) {
  const request = {
    v: 1,
    app: 'kv',
    action: 'put',
    args: { map, key: `${prefix}-${i}`, value },
    signer: { mspId, certId: certRef },
    nonce: randomBytes(16).toString('hex'),
    expiresAt,
  };
  const bytes = encodeRequest(request);
  const signature = signLowS(key, bytes);
  const envelope = sendCert
    ? { request: bytes, signature, cert: certPem }
    : { request: bytes, signature };
  txIds.push(transactionId(bytes));
  bodies.push(JSON.stringify(envelopeToJson(envelope)));
}
parentPort.postMessage({ txIds, bodies });

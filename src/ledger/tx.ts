// Transactions: a request signed by its submitter's MSP identity over its canonical bytes
// (RFC 8785), sent in an envelope; batches of envelopes are what the OrderingLog orders.
import { cofferError, type CofferError } from '../errors/index.js';
import { base64Of, isBase64, sha256Hex } from '../crypto/index.js';
import { canonicalBytes, parseCanonical } from './canonical.js';

/** Largest request (canonical JSON bytes) and envelope accepted. */
export const requestBytesMax = 64 * 1024;
export const certPemBytesMax = 8 * 1024;
export const signatureBytesMax = 160;
/** How far in the future a request may expire; bounds the replay window (and its memory). */
export const requestTtlMsMax = 120_000;
/** Envelopes in one ordered batch, and bytes of one encoded batch. */
export const batchEnvelopesMax = 2_000;
export const batchBytesMax = 4 * 1024 * 1024;
export const nonceHexChars = 32;
export const nameCharsMax = 64;
/** Endorsements one envelope carries at most. */
export const endorsementsMax = 16;

/** The signed part. `signer.certId` is the hex SHA-256 of the signing certificate's DER. */
export type Request = {
  readonly v: 1;
  readonly app: string;
  readonly action: string;
  readonly args: Readonly<Record<string, unknown>>;
  readonly signer: { readonly mspId: string; readonly certId: string };
  readonly nonce: string;
  /** Milliseconds since the epoch; the request is refused once a batch is ordered after it. */
  readonly expiresAt: number;
};

/**
 * Another identity's signature over the same request bytes: endorsements let an app's
 * signature policy require several signers (e.g. `AND('Org1MSP.admin', 'Org2MSP.admin')`).
 */
export type Endorsement = {
  readonly mspId: string;
  /** PEM of the endorser's certificate. */
  readonly cert: string;
  readonly signature: Uint8Array;
};

/** What a client sends: the request's canonical bytes, their signature, and the certificate. */
export type Envelope = {
  readonly request: Uint8Array;
  readonly signature: Uint8Array;
  /** PEM of the signer's certificate; may be omitted once the ledger knows it. */
  readonly cert?: string;
  /** Co-signatures of the request by other identities (at most endorsementsMax). */
  readonly endorsements?: readonly Endorsement[];
};

export type EndorsementJson = {
  readonly mspId: string;
  readonly cert: string;
  readonly signature: string;
};

/** JSON form of an envelope (base64 for bytes), as the API and the batch encoding carry it. */
export type EnvelopeJson = {
  readonly request: string;
  readonly signature: string;
  readonly cert?: string;
  readonly endorsements?: readonly EndorsementJson[];
};

/** An ordered batch: the ordering node's clock, recorded once, and the envelopes. */
export type Batch = { readonly time: number; readonly envelopes: readonly Envelope[] };

/**
 * A batch as read back from the log. Envelopes stay raw JSON: one malformed envelope (a faulty
 * or hostile orderer in a consortium) must become one invalid transaction on every node, not a
 * batch that no node can execute.
 */
export type RawBatch = { readonly time: number; readonly envelopes: readonly unknown[] };

const namePattern = /^[a-z][a-z0-9_.-]*$/;
const hexPattern = /^[0-9a-f]+$/;

function malformed(field: string, what: string): CofferError {
  return cofferError('TX_E_MALFORMED', `${field} ${what}`, { field });
}

/** What transactionId returns: 64 lowercase hex digits. */
export const transactionIdPattern = /^[0-9a-f]{64}$/;

/** Transaction id: hex SHA-256 of the request's canonical bytes. */
export function transactionId(requestBytes: Uint8Array): string {
  return sha256Hex(requestBytes);
}

export function encodeRequest(request: Request): Uint8Array {
  return canonicalBytes(request);
}

/** Parses and checks a request's bytes; refuses bytes that are not exactly canonical. */
export function decodeRequest(bytes: Uint8Array): Request {
  if (bytes.byteLength > requestBytesMax) {
    throw malformed('request', `is ${bytes.byteLength} bytes; at most ${requestBytesMax}`);
  }
  let value: unknown;
  try {
    value = parseCanonical(bytes);
  } catch (error) {
    throw cofferError(
      'TX_E_MALFORMED',
      `request is not canonical JSON (RFC 8785): ${(error as Error).message}`,
      { field: 'request' },
      error,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformed('request', 'must be a JSON object');
  }
  const r = value as Record<string, unknown>;
  const extra = Object.keys(r).filter(
    (key) => !['v', 'app', 'action', 'args', 'signer', 'nonce', 'expiresAt'].includes(key),
  );
  if (extra.length > 0) throw malformed(`request.${extra[0] ?? ''}`, 'is not a request field');
  if (r['v'] !== 1) throw malformed('request.v', 'must be 1');
  for (const field of ['app', 'action'] as const) {
    const text = r[field];
    if (typeof text !== 'string' || text.length > nameCharsMax || !namePattern.test(text)) {
      throw malformed(
        `request.${field}`,
        `must match ${String(namePattern)} (at most ${nameCharsMax} characters)`,
      );
    }
  }
  const args = r['args'];
  if (typeof args !== 'object' || args === null || Array.isArray(args)) {
    throw malformed('request.args', 'must be a JSON object');
  }
  const signer = r['signer'];
  if (typeof signer !== 'object' || signer === null || Array.isArray(signer)) {
    throw malformed('request.signer', 'must be {mspId, certId}');
  }
  const { mspId, certId } = signer as Record<string, unknown>;
  if (typeof mspId !== 'string' || mspId.length === 0 || mspId.length > nameCharsMax * 4) {
    throw malformed('request.signer.mspId', 'must be a non-empty string');
  }
  if (typeof certId !== 'string' || certId.length !== 64 || !hexPattern.test(certId)) {
    throw malformed('request.signer.certId', 'must be 64 lower-case hex characters');
  }
  const nonce = r['nonce'];
  if (typeof nonce !== 'string' || nonce.length !== nonceHexChars || !hexPattern.test(nonce)) {
    throw malformed(
      'request.nonce',
      `must be ${nonceHexChars} lower-case hex characters (128 bits)`,
    );
  }
  const expiresAt = r['expiresAt'];
  if (typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt) || expiresAt <= 0) {
    throw malformed('request.expiresAt', 'must be a positive integer (ms since the epoch)');
  }
  return {
    v: 1,
    app: r['app'] as string,
    action: r['action'] as string,
    args: args as Record<string, unknown>,
    signer: { mspId, certId },
    nonce,
    expiresAt,
  };
}

function base64Field(value: unknown, field: string, bytesMax: number): Uint8Array {
  if (typeof value !== 'string' || !isBase64(value)) throw malformed(field, 'must be base64');
  const bytes = Buffer.from(value, 'base64');
  if (bytes.byteLength > bytesMax) throw malformed(field, `is larger than ${bytesMax} bytes`);
  // A view: small decodings share Node's buffer pool, for as long as the envelope lives.
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Checks an envelope as the API receives it (JSON with base64 fields). */
export function envelopeFromJson(value: unknown, field = 'envelope'): Envelope {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformed(field, 'must be {request, signature, cert?}');
  }
  const json = value as Record<string, unknown>;
  const request = base64Field(json['request'], `${field}.request`, requestBytesMax);
  const signature = base64Field(json['signature'], `${field}.signature`, signatureBytesMax);
  const cert = json['cert'];
  if (cert !== undefined && (typeof cert !== 'string' || cert.length > certPemBytesMax)) {
    throw malformed(
      `${field}.cert`,
      `must be a PEM certificate of at most ${certPemBytesMax} bytes`,
    );
  }
  const endorsements = endorsementsFromJson(json['endorsements'], `${field}.endorsements`);
  return {
    request,
    signature,
    ...(cert === undefined ? {} : { cert }),
    ...(endorsements === undefined ? {} : { endorsements }),
  };
}

function endorsementsFromJson(value: unknown, field: string): Endorsement[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0 || value.length > endorsementsMax) {
    throw malformed(field, `must be a list of 1 to ${endorsementsMax} {mspId, cert, signature}`);
  }
  return value.map((item: unknown, index) => {
    const at = `${field}[${index}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw malformed(at, 'must be {mspId, cert, signature}');
    }
    const json = item as Record<string, unknown>;
    const mspId = json['mspId'];
    if (typeof mspId !== 'string' || mspId.length === 0 || mspId.length > nameCharsMax * 4) {
      throw malformed(`${at}.mspId`, 'must be a non-empty string');
    }
    const cert = json['cert'];
    if (typeof cert !== 'string' || cert.length > certPemBytesMax) {
      throw malformed(
        `${at}.cert`,
        `must be a PEM certificate of at most ${certPemBytesMax} bytes`,
      );
    }
    return {
      mspId,
      cert,
      signature: base64Field(json['signature'], `${at}.signature`, signatureBytesMax),
    };
  });
}

export function envelopeToJson(envelope: Envelope): EnvelopeJson {
  // Members in RFC 8785 order: ledger entries embed envelopes, and canonical encoding takes its
  // native path for data already in order (canonical.ts). Added one at a time, not spread.
  const json: { -readonly [K in keyof EnvelopeJson]: EnvelopeJson[K] } = {} as EnvelopeJson;
  if (envelope.cert !== undefined) json.cert = envelope.cert;
  if (envelope.endorsements !== undefined) {
    json.endorsements = envelope.endorsements.map((item) => ({
      cert: item.cert,
      mspId: item.mspId,
      signature: base64Of(item.signature),
    }));
  }
  json.request = base64Of(envelope.request);
  json.signature = base64Of(envelope.signature);
  return json;
}

/** Batches are internal to the ordering: JSON is deterministic enough as every node decodes the same bytes. */
export function encodeBatch(batch: Batch): Uint8Array {
  if (batch.envelopes.length > batchEnvelopesMax) {
    throw malformed(
      'batch',
      `has ${batch.envelopes.length} envelopes; at most ${batchEnvelopesMax}`,
    );
  }
  const bytes = Buffer.from(
    JSON.stringify({ v: 1, time: batch.time, envelopes: batch.envelopes.map(envelopeToJson) }),
  );
  if (bytes.byteLength > batchBytesMax)
    throw malformed('batch', `is larger than ${batchBytesMax} bytes`);
  return new Uint8Array(bytes);
}

/** Decodes a batch; a batch that is not one at all is refused (every node refuses it alike). */
export function decodeBatch(bytes: Uint8Array): RawBatch {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw cofferError('TX_E_MALFORMED', 'batch is not JSON', { field: 'batch' }, error);
  }
  if (typeof parsed !== 'object' || parsed === null) throw malformed('batch', 'is not an object');
  const value = parsed as { v?: unknown; time?: unknown; envelopes?: unknown };
  if (
    value.v !== 1 ||
    typeof value.time !== 'number' ||
    !Number.isSafeInteger(value.time) ||
    !Array.isArray(value.envelopes) ||
    value.envelopes.length > batchEnvelopesMax
  ) {
    throw malformed('batch', 'is not a version-1 batch');
  }
  return { time: value.time, envelopes: value.envelopes as unknown[] };
}

// Receipts: a ledger entry, its RFC 9162 inclusion proof, and the Merkle root signed by a
// ledger node's peer identity. Anyone holding the organisations' MSP definitions verifies one
// offline, with `verifyReceipt`, a pure function of the receipt and the MSPs.
import {
  cofferError,
  isCofferError,
  type CofferError,
  type ErrorCode,
  type Result,
} from '../errors/index.js';
import { decodeEcdsaSignature, encodeEcdsaSignature } from '../crypto/index.js';
import type { Identity, Msp, NodeOuRole, Validation } from '../msp/index.js';
import { canonicalBytes } from './canonical.js';
import { hashBytes, inclusionProofHashesMax, leafHash, rootFromInclusionProof } from './merkle.js';

/** The only receipt format so far. */
export const receiptVersion = 1;
/** `type` of the signed root statement; a new statement format gets a new type. */
export const rootStatementType = 'coffer-root/1';
/** Largest ledger entry a receipt carries, in bytes (before base64). */
export const receiptEntryBytesMax = 8 * 1024 * 1024;
/** Longest node ID in a signed root, in characters. */
export const nodeIdCharsMax = 256;
/** Longest MSP ID in a signed root, in characters. */
export const mspIdCharsMax = 256;
/** Largest node certificate PEM in a signed root, in characters. */
export const certPemCharsMax = 16 * 1024;
/** Largest root signature, in bytes (ECDSA P-256 DER is at most 72, Ed25519 is 64). */
export const signatureBytesMax = 256;
/** Hashes in a receipt's inclusion proof: as many as the Merkle verifier accepts. */
export const receiptProofHashesMax = inclusionProofHashesMax;

/** What a node signs: the root of its tree at `treeSize` leaves, at `signedAt` (ms). */
export type RootStatement = {
  readonly treeSize: number;
  /** Lower-case hex of the 32-byte root (a Uint8Array is accepted and hex-encoded). */
  readonly root: string | Uint8Array;
  readonly nodeId: string;
  /** Milliseconds since the epoch, from the batch time of the signature entry. */
  readonly signedAt: number;
};

/** A signed root: the statement, the signer's MSP ID and certificate, and the signature. */
export type SignedRoot = {
  readonly treeSize: number;
  /** Lower-case hex. */
  readonly root: string;
  readonly nodeId: string;
  readonly signedAt: number;
  readonly mspId: string;
  /** PEM of the node's (peer) certificate. */
  readonly certPem: string;
  /** Base64 of the signature over `rootSignatureMessage`: ECDSA P-256 low-S DER over SHA-256. */
  readonly signature: string;
};

export type ReceiptProof = {
  /** 0-based leaf index: seqno - 1. */
  readonly leafIndex: number;
  /** Leaves in the tree the proof is for: the signed root's treeSize. */
  readonly treeSize: number;
  /** Lower-case hex of leafHash(entry), the leaf the proof starts from. */
  readonly leafHash: string;
  /** RFC 9162 inclusion path, leaf side first, lower-case hex. */
  readonly hashes: readonly string[];
};

export type Receipt = {
  readonly version: 1;
  /** Lower-case hex transaction ID. */
  readonly txId: string;
  /** Ledger sequence number: leafIndex + 1. */
  readonly seqno: number;
  /** Base64 of the ledger entry bytes (the leaf data). */
  readonly entry: string;
  readonly proof: ReceiptProof;
  readonly signedRoot: SignedRoot;
};

/** What a verified receipt proves, with bytes decoded. */
export type VerifiedReceipt = {
  readonly txId: string;
  readonly seqno: number;
  readonly entry: Uint8Array;
  readonly treeSize: number;
  readonly root: string;
  readonly nodeId: string;
  readonly signedAt: number;
  readonly signer: {
    readonly mspId: string;
    /** Fabric identity ID of the node certificate. */
    readonly identityId: string;
    /** The NodeOU role (`peer`), or null when the MSP has NodeOUs off. */
    readonly role: NodeOuRole | null;
  };
};

export type ReceiptCheck = Result<VerifiedReceipt>;

export type VerifyReceiptOptions = {
  /**
   * The transaction ID recorded in an entry's bytes (undefined if it records none). Given, the
   * receipt's txId must equal it; the entry format belongs to the ledger files, hence a hook.
   */
  readonly txIdOf?: (entry: Uint8Array) => string | undefined;
};

/** Signs `message` as MSP identities do (SigningIdentity.sign): ECDSA low-S DER over SHA-256. */
export type RootSigner = {
  readonly mspId: string;
  readonly certPem: string;
  readonly sign: (message: Uint8Array) => Uint8Array;
};

const hexPattern = /^[0-9a-f]*$/;
const base64Pattern = /^[A-Za-z0-9+/]*={0,2}$/;

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function rootHex(root: string | Uint8Array): string {
  if (typeof root === 'string') {
    if (root.length !== 2 * hashBytes || !hexPattern.test(root)) {
      throw malformed('signedRoot.root', `must be ${2 * hashBytes} lower-case hex characters`);
    }
    return root;
  }
  if (root.byteLength !== hashBytes) {
    throw malformed('signedRoot.root', `must be ${hashBytes} bytes, got ${root.byteLength}`);
  }
  return toHex(root);
}

/**
 * The bytes a node signs for a root: RFC 8785 canonical JSON of
 * {"type":"coffer-root/1","treeSize":n,"root":"<hex>","nodeId":"…","signedAt":<ms>}.
 */
export function rootSignatureMessage(statement: RootStatement): Uint8Array {
  return canonicalBytes({
    type: rootStatementType,
    treeSize: statement.treeSize,
    root: rootHex(statement.root),
    nodeId: statement.nodeId,
    signedAt: statement.signedAt,
  });
}

/** Signs a root statement with a node's signing identity. */
export function signRoot(statement: RootStatement, signer: RootSigner): SignedRoot {
  const signature = signer.sign(rootSignatureMessage(statement));
  return parseSignedRoot(
    {
      treeSize: statement.treeSize,
      root: rootHex(statement.root),
      nodeId: statement.nodeId,
      signedAt: statement.signedAt,
      mspId: signer.mspId,
      certPem: signer.certPem,
      signature: Buffer.from(signature).toString('base64'),
    },
    'signedRoot',
  );
}

export type ReceiptInput = {
  readonly txId: string;
  /** The ledger entry bytes: the leaf data. */
  readonly entry: Uint8Array;
  readonly leafIndex: number;
  /** `tree.inclusionProof(leafIndex, signedRoot.treeSize)`. */
  readonly proof: readonly Uint8Array[];
  readonly signedRoot: SignedRoot;
};

/** Assembles a receipt (and checks its shape); it does not verify it. */
export function createReceipt(input: ReceiptInput): Receipt {
  return parseReceipt({
    version: receiptVersion,
    txId: input.txId,
    seqno: input.leafIndex + 1,
    entry: Buffer.from(input.entry).toString('base64'),
    proof: {
      leafIndex: input.leafIndex,
      treeSize: input.signedRoot.treeSize,
      leafHash: toHex(leafHash(input.entry)),
      hashes: input.proof.map(toHex),
    },
    signedRoot: input.signedRoot,
  });
}

// ---- parsing ----------------------------------------------------------------------------------

function malformed(field: string, what: string): CofferError {
  return cofferError('RECEIPT_E_MALFORMED', `${field} ${what}`, { field });
}

type Json = Readonly<Record<string, unknown>>;

function object(value: unknown, field: string, keys: readonly string[]): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformed(field, 'must be a JSON object');
  }
  const json = value as Json;
  for (const key of keys) {
    if (!(key in json)) throw malformed(`${field}.${key}`, 'is missing');
  }
  const extra = Object.keys(json).find((key) => !keys.includes(key));
  if (extra !== undefined) throw malformed(`${field}.${extra}`, 'is not a field of a receipt');
  return json;
}

function integer(value: unknown, field: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw malformed(field, `must be an integer ≥ ${min}`);
  }
  return value;
}

function text(value: unknown, field: string, charsMax: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > charsMax) {
    throw malformed(field, `must be a non-empty string of at most ${charsMax} characters`);
  }
  return value;
}

function hash(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length !== 2 * hashBytes || !hexPattern.test(value)) {
    throw malformed(field, `must be ${2 * hashBytes} lower-case hex characters (SHA-256)`);
  }
  return value;
}

/** Strict base64: standard alphabet, padded, and exactly the encoding of what it decodes to. */
function base64(value: unknown, field: string, bytesMax: number): string {
  if (
    typeof value !== 'string' ||
    value.length % 4 !== 0 ||
    !base64Pattern.test(value) ||
    value.length > (Math.ceil(bytesMax / 3) + 1) * 4
  ) {
    throw malformed(field, 'must be padded base64 (RFC 4648 §4)');
  }
  const bytes = Buffer.from(value, 'base64');
  if (bytes.toString('base64') !== value) {
    throw malformed(field, 'must be canonical base64 (RFC 4648 §4, zero padding bits)');
  }
  if (bytes.byteLength > bytesMax) throw malformed(field, `is larger than ${bytesMax} bytes`);
  return value;
}

function parseSignedRoot(value: unknown, field: string): SignedRoot {
  const json = object(value, field, [
    'treeSize',
    'root',
    'nodeId',
    'signedAt',
    'mspId',
    'certPem',
    'signature',
  ]);
  const certPem = text(json['certPem'], `${field}.certPem`, certPemCharsMax);
  if (!certPem.includes('-----BEGIN CERTIFICATE-----')) {
    throw malformed(`${field}.certPem`, 'must be a PEM certificate');
  }
  const signature = base64(json['signature'], `${field}.signature`, signatureBytesMax);
  if (signature.length === 0) throw malformed(`${field}.signature`, 'must not be empty');
  const signedRoot: SignedRoot = {
    treeSize: integer(json['treeSize'], `${field}.treeSize`, 1),
    root: hash(json['root'], `${field}.root`),
    nodeId: text(json['nodeId'], `${field}.nodeId`, nodeIdCharsMax),
    signedAt: integer(json['signedAt'], `${field}.signedAt`, 0),
    mspId: text(json['mspId'], `${field}.mspId`, mspIdCharsMax),
    certPem,
    signature,
  };
  try {
    rootSignatureMessage(signedRoot);
  } catch (cause) {
    // Only nodeId can fail here (a lone surrogate): the other fields are checked above.
    throw cofferError(
      'RECEIPT_E_MALFORMED',
      `${field}.nodeId must be well-formed Unicode text`,
      { field: `${field}.nodeId` },
      cause,
    );
  }
  return signedRoot;
}

/**
 * Checks that `json` has the shape of a receipt (field types, hex and base64, limits, and
 * seqno = leafIndex + 1); throws RECEIPT_E_MALFORMED naming the failing field path.
 */
export function parseReceipt(json: unknown): Receipt {
  const receipt = object(json, 'receipt', [
    'version',
    'txId',
    'seqno',
    'entry',
    'proof',
    'signedRoot',
  ]);
  if (receipt['version'] !== receiptVersion) {
    throw malformed('receipt.version', `must be ${receiptVersion}`);
  }
  const txId = hash(receipt['txId'], 'receipt.txId');
  const seqno = integer(receipt['seqno'], 'receipt.seqno', 1);
  const entry = base64(receipt['entry'], 'receipt.entry', receiptEntryBytesMax);
  const proofJson = object(receipt['proof'], 'receipt.proof', [
    'leafIndex',
    'treeSize',
    'leafHash',
    'hashes',
  ]);
  const leafIndex = integer(proofJson['leafIndex'], 'receipt.proof.leafIndex', 0);
  if (seqno !== leafIndex + 1) {
    throw malformed('receipt.seqno', `is ${seqno} but proof.leafIndex + 1 is ${leafIndex + 1}`);
  }
  const hashes = proofJson['hashes'];
  if (!Array.isArray(hashes) || hashes.length > receiptProofHashesMax) {
    throw malformed(
      'receipt.proof.hashes',
      `must be a list of at most ${receiptProofHashesMax} hashes`,
    );
  }
  return {
    version: receiptVersion,
    txId,
    seqno,
    entry,
    proof: {
      leafIndex,
      treeSize: integer(proofJson['treeSize'], 'receipt.proof.treeSize', 1),
      leafHash: hash(proofJson['leafHash'], 'receipt.proof.leafHash'),
      hashes: hashes.map((item: unknown, i) => hash(item, `receipt.proof.hashes[${i}]`)),
    },
    signedRoot: parseSignedRoot(receipt['signedRoot'], 'receipt.signedRoot'),
  };
}

// ---- verification -----------------------------------------------------------------------------

function failure(
  code: ErrorCode,
  message: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): { readonly ok: false; readonly error: CofferError } {
  return { ok: false, error: cofferError(code, message, details, cause) };
}

/** True when `signature` is exactly the canonical DER encoding of the (r, s) it decodes to. */
function isCanonicalDer(signature: Uint8Array): boolean {
  try {
    const canonical = encodeEcdsaSignature(decodeEcdsaSignature(signature));
    return Buffer.from(canonical).equals(Buffer.from(signature));
  } catch {
    return false;
  }
}

function fromHex(value: string): Uint8Array {
  return new Uint8Array(Buffer.from(value, 'hex'));
}

/**
 * Checks a signed root on its own: its signer is a node (a peer, when NodeOUs are on) of one of
 * `msps`, and the signature over the root statement is that node's, in canonical DER. Receipts
 * use it, and so do nodes comparing their roots with their peers'.
 */
export function verifySignedRoot(
  signedRoot: SignedRoot,
  msps: ReadonlyMap<string, Msp>,
): Result<{ readonly identity: Identity; readonly validation: Validation & { valid: true } }> {
  const msp = msps.get(signedRoot.mspId);
  if (msp === undefined) {
    return failure(
      'RECEIPT_E_SIGNER_UNKNOWN',
      `the root is signed by a node of MSP ${signedRoot.mspId}, which is not among the trusted MSPs [${[...msps.keys()].join(', ')}]`,
      { mspId: signedRoot.mspId },
    );
  }
  const identity = msp.deserializeIdentity(signedRoot.mspId, signedRoot.certPem);
  if (!identity.ok) {
    return failure(
      'RECEIPT_E_SIGNER_INVALID',
      `the node certificate is not an identity of MSP ${signedRoot.mspId}: ${identity.error.message}`,
      { mspId: signedRoot.mspId, mspCode: identity.error.code },
      identity.error,
    );
  }
  const validation = msp.validate(identity.identity);
  if (!validation.valid) {
    return failure(
      'RECEIPT_E_SIGNER_INVALID',
      `the node certificate is not a valid identity of MSP ${signedRoot.mspId}: ${validation.error.message}`,
      { mspId: signedRoot.mspId, mspCode: validation.error.code },
      validation.error,
    );
  }
  if (msp.nodeOusEnabled && validation.role !== 'peer') {
    return failure(
      'RECEIPT_E_SIGNER_NOT_PEER',
      `the root is signed by a ${validation.role ?? 'role-less'} identity of MSP ${signedRoot.mspId}; only peers (ledger nodes) sign roots`,
      { mspId: signedRoot.mspId, role: validation.role },
    );
  }

  // The signature is the node's, over this statement.
  const message = rootSignatureMessage(signedRoot);
  const signature = new Uint8Array(Buffer.from(signedRoot.signature, 'base64'));
  if (identity.identity.cert.keyType === 'ec' && !isCanonicalDer(signature)) {
    // MSP verification accepts what Fabric accepts (e.g. bytes after the DER SEQUENCE); a
    // receipt is Coffer's own format, so only the one encoding nodes produce is valid and a
    // receipt's signature cannot be re-encoded into another valid receipt.
    return failure(
      'RECEIPT_E_SIGNATURE_INVALID',
      `the signature over the root at tree size ${signedRoot.treeSize} is not the canonical DER SEQUENCE{r, s} that nodes produce`,
      { mspId: signedRoot.mspId, nodeId: signedRoot.nodeId },
    );
  }
  const checked = msp.verify(identity.identity, message, signature);
  if (!checked.ok) {
    return failure(
      'RECEIPT_E_SIGNATURE_INVALID',
      `the signature over the root at tree size ${signedRoot.treeSize} does not verify with the certificate of node ${signedRoot.nodeId}: ${checked.error.message}`,
      { mspId: signedRoot.mspId, nodeId: signedRoot.nodeId, mspCode: checked.error.code },
      checked.error,
    );
  }

  return { ok: true, value: { identity: identity.identity, validation } };
}

/**
 * Verifies a receipt offline against the organisations' MSPs (keyed by MSP ID), in order:
 * shape; (1) the entry hashes to the proof's leaf (and, with `txIdOf`, records the txId);
 * (2) the inclusion proof leads to the signed root for its tree size; (3) the node certificate
 * is a valid identity of its MSP and, when the MSP uses NodeOUs, a peer; (4) the signature
 * verifies over `rootSignatureMessage`. Never throws for bad input: each failure is a coded
 * error.
 */
export function verifyReceipt(
  json: unknown,
  msps: ReadonlyMap<string, Msp>,
  options: VerifyReceiptOptions = {},
): ReceiptCheck {
  let receipt: Receipt;
  try {
    receipt = parseReceipt(json);
  } catch (error) {
    if (isCofferError(error)) return { ok: false, error };
    throw error;
  }
  const { proof, signedRoot } = receipt;
  const entry = new Uint8Array(Buffer.from(receipt.entry, 'base64'));

  // (1) The entry is the leaf.
  const entryLeaf = toHex(leafHash(entry));
  if (entryLeaf !== proof.leafHash) {
    return failure(
      'RECEIPT_E_ENTRY_MISMATCH',
      `the entry hashes to leaf ${entryLeaf}, but the proof starts from leaf ${proof.leafHash}`,
      { seqno: receipt.seqno },
    );
  }
  if (options.txIdOf !== undefined) {
    let recorded: string | undefined;
    try {
      recorded = options.txIdOf(entry);
    } catch (cause) {
      return failure(
        'RECEIPT_E_TXID_MISMATCH',
        `the entry does not decode to a transaction: ${(cause as Error).message}`,
        { txId: receipt.txId },
        cause,
      );
    }
    if (recorded !== receipt.txId) {
      return failure(
        'RECEIPT_E_TXID_MISMATCH',
        `the receipt is for txId ${receipt.txId}, but its entry records ${String(recorded)}`,
        { txId: receipt.txId },
      );
    }
  }

  // (2) The proof leads to the signed root, for the tree size that was signed.
  if (proof.treeSize !== signedRoot.treeSize) {
    return failure(
      'RECEIPT_E_PROOF_INVALID',
      `the proof is for a tree of ${proof.treeSize} leaves, but the root was signed at ${signedRoot.treeSize}`,
      { seqno: receipt.seqno, treeSize: signedRoot.treeSize },
    );
  }
  if (proof.leafIndex >= proof.treeSize) {
    return failure(
      'RECEIPT_E_PROOF_INVALID',
      `leaf ${proof.leafIndex} is not in a tree of ${proof.treeSize} leaves`,
      { seqno: receipt.seqno, treeSize: proof.treeSize },
    );
  }
  const computed = rootFromInclusionProof(
    fromHex(proof.leafHash),
    proof.leafIndex,
    proof.treeSize,
    proof.hashes.map(fromHex),
  );
  if (computed === undefined) {
    return failure(
      'RECEIPT_E_PROOF_INVALID',
      `an inclusion proof of ${proof.hashes.length} hashes cannot prove leaf ${proof.leafIndex} in a tree of ${proof.treeSize} leaves`,
      { seqno: receipt.seqno, treeSize: proof.treeSize },
    );
  }
  if (toHex(computed) !== signedRoot.root) {
    return failure(
      'RECEIPT_E_PROOF_INVALID',
      `the inclusion proof leads to root ${toHex(computed)}, but the signed root is ${signedRoot.root}`,
      { seqno: receipt.seqno, treeSize: proof.treeSize },
    );
  }

  // (3) and (4): the signer is a node (peer) of a trusted organisation, and signed this root.
  const signer = verifySignedRoot(signedRoot, msps);
  if (!signer.ok) return signer;
  const { identity, validation } = signer.value;

  return {
    ok: true,
    value: {
      txId: receipt.txId,
      seqno: receipt.seqno,
      entry,
      treeSize: signedRoot.treeSize,
      root: signedRoot.root,
      nodeId: signedRoot.nodeId,
      signedAt: signedRoot.signedAt,
      signer: {
        mspId: signedRoot.mspId,
        identityId: identity.id,
        role: validation.role,
      },
    },
  };
}

// Receipts: a ledger entry, its RFC 9162 inclusion proof, and the Merkle root signed by one or
// more ledger nodes' peer identities. Anyone holding the organisations' MSP definitions verifies
// one offline, with `verifyReceipt`, a pure function of the receipt and the MSPs. Format 2 carries
// several nodes' signatures over the same root (decision 0015); format 1 (one signature) is still
// read and verified.
import assert from 'node:assert/strict';
import {
  cofferError,
  isCofferError,
  type CofferError,
  type ErrorCode,
  type Result,
} from '../errors/index.js';
import { decodeEcdsaSignature, encodeEcdsaSignature, isBase64 } from '../crypto/index.js';
import type { Identity, Msp, NodeOuRole, Validation } from '../msp/index.js';
import { canonicalBytes } from './canonical.js';
import { hashBytes, inclusionProofHashesMax, leafHash, rootFromInclusionProof } from './merkle.js';

/** The receipt format `createReceipt` writes from `signedRoots`: several nodes' signatures. */
export const receiptVersion = 2;
/** Every receipt format `parseReceipt` and `verifyReceipt` read (1: one `signedRoot`). */
export const receiptVersions = [1, 2] as const;
/** Most signed roots in one receipt: one per node of a consortium of that many nodes. */
export const signedRootsMax = 64;
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

type ReceiptBody = {
  /** Lower-case hex transaction ID. */
  readonly txId: string;
  /** Ledger sequence number: leafIndex + 1. */
  readonly seqno: number;
  /** Base64 of the ledger entry bytes (the leaf data). */
  readonly entry: string;
  readonly proof: ReceiptProof;
};

/** Format 1: the root signed by one node. */
export type ReceiptV1 = ReceiptBody & {
  readonly version: 1;
  readonly signedRoot: SignedRoot;
};

/**
 * Format 2: the same root signed by 1..signedRootsMax nodes. Every signed root has the same
 * treeSize and root; node IDs are distinct and sorted (UTF-16 code units, as RFC 8785 sorts
 * keys), so a set of signatures has one encoding.
 */
export type ReceiptV2 = ReceiptBody & {
  readonly version: 2;
  readonly signedRoots: readonly SignedRoot[];
};

export type Receipt = ReceiptV1 | ReceiptV2;

/** A node whose signature over the root verified. */
export type ReceiptSigner = {
  readonly nodeId: string;
  readonly signedAt: number;
  readonly mspId: string;
  /** Fabric identity ID of the node certificate. */
  readonly identityId: string;
  /** The NodeOU role (`peer`), or null when the MSP has NodeOUs off. */
  readonly role: NodeOuRole | null;
};

/** What a verified receipt proves, with bytes decoded. */
export type VerifiedReceipt = {
  readonly version: 1 | 2;
  readonly txId: string;
  readonly seqno: number;
  readonly entry: Uint8Array;
  readonly treeSize: number;
  readonly root: string;
  /** The first signer's node ID and time (`signers[0]`), as format 1 reported them. */
  readonly nodeId: string;
  readonly signedAt: number;
  /** The first signer (`signers[0]`), as format 1 reported it. */
  readonly signer: {
    readonly mspId: string;
    readonly identityId: string;
    readonly role: NodeOuRole | null;
  };
  /** Every signer, in the receipt's order (by node ID); every signature verified. */
  readonly signers: readonly ReceiptSigner[];
  /** The distinct MSP IDs of the signers, sorted: the organisations that vouch for the root. */
  readonly organisations: readonly string[];
};

export type ReceiptCheck = Result<VerifiedReceipt>;

export type VerifyReceiptOptions = {
  /**
   * The transaction ID recorded in an entry's bytes (undefined if it records none). Given, the
   * receipt's txId must equal it; the entry format belongs to the ledger files, hence a hook.
   */
  readonly txIdOf?: (entry: Uint8Array) => string | undefined;
  /** Fewest nodes (distinct signing keys) whose signatures must verify; default 1. */
  readonly signaturesMin?: number;
  /**
   * Fewest organisations (distinct MSP IDs) among the signers; default 1. Nodes of one
   * organisation count once: an organisation can issue itself any number of peer certificates.
   */
  readonly organisationsMin?: number;
};

/** Signs `message` as MSP identities do (SigningIdentity.sign): ECDSA low-S DER over SHA-256. */
export type RootSigner = {
  readonly mspId: string;
  readonly certPem: string;
  readonly sign: (message: Uint8Array) => Uint8Array;
};

const hexPattern = /^[0-9a-f]*$/;

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

type ReceiptInputBody = {
  readonly txId: string;
  /** The ledger entry bytes: the leaf data. */
  readonly entry: Uint8Array;
  readonly leafIndex: number;
  /** `tree.inclusionProof(leafIndex, treeSize)` for the signed roots' treeSize. */
  readonly proof: readonly Uint8Array[];
};

/** Input of a format 2 receipt: 1..signedRootsMax nodes' signed roots of one position. */
export type ReceiptInputV2 = ReceiptInputBody & {
  /** Any order: the receipt sorts them by node ID. */
  readonly signedRoots: readonly SignedRoot[];
  readonly signedRoot?: never;
};

/** Input of a format 1 receipt (one node's signed root); kept until every caller passes many. */
export type ReceiptInputV1 = ReceiptInputBody & {
  readonly signedRoot: SignedRoot;
  readonly signedRoots?: never;
};

export type ReceiptInput = ReceiptInputV1 | ReceiptInputV2;

/** Orders signed roots by node ID, comparing UTF-16 code units (as RFC 8785 §3.2.3 sorts keys). */
function byNodeId(a: SignedRoot, b: SignedRoot): number {
  return a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0;
}

/**
 * Assembles a receipt (and checks its shape and that its signed roots are for one position by
 * distinct nodes); it does not verify signatures. With `signedRoots` it writes format 2, with
 * `signedRoot` format 1. Throws RECEIPT_E_MALFORMED, RECEIPT_E_ROOTS_DISAGREE or
 * RECEIPT_E_SIGNER_REPEATED: the caller passed roots that do not belong in one receipt.
 */
export function createReceipt(input: ReceiptInputV2): ReceiptV2;
export function createReceipt(input: ReceiptInputV1): ReceiptV1;
export function createReceipt(input: ReceiptInput): Receipt;
export function createReceipt(input: ReceiptInput): Receipt {
  const signedRoots =
    input.signedRoots === undefined ? [input.signedRoot] : [...input.signedRoots].sort(byNodeId);
  const first = signedRoots[0];
  if (first === undefined) {
    throw malformed('receipt.signedRoots', `must be a list of 1 to ${signedRootsMax} signed roots`);
  }
  const body = {
    txId: input.txId,
    seqno: input.leafIndex + 1,
    entry: Buffer.from(input.entry).toString('base64'),
    proof: {
      leafIndex: input.leafIndex,
      treeSize: first.treeSize,
      leafHash: toHex(leafHash(input.entry)),
      hashes: input.proof.map(toHex),
    },
  };
  const receipt = parseReceipt(
    input.signedRoots === undefined
      ? { version: 1, ...body, signedRoot: first }
      : { version: 2, ...body, signedRoots },
  );
  const consistent = checkSignedRootsAgree(signedRootsOf(receipt), fieldOf(receipt));
  if (!consistent.ok) throw consistent.error;
  return receipt;
}

/**
 * The signed roots a node puts in a receipt, so that the receipt verifies: its own, then each
 * peer's root that is for the same treeSize and root, verifies against `msps`
 * (`verifySignedRoot`), and comes from a node ID and a signing key not already chosen; at most
 * signedRootsMax in all, in `peers` order. Anything else is left out: a disagreeing root is
 * divergence detection's business (decision 0013), and a receipt carries only signatures that
 * count. It verifies each root (one ECDSA verification and a chain check): call it once per
 * signature entry and keep the result for that entry's receipts.
 */
export function signedRootsForReceipt(
  own: SignedRoot,
  peers: readonly SignedRoot[],
  msps: ReadonlyMap<string, Msp>,
): readonly SignedRoot[] {
  const chosen: SignedRoot[] = [own];
  const nodeIds = new Set([own.nodeId]);
  const keys = new Set<string>();
  const ownChecked = verifySignedRoot(own, msps);
  if (ownChecked.ok) keys.add(ownChecked.value.identity.cert.spkiHex);
  for (const peer of peers) {
    if (chosen.length >= signedRootsMax) break;
    if (peer.treeSize !== own.treeSize || peer.root !== own.root) continue;
    if (nodeIds.has(peer.nodeId)) continue;
    const checked = verifySignedRoot(peer, msps);
    if (!checked.ok || keys.has(checked.value.identity.cert.spkiHex)) continue;
    chosen.push(peer);
    nodeIds.add(peer.nodeId);
    keys.add(checked.value.identity.cert.spkiHex);
  }
  return chosen;
}

/** A receipt's signed roots, whatever its format. */
export function signedRootsOf(receipt: Receipt): readonly SignedRoot[] {
  return receipt.version === 1 ? [receipt.signedRoot] : receipt.signedRoots;
}

/** Field path of the i-th signed root, for messages. */
function fieldOf(receipt: Receipt): (index: number) => string {
  return receipt.version === 1
    ? () => 'receipt.signedRoot'
    : (index) => `receipt.signedRoots[${index}]`;
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
    !isBase64(value) ||
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

function parseSignedRoots(value: unknown, field: string): SignedRoot[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > signedRootsMax) {
    throw malformed(field, `must be a list of 1 to ${signedRootsMax} signed roots`);
  }
  const signedRoots = value.map((item: unknown, i) => parseSignedRoot(item, `${field}[${i}]`));
  signedRoots.forEach((signedRoot, i) => {
    const previous = signedRoots[i - 1];
    // Equal node IDs are left to verifyReceipt, which names the repeat (RECEIPT_E_SIGNER_REPEATED).
    if (previous !== undefined && byNodeId(previous, signedRoot) > 0) {
      throw malformed(
        `${field}[${i}].nodeId`,
        `must not sort before the node ID of ${field}[${i - 1}]: signed roots are sorted by node ID`,
      );
    }
  });
  return signedRoots;
}

/**
 * Checks that `json` has the shape of a receipt of format 1 or 2 (field types, hex and base64,
 * limits, seqno = leafIndex + 1, signed roots sorted by node ID); throws RECEIPT_E_MALFORMED
 * naming the failing field path. Whether the signed roots agree is verifyReceipt's business.
 */
export function parseReceipt(json: unknown): Receipt {
  // The version decides the fields, so it is read first.
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw malformed('receipt', 'must be a JSON object');
  }
  const version = (json as Json)['version'];
  if (version !== 1 && version !== 2) {
    throw malformed('receipt.version', `must be one of ${receiptVersions.join(', ')}`);
  }
  const receipt = object(json, 'receipt', [
    'version',
    'txId',
    'seqno',
    'entry',
    'proof',
    version === 1 ? 'signedRoot' : 'signedRoots',
  ]);
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
  const body: ReceiptBody = {
    txId,
    seqno,
    entry,
    proof: {
      leafIndex,
      treeSize: integer(proofJson['treeSize'], 'receipt.proof.treeSize', 1),
      leafHash: hash(proofJson['leafHash'], 'receipt.proof.leafHash'),
      hashes: hashes.map((item: unknown, i) => hash(item, `receipt.proof.hashes[${i}]`)),
    },
  };
  return version === 1
    ? {
        version,
        ...body,
        signedRoot: parseSignedRoot(receipt['signedRoot'], 'receipt.signedRoot'),
      }
    : {
        version,
        ...body,
        signedRoots: parseSignedRoots(receipt['signedRoots'], 'receipt.signedRoots'),
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
 * The signed roots of one receipt are for one position (treeSize and root, those of the first)
 * and come from distinct node IDs. Roots that disagree are either altered or evidence that nodes
 * diverged (decision 0013); either way the receipt proves nothing.
 */
function checkSignedRootsAgree(
  signedRoots: readonly SignedRoot[],
  field: (index: number) => string,
): Result<SignedRoot> {
  const first = signedRoots[0];
  assert(first !== undefined, 'a parsed receipt has at least one signed root');
  const seen = new Map<string, number>();
  for (const [i, signedRoot] of signedRoots.entries()) {
    if (signedRoot.treeSize !== first.treeSize || signedRoot.root !== first.root) {
      return failure(
        'RECEIPT_E_ROOTS_DISAGREE',
        `${field(i)} (node ${signedRoot.nodeId}) signs root ${signedRoot.root} at tree size ${signedRoot.treeSize}, but ${field(0)} (node ${first.nodeId}) signs root ${first.root} at tree size ${first.treeSize}`,
        { index: i, treeSizes: [first.treeSize, signedRoot.treeSize] },
      );
    }
    const before = seen.get(signedRoot.nodeId);
    if (before !== undefined) {
      return failure(
        'RECEIPT_E_SIGNER_REPEATED',
        `${field(i)} and ${field(before)} are both signed as node ${signedRoot.nodeId}; a receipt counts each node once`,
        { index: i, nodeId: signedRoot.nodeId },
      );
    }
    seen.set(signedRoot.nodeId, i);
  }
  return { ok: true, value: first };
}

/** `verifySignedRoot` for the i-th signed root of a receipt: a failure names its field. */
function verifySignedRootAt(
  signedRoot: SignedRoot,
  msps: ReadonlyMap<string, Msp>,
  field: string | undefined,
): ReturnType<typeof verifySignedRoot> {
  const checked = verifySignedRoot(signedRoot, msps);
  if (checked.ok || field === undefined) return checked;
  const { error } = checked;
  return failure(
    error.code,
    `${field} (node ${signedRoot.nodeId}): ${error.message}`,
    { ...error.details, field },
    error.cause,
  );
}

function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

/**
 * Verifies a receipt offline against the organisations' MSPs (keyed by MSP ID), in order:
 * shape; (1) the entry hashes to the proof's leaf (and, with `txIdOf`, records the txId);
 * (2) every signed root is for the same treeSize and root, each from a different node;
 * (3) the inclusion proof leads to that root for its tree size; for every signed root, (4) the
 * node certificate is a valid identity of its MSP and, when the MSP uses NodeOUs, a peer, and
 * (5) the signature verifies over `rootSignatureMessage`; (6) no signing key appears twice; and
 * (7) there are at least `signaturesMin` signers of at least `organisationsMin` organisations.
 * One bad signature makes the whole receipt invalid. Never throws for a bad receipt: each failure
 * is a coded error. Options out of range are the caller's bug and throw.
 */
export function verifyReceipt(
  json: unknown,
  msps: ReadonlyMap<string, Msp>,
  options: VerifyReceiptOptions = {},
): ReceiptCheck {
  const signaturesMin = options.signaturesMin ?? 1;
  const organisationsMin = options.organisationsMin ?? 1;
  for (const [name, value] of [
    ['signaturesMin', signaturesMin],
    ['organisationsMin', organisationsMin],
  ] as const) {
    assert(
      Number.isSafeInteger(value) && value >= 1 && value <= signedRootsMax,
      `${name} must be an integer from 1 to ${signedRootsMax}, got ${value}`,
    );
  }

  let receipt: Receipt;
  try {
    receipt = parseReceipt(json);
  } catch (error) {
    if (isCofferError(error)) return { ok: false, error };
    throw error;
  }
  const { proof } = receipt;
  const signedRoots = signedRootsOf(receipt);
  const field = fieldOf(receipt);
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

  // (2) One position, distinct nodes.
  const agreed = checkSignedRootsAgree(signedRoots, field);
  if (!agreed.ok) return agreed;
  const signedRoot = agreed.value;

  // (3) The proof leads to the signed root, for the tree size that was signed.
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

  // (4) and (5): every signer is a node (peer) of a trusted organisation, and signed this root;
  // (6) each signing key counts once, whatever node ID it signs under.
  const signers: ReceiptSigner[] = [];
  const keys = new Map<string, number>();
  for (const [i, each] of signedRoots.entries()) {
    const checked = verifySignedRootAt(each, msps, receipt.version === 1 ? undefined : field(i));
    if (!checked.ok) return checked;
    const { identity, validation } = checked.value;
    const before = keys.get(identity.cert.spkiHex);
    if (before !== undefined) {
      return failure(
        'RECEIPT_E_SIGNER_REPEATED',
        `${field(i)} (node ${each.nodeId}) and ${field(before)} (node ${signedRoots[before]?.nodeId ?? '?'}) are signed with the same key; a receipt counts each node once`,
        { index: i, nodeId: each.nodeId, mspId: each.mspId },
      );
    }
    keys.set(identity.cert.spkiHex, i);
    signers.push({
      nodeId: each.nodeId,
      signedAt: each.signedAt,
      mspId: each.mspId,
      identityId: identity.id,
      role: validation.role,
    });
  }

  // (7) Enough nodes, of enough organisations.
  const organisations = [...new Set(signers.map((signer) => signer.mspId))].sort();
  if (signers.length < signaturesMin || organisations.length < organisationsMin) {
    const wanted =
      signers.length < signaturesMin
        ? `at least ${plural(signaturesMin, 'node', 'nodes')}`
        : `nodes of at least ${plural(organisationsMin, 'organisation', 'organisations')}`;
    return failure(
      'RECEIPT_E_TOO_FEW_SIGNERS',
      `the root is signed by ${plural(signers.length, 'node', 'nodes')} of ${plural(organisations.length, 'organisation', 'organisations')} (${organisations.join(', ')}), but the verifier requires ${wanted}`,
      {
        signatures: signers.length,
        organisations,
        signaturesMin,
        organisationsMin,
      },
    );
  }

  const [first] = signers;
  assert(first !== undefined, 'a verified receipt has a signer');
  return {
    ok: true,
    value: {
      version: receipt.version,
      txId: receipt.txId,
      seqno: receipt.seqno,
      entry,
      treeSize: signedRoot.treeSize,
      root: signedRoot.root,
      nodeId: first.nodeId,
      signedAt: first.signedAt,
      signer: { mspId: first.mspId, identityId: first.identityId, role: first.role },
      signers,
      organisations,
    },
  };
}

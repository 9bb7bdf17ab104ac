// Offline (cold) keys for an air-gapped machine: one key per file, sealed under a passphrase
// (scrypt + AES-256-GCM, sealed-file.ts). Signing is bytes → digest → signature → signed object
// (STYLE.md 3): a request file names the withdrawal, the wallet and the digest the ledger
// recorded; the signature file repeats them with the public key and the low-S r‖s signature,
// so that whoever carries it back can check it before submitting.
import { cofferError } from '../errors/index.js';
import {
  checkCurve,
  digestFromHex,
  generateScalarKey,
  isPublicKeyHex,
  knownAnswerCheck,
  publicKeyOfScalar,
  signDigestWithScalar,
  toHex,
  type KeyCurve,
  type KeyInfo,
  type Signer,
} from './keys.js';
import {
  checkKdfParams,
  checkSealed,
  deriveKek,
  newKdfParams,
  seal,
  unseal,
  type KdfParams,
  type Sealed,
} from './sealed-file.js';

export const offlineKeyFormat = 'coffer-offline-key/1';
export const offlineSignatureFormat = 'coffer-offline-signature/2';
/** Digests one request file may hold (a Bitcoin withdrawal has one per input). */
export const offlineDigestsMax = 100;
/** Largest key, request or signature file read, in bytes. */
export const offlineFileBytesMax = 64 * 1024;
/** Longest withdrawal or wallet id, in characters. */
export const offlineIdCharsMax = 256;

export type OfflineKeyFile = {
  readonly format: typeof offlineKeyFormat;
  readonly notice: string;
  readonly curve: KeyCurve;
  /** SEC1 uncompressed, lower-case hex. */
  readonly publicKey: string;
  readonly kdf: KdfParams;
  readonly sealed: Sealed;
};

export type OfflineSignRequest = {
  readonly withdrawalId: string;
  readonly walletId: string;
  /** Lower-case hex of the 32-byte digests, in order (one per input on Bitcoin). */
  readonly digests: readonly string[];
};

export type OfflineSignature = OfflineSignRequest & {
  readonly format: typeof offlineSignatureFormat;
  readonly curve: KeyCurve;
  readonly publicKey: string;
  /** Lower-case hex of r‖s (64 bytes), low-S, one per digest in order. */
  readonly signatures: readonly string[];
};

export type OfflineKey = {
  readonly curve: KeyCurve;
  readonly publicKey: string;
  readonly signer: Signer;
};

const notice =
  'Coffer offline custody key: keep this file and its passphrase on the air-gapped machine only.';

function aadOf(curve: KeyCurve, publicKey: string): Buffer {
  return Buffer.from([offlineKeyFormat, curve, publicKey].join('\n'));
}

/** A new offline key, sealed under `passphrase`: the file's JSON content. */
export async function createOfflineKey(options: {
  readonly curve: KeyCurve;
  readonly passphrase: string;
  readonly kdfLog2N?: number;
}): Promise<OfflineKeyFile> {
  const curve = checkCurve(options.curve);
  const kdf = newKdfParams(options.kdfLog2N);
  const kek = await deriveKek(options.passphrase, kdf);
  const { secretKey, publicKey } = generateScalarKey(curve);
  try {
    return {
      format: offlineKeyFormat,
      notice,
      curve,
      publicKey,
      kdf,
      sealed: seal(kek, secretKey, aadOf(curve, publicKey)),
    };
  } finally {
    secretKey.fill(0);
    kek.fill(0);
  }
}

function fileInvalid(field: string, what: string) {
  return cofferError('KEYSTORE_E_FILE_INVALID', `offline key file: ${field} ${what}`, { field });
}

/** Checks the shape of a key file read from disk. */
export function parseOfflineKeyFile(json: unknown): OfflineKeyFile {
  if (typeof json !== 'object' || json === null) throw fileInvalid('(file)', 'is not an object');
  const file = json as Record<string, unknown>;
  if (file['format'] !== offlineKeyFormat) {
    throw fileInvalid('format', `must be "${offlineKeyFormat}"`);
  }
  if (!isPublicKeyHex(file['publicKey'])) {
    throw fileInvalid('publicKey', 'must be SEC1 uncompressed hex');
  }
  return {
    format: offlineKeyFormat,
    notice,
    curve: checkCurve(file['curve']),
    publicKey: file['publicKey'],
    kdf: checkKdfParams(file['kdf'], 'offline key file: kdf'),
    sealed: checkSealed(file['sealed'], 'offline key file: sealed'),
  };
}

/**
 * Opens a key file with its passphrase; the signer has passed the known-answer check.
 * Throws KEYSTORE_E_PASSPHRASE_WRONG, KEYSTORE_E_FILE_INVALID, KEYSTORE_E_SELF_CHECK_FAILED.
 */
export async function openOfflineKey(json: unknown, passphrase: string): Promise<OfflineKey> {
  const file = parseOfflineKeyFile(json);
  const kek = await deriveKek(passphrase, file.kdf);
  const secret = unseal(kek, file.sealed, aadOf(file.curve, file.publicKey), 'the offline key');
  kek.fill(0);
  if (publicKeyOfScalar(file.curve, secret) !== file.publicKey) {
    throw fileInvalid('sealed', 'holds a private key that is not the file public key');
  }
  const signer: Signer = (digest) =>
    Promise.resolve().then(() => signDigestWithScalar(file.curve, secret, digest));
  const info: KeyInfo = {
    keyId: file.publicKey.slice(2, 34),
    label: 'offline',
    curve: file.curve,
    publicKey: file.publicKey,
  };
  await knownAnswerCheck(signer, info);
  return { curve: file.curve, publicKey: file.publicKey, signer };
}

function requestInvalid(field: string, what: string) {
  return cofferError('KEYSTORE_E_REQUEST_INVALID', `request file: ${field} ${what}`, { field });
}

function id(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > offlineIdCharsMax) {
    throw requestInvalid(field, `must be a string of 1 to ${offlineIdCharsMax} characters`);
  }
  return value;
}

/**
 * `{"withdrawalId", "walletId", "digests": [hex, …]}` (or one `"digest": hex`, as a withdrawal
 * record of one digest shows it); other fields are ignored.
 */
export function parseOfflineSignRequest(json: unknown): OfflineSignRequest {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw requestInvalid('(file)', 'must be a JSON object {withdrawalId, walletId, digests}');
  }
  const request = json as Record<string, unknown>;
  const digests = 'digests' in request ? request['digests'] : [request['digest']];
  if (
    !Array.isArray(digests) ||
    digests.length === 0 ||
    digests.length > offlineDigestsMax ||
    !digests.every((digest) => digestFromHex(digest) !== undefined)
  ) {
    throw requestInvalid(
      'digests',
      `must be a list of 1 to ${offlineDigestsMax} digests, each 64 lower-case hex characters (32 bytes)`,
    );
  }
  return {
    withdrawalId: id(request['withdrawalId'], 'withdrawalId'),
    walletId: id(request['walletId'], 'walletId'),
    digests: digests as string[],
  };
}

/** Signs a request's digest with an opened offline key: the signature file's content. */
export async function signOfflineRequest(
  key: OfflineKey,
  request: OfflineSignRequest,
): Promise<OfflineSignature> {
  const signatures: string[] = [];
  for (const [i, hex] of request.digests.entries()) {
    const digest = digestFromHex(hex);
    if (digest === undefined)
      throw requestInvalid(`digests[${i}]`, 'must be 64 lower-case hex characters');
    signatures.push(toHex(await key.signer(digest)));
  }
  return {
    format: offlineSignatureFormat,
    withdrawalId: request.withdrawalId,
    walletId: request.walletId,
    digests: request.digests,
    curve: key.curve,
    publicKey: key.publicKey,
    signatures,
  };
}

// What a receipt must prove before the signer signs: the custody ledger contract, read in one
// place so that it is easy to adapt when the custody app changes it.
//
// A receipt's entry is the ledger's transaction entry (RFC 8785 JSON, src/node/engine.ts):
//   {"type":"tx","status":"committed","app":"custody","action":…,"txId":…,"seqno":…,
//    "writes":{"public":[[map,key,value],…],"private":"…"},…}
// and the approval is its public write ["public:custody.withdrawals", <withdrawalId>, <value>],
// <value> being the JSON of the withdrawal record after the transaction:
//   {"id","walletId","state":"service_signed","digests":[<hex>,…],"expiresAt":<ms, ledger time>,
//    "platformKey":{"keyId","publicKey":<SEC1 hex>,"curve"},…}
// The record is the state the transaction wrote, so a receipt of any later transaction that
// wrote the record in another state (platform_signed, failed, …) proves nothing here.
import { cofferError, type CofferError, type Result } from '../errors/index.js';
import { isKeyCurve, isPublicKeyHex, type KeyCurve } from '../crypto/index.js';

export const withdrawalsMap = 'public:custody.withdrawals';
/** The state in which the service has signed and the platform key may sign. */
export const approvedState = 'service_signed';
export const custodyApp = 'custody';
/** Digests one request may ask to sign: the custody app's digestsPerWithdrawalMax (tested). */
export const digestsPerRequestMax = 100;
const digestHexPattern = /^[0-9a-f]{64}$/;

/** A list of 1 to digestsPerRequestMax lower-case 64-hex digests. */
export function isDigestList(value: unknown): value is readonly string[] {
  return (
    Array.isArray(value) &&
    value.length >= 1 &&
    value.length <= digestsPerRequestMax &&
    value.every((item) => typeof item === 'string' && digestHexPattern.test(item))
  );
}

export type WithdrawalApproval = {
  readonly txId: string;
  readonly seqno: number;
  readonly action: string | null;
  readonly withdrawalId: string;
  readonly walletId: string;
  readonly state: string;
  readonly digests: readonly string[];
  /** Ledger time (ms since the epoch) from which the withdrawal may be expired, unsigned. */
  readonly expiresAt: number;
  readonly platformKey: {
    readonly keyId: string;
    readonly publicKey: string;
    readonly curve: KeyCurve;
  };
};

type Json = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function refuse(code: 'SIGNER_E_NOT_APPROVAL' | 'SIGNER_E_WITHDRAWAL_MISMATCH', message: string) {
  return { ok: false as const, error: cofferError(code, message) };
}

function entryJson(entry: Uint8Array): Json | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(entry).toString('utf8'));
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The txId a transaction entry records: verifyReceipt's `txIdOf` hook. Throws for others. */
export function txIdOfEntry(entry: Uint8Array): string | undefined {
  const json = entryJson(entry);
  if (json === undefined) throw new Error('the entry is not a JSON object');
  if (json['type'] !== 'tx') throw new Error('the entry is not a transaction entry (type "tx")');
  return typeof json['txId'] === 'string' ? json['txId'] : undefined;
}

/**
 * The withdrawal record `withdrawalId` as the entry's transaction wrote it. Refuses
 * (SIGNER_E_NOT_APPROVAL) an entry that is not a committed custody transaction writing a
 * well-formed withdrawal record, and (SIGNER_E_WITHDRAWAL_MISMATCH) one that writes only other
 * withdrawals, or a record under this key whose id differs.
 */
export function withdrawalApprovalOf(
  entry: Uint8Array,
  withdrawalId: string,
): Result<WithdrawalApproval> {
  const json = entryJson(entry);
  if (json === undefined || json['type'] !== 'tx') {
    return refuse('SIGNER_E_NOT_APPROVAL', 'the receipt entry is not a transaction entry');
  }
  if (json['status'] !== 'committed') {
    return refuse(
      'SIGNER_E_NOT_APPROVAL',
      `the receipt is for a transaction with status ${JSON.stringify(json['status'])}; only a committed transaction approves`,
    );
  }
  if (json['app'] !== custodyApp) {
    return refuse(
      'SIGNER_E_NOT_APPROVAL',
      `the receipt is for a transaction of app ${JSON.stringify(json['app'])}, not of the custody app`,
    );
  }
  const writes = json['writes'];
  const publicWrites = isObject(writes) ? writes['public'] : undefined;
  if (!Array.isArray(publicWrites)) {
    return refuse('SIGNER_E_NOT_APPROVAL', 'the receipt entry has no public writes');
  }
  const withdrawals = publicWrites.filter(
    (write): write is [string, string, unknown] =>
      Array.isArray(write) &&
      write.length === 3 &&
      write[0] === withdrawalsMap &&
      typeof write[1] === 'string',
  );
  const write = withdrawals.find(([, key]) => key === withdrawalId);
  if (write === undefined) {
    return withdrawals.length > 0
      ? refuse(
          'SIGNER_E_WITHDRAWAL_MISMATCH',
          `the receipt's transaction writes withdrawal ${withdrawals.map(([, key]) => key).join(', ')}, not ${withdrawalId}`,
        )
      : refuse(
          'SIGNER_E_NOT_APPROVAL',
          `the receipt's transaction writes no withdrawal record (${withdrawalsMap})`,
        );
  }
  const [, , value] = write;
  let record: unknown;
  try {
    record = typeof value === 'string' ? JSON.parse(value) : undefined;
  } catch {
    record = undefined;
  }
  const malformed = (what: string) =>
    refuse('SIGNER_E_NOT_APPROVAL', `the withdrawal record ${withdrawalId} ${what}`);
  if (!isObject(record)) return malformed('is not a JSON object (deleted, or not a record)');
  if (record['id'] !== withdrawalId) {
    return refuse(
      'SIGNER_E_WITHDRAWAL_MISMATCH',
      `the record under withdrawal ${withdrawalId} has id ${JSON.stringify(record['id'])}`,
    );
  }
  const { walletId, state, digests, expiresAt, platformKey } = record;
  if (typeof walletId !== 'string') return malformed('has no walletId');
  if (typeof state !== 'string') return malformed('has no state');
  if (!isDigestList(digests)) return malformed('has no digests (it is not built)');
  if (typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt)) {
    return malformed('has no expiresAt (an integer time in ms)');
  }
  if (!isObject(platformKey)) return malformed('has no platformKey');
  const { keyId, publicKey, curve } = platformKey;
  if (typeof keyId !== 'string' || !isPublicKeyHex(publicKey) || !isKeyCurve(curve)) {
    return malformed('has a platformKey that is not {keyId, publicKey (SEC1 hex), curve}');
  }
  const txId = json['txId'];
  const seqno = json['seqno'];
  if (typeof txId !== 'string' || typeof seqno !== 'number') {
    return malformed('comes from an entry without txId or seqno');
  }
  return {
    ok: true,
    value: {
      txId,
      seqno,
      action: typeof json['action'] === 'string' ? json['action'] : null,
      withdrawalId,
      walletId,
      state,
      digests,
      expiresAt,
      platformKey: { keyId, publicKey, curve },
    },
  };
}

/** What was asked of the signer, already checked for shape. */
export type SignRequest = {
  readonly walletId: string;
  readonly withdrawalId: string;
  /** Lower-case hex of the 32-byte digests, in the withdrawal's order. */
  readonly digests: readonly string[];
  readonly keyId: string;
};

/**
 * The request is exactly what the record approves, with the key the HSM holds: the same
 * wallet, state service_signed, the same digests in the same order, the same platform key id and public key.
 */
export function checkApproval(
  request: SignRequest,
  approval: WithdrawalApproval,
  hsmKey: { readonly publicKey: string; readonly curve: KeyCurve },
): CofferError | undefined {
  if (approval.walletId !== request.walletId) {
    return cofferError(
      'SIGNER_E_WITHDRAWAL_MISMATCH',
      `withdrawal ${request.withdrawalId} belongs to wallet ${approval.walletId}, not ${request.walletId}`,
    );
  }
  if (approval.state !== approvedState) {
    return cofferError(
      'SIGNER_E_STATE_NOT_APPROVED',
      `the receipt shows withdrawal ${request.withdrawalId} in state ${approval.state}; the platform key signs only in state ${approvedState}`,
      { state: approval.state },
    );
  }
  const same =
    approval.digests.length === request.digests.length &&
    approval.digests.every((digest, i) => digest === request.digests[i]);
  if (!same) {
    return cofferError(
      'SIGNER_E_DIGEST_NOT_APPROVED',
      `the ledger approved digests [${approval.digests.join(', ')}] for withdrawal ${request.withdrawalId}, not [${request.digests.join(', ')}]`,
    );
  }
  if (approval.platformKey.keyId !== request.keyId) {
    return cofferError(
      'SIGNER_E_KEY_MISMATCH',
      `withdrawal ${request.withdrawalId} is to be signed with platform key ${approval.platformKey.keyId}, not ${request.keyId}`,
    );
  }
  if (
    approval.platformKey.publicKey !== hsmKey.publicKey ||
    approval.platformKey.curve !== hsmKey.curve
  ) {
    return cofferError(
      'SIGNER_E_KEY_MISMATCH',
      `key ${request.keyId} on the HSM is ${hsmKey.curve} ${hsmKey.publicKey}, but the wallet records ${approval.platformKey.curve} ${approval.platformKey.publicKey}`,
    );
  }
  return undefined;
}

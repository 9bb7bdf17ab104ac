// The signer's decisions, as pure functions of their inputs (STYLE.md 2): who the caller is and
// whether it may ask, and whether a receipt proves that exactly this digest was approved for
// this wallet with this key. The server feeds them the TLS peer, the clock and the HSM's key.
import { cofferError, type Result } from '../errors/index.js';
import type { KeyInfo } from '../crypto/index.js';
import { verifyReceipt, type VerifiedReceipt } from '../ledger/index.js';
import { encodePem, type Msp, type NodeOuRole } from '../msp/index.js';
import {
  checkApproval,
  txIdOfEntry,
  withdrawalApprovalOf,
  type SignRequest,
  type WithdrawalApproval,
} from './approval.js';
import { clockSkewMsMax, type AuthorisedCaller } from './config.js';

export type SignerCaller = {
  readonly mspId: string;
  /** Fabric identity id (hex SHA-256 of the certificate). */
  readonly identityId: string;
  readonly role: NodeOuRole | null;
};

/** What the TLS layer says of the peer: its certificate (DER) and whether the chain verified. */
export type TlsPeer = {
  readonly certDer: Uint8Array | undefined;
  readonly chainVerified: boolean;
  readonly chainError: string | undefined;
};

/**
 * The caller's MSP identity: a client certificate that chains to a consortium CA (TLS) and is
 * a valid identity of its MSP (not revoked, OU rules, NodeOU role). SIGNER_E_UNAUTHENTICATED
 * otherwise, with the reason; when the certificate is an identity of a consortium MSP that
 * refuses it (revoked, say), the details name it (mspId, identityId) and the MSP's code
 * (mspCode, e.g. MSP_E_IDENTITY_REVOKED).
 */
export function identifyCaller(
  msps: ReadonlyMap<string, Msp>,
  peer: TlsPeer,
): Result<SignerCaller> {
  const refuse = (why: string, details: Record<string, unknown> = {}) => ({
    ok: false as const,
    error: cofferError('SIGNER_E_UNAUTHENTICATED', why, details),
  });
  if (peer.certDer === undefined) return refuse('the caller sent no client certificate');
  if (!peer.chainVerified) {
    return refuse(
      `the client certificate does not chain to a CA of the consortium (${peer.chainError ?? 'unverified'})`,
    );
  }
  const pem = encodePem('CERTIFICATE', peer.certDer);
  const reasons: string[] = [];
  let refusedBy: Record<string, unknown> | undefined;
  for (const msp of msps.values()) {
    const identity = msp.deserializeIdentity(msp.mspId, pem);
    if (!identity.ok) continue;
    const validation = msp.validate(identity.identity);
    if (!validation.valid) {
      reasons.push(`${msp.mspId}: ${validation.error.message}`);
      // Other MSPs refuse it as not theirs; its own MSP says why it is not valid.
      if (refusedBy === undefined && validation.error.code !== 'MSP_E_IDENTITY_NOT_CHAINED') {
        refusedBy = {
          mspId: msp.mspId,
          identityId: identity.identity.id,
          mspCode: validation.error.code,
        };
      }
      continue;
    }
    return {
      ok: true,
      value: { mspId: msp.mspId, identityId: identity.identity.id, role: validation.role },
    };
  }
  return refuse(
    `the client certificate is not a valid MSP identity of the consortium${reasons.length === 0 ? '' : ` (${reasons.join('; ')})`}`,
    refusedBy,
  );
}

/** True when some entry of the authorised list matches every field it gives. */
export function isAuthorised(
  caller: SignerCaller,
  authorised: readonly AuthorisedCaller[],
): boolean {
  return authorised.some(
    (entry) =>
      entry.mspId === caller.mspId &&
      (entry.role === undefined || entry.role === caller.role) &&
      (entry.identityId === undefined || entry.identityId === caller.identityId),
  );
}

export type ApprovalContext = {
  readonly msps: ReadonlyMap<string, Msp>;
  readonly organisationsMin: number;
  readonly receiptAgeMsMax: number;
  /** The signer's clock, in ms since the epoch. */
  readonly now: number;
};

export type Approved = {
  readonly approval: WithdrawalApproval;
  readonly receipt: VerifiedReceipt;
};

/**
 * Signs only if: the receipt verifies against the consortium's MSPs with nodes of at least
 * `organisationsMin` organisations, its newest root signature is recent, its entry is the
 * committed custody transaction that wrote this withdrawal in state service_signed with this
 * digest, wallet and platform key, that key is the one the HSM holds under `keyId`, and the
 * withdrawal's expiry is still ahead on the signer's clock.
 */
export function approveSignRequest(
  request: SignRequest,
  receiptJson: unknown,
  hsmKey: KeyInfo,
  context: ApprovalContext,
): Result<Approved> {
  const verified = verifyReceipt(receiptJson, context.msps, {
    txIdOf: txIdOfEntry,
    organisationsMin: context.organisationsMin,
  });
  if (!verified.ok) {
    return {
      ok: false,
      error: cofferError(
        'SIGNER_E_RECEIPT_INVALID',
        `the receipt does not verify: ${verified.error.code}: ${verified.error.message}`,
        { receiptCode: verified.error.code },
        verified.error,
      ),
    };
  }
  const receipt = verified.value;
  const newest = Math.max(...receipt.signers.map((signer) => signer.signedAt));
  if (context.now - newest > context.receiptAgeMsMax || newest - context.now > clockSkewMsMax) {
    return {
      ok: false,
      error: cofferError(
        'SIGNER_E_RECEIPT_STALE',
        `the receipt's newest root signature is from ${new Date(newest).toISOString()}, ${Math.round((context.now - newest) / 1000)} s from the signer's clock; it must be at most ${context.receiptAgeMsMax / 1000} s old (and at most ${clockSkewMsMax / 1000} s ahead)`,
        { signedAt: newest, now: context.now },
      ),
    };
  }
  const approval = withdrawalApprovalOf(receipt.entry, request.withdrawalId);
  if (!approval.ok) return approval;
  if (approval.value.seqno !== receipt.seqno) {
    return {
      ok: false,
      error: cofferError(
        'SIGNER_E_NOT_APPROVAL',
        `the receipt is for ledger position ${receipt.seqno}, but its entry records seqno ${approval.value.seqno}`,
      ),
    };
  }
  // verifyReceipt checked the receipt's txId against the entry (txIdOf); the record is the one
  // that transaction wrote.
  const refused = checkApproval(request, approval.value, hsmKey);
  if (refused !== undefined) return { ok: false, error: refused };
  // The custody app refuses platform_sign from expiresAt on (withdrawals.ts requireNotExpired),
  // and anyone may then expire the withdrawal and release its amount: a signature made after
  // that could still be broadcast. No clock-skew allowance in this direction.
  const { expiresAt } = approval.value;
  if (context.now >= expiresAt) {
    return {
      ok: false,
      error: cofferError(
        'SIGNER_E_WITHDRAWAL_EXPIRED',
        `withdrawal ${request.withdrawalId} expired at ${new Date(expiresAt).toISOString()} (the signer's clock is ${new Date(context.now).toISOString()}); the platform key does not sign an expired withdrawal`,
        { expiresAt, now: context.now },
      ),
    };
  }
  return { ok: true, value: { approval: approval.value, receipt } };
}

// Signature policies over a consortium's MSPs: turns signed data into verified identities
// (Fabric policies.SignatureSetToValidIdentities) and evaluates a policy over them, each
// principal checked by the MSP that issued the signer (Fabric's MSP manager).
import { cofferError, type CofferError } from '../errors/index.js';
import type { Identity, Msp } from './msp.js';
import { evaluatePolicy, type SignaturePolicy } from './policy.js';

/** Signatures considered for one policy decision; more are refused before any work. */
export const policySignaturesMax = 256;

export type SignedData = {
  readonly mspId: string;
  readonly certPem: string;
  readonly signature: Uint8Array;
};

export type PolicySigner = {
  readonly key: string;
  readonly identity: Identity;
  readonly msp: Msp;
};

export type SignerRejection = { readonly index: number; readonly error: CofferError };

/**
 * Deserializes each signer with its MSP and verifies its signature over `message`. Unknown
 * MSPs, bad certificates and bad signatures are dropped (and reported); duplicates count once.
 */
export function verifiedSigners(
  msps: ReadonlyMap<string, Msp>,
  message: Uint8Array,
  signed: readonly SignedData[],
): { signers: PolicySigner[]; rejected: SignerRejection[] } {
  const signers: PolicySigner[] = [];
  const rejected: SignerRejection[] = [];
  const seen = new Set<string>();
  signed.slice(0, policySignaturesMax).forEach((item, index) => {
    const msp = msps.get(item.mspId);
    if (msp === undefined) {
      rejected.push({
        index,
        error: cofferError(
          'MSP_E_IDENTITY_WRONG_MSP',
          `no MSP with ID ${item.mspId} in the consortium`,
          {
            mspId: item.mspId,
          },
        ),
      });
      return;
    }
    const identity = msp.deserializeIdentity(item.mspId, item.certPem);
    if (!identity.ok) {
      rejected.push({ index, error: identity.error });
      return;
    }
    const check = msp.verify(identity.identity, message, item.signature);
    if (!check.ok) {
      rejected.push({ index, error: check.error });
      return;
    }
    const key = `${item.mspId}\u0000${identity.identity.id}`;
    if (seen.has(key)) return;
    seen.add(key);
    signers.push({ key, identity: identity.identity, msp });
  });
  return { signers, rejected };
}

/** True when the verified signers satisfy the policy (Fabric cauthdsl semantics). */
export function policySatisfied(
  policy: SignaturePolicy,
  signers: readonly PolicySigner[],
): boolean {
  return evaluatePolicy(
    policy,
    signers,
    (signer, principal) => signer.msp.satisfiesPrincipal(signer.identity, principal).satisfied,
  );
}

// Endpoint auth policies (decision 0014): any consortium identity, an MSP role, or a Fabric
// signature policy over the request's signers: the caller and the identities that endorsed the
// request (envelope endorsements). Each was validated by its MSP at this ledger position; its
// NodeOU role and admin flag are what Fabric's ROLE principals test, and each signer counts once.
import { cofferError } from '../../errors/index.js';
import { evaluatePolicy, type SignaturePolicy } from '../../msp/index.js';
import type { Caller } from '../types.js';
import type { CompiledEndpoint } from './manifest.js';

type RoleName = 'MEMBER' | 'ADMIN' | 'CLIENT' | 'PEER' | 'ORDERER';

/**
 * Whether the caller satisfies a ROLE principal, as msp.satisfiesPrincipal decides it: MEMBER is
 * any valid identity of the MSP, ADMIN the admin check, CLIENT/PEER/ORDERER the NodeOU role
 * (null without NodeOUs, which Fabric also refuses).
 */
function satisfiesRole(caller: Caller, mspId: string, role: RoleName | number): boolean {
  if (caller.mspId !== mspId) return false;
  switch (role) {
    case 'MEMBER':
      return true;
    case 'ADMIN':
      return caller.isAdmin;
    case 'CLIENT':
      return caller.role === 'client';
    case 'PEER':
      return caller.role === 'peer';
    case 'ORDERER':
      return caller.role === 'orderer';
    default:
      return false;
  }
}

export function policyAllows(
  policy: SignaturePolicy,
  caller: Caller,
  endorsers: readonly Caller[] = [],
): boolean {
  const signers = [caller, ...endorsers].map((signer) => ({
    key: `${signer.mspId}:${signer.identityId}`,
    signer,
  }));
  return evaluatePolicy(policy, signers, (item, p) =>
    p.type === 'ROLE' ? satisfiesRole(item.signer, p.mspId, p.role) : false,
  );
}

/** Throws APP_E_FORBIDDEN unless the caller may call the endpoint (trigger: the feed, if any). */
export function authorize(
  app: string,
  endpoint: CompiledEndpoint,
  caller: Caller | undefined,
  trigger: string | undefined,
  endorsers: readonly Caller[] = [],
): void {
  const { auth } = endpoint;
  const where = `${app}/${endpoint.name}`;
  if (auth.kind === 'oracle') {
    if (trigger !== auth.feed) {
      throw cofferError(
        'APP_E_FORBIDDEN',
        `${where} runs only when oracle feed ${auth.feed} publishes a point`,
      );
    }
    return;
  }
  if (trigger !== undefined) {
    throw cofferError('APP_E_FORBIDDEN', `${where} is not triggered by oracle feeds`);
  }
  if (auth.kind === 'any') return;
  const rule = auth.kind === 'role' ? auth.role : auth.policy;
  if (caller === undefined) {
    throw cofferError('APP_E_FORBIDDEN', `${where} requires ${rule}; the call has no MSP identity`);
  }
  if (
    endpoint.signaturePolicy === undefined ||
    !policyAllows(endpoint.signaturePolicy, caller, endorsers)
  ) {
    const who = [caller, ...endorsers]
      .map(
        (signer) =>
          `${signer.mspId} ${signer.identityId.slice(0, 16)}… (role ${String(signer.role)}${signer.isAdmin ? ', admin' : ''})`,
      )
      .join(' + ');
    throw cofferError('APP_E_FORBIDDEN', `${where} requires ${rule}; ${who} do not satisfy it`);
  }
}

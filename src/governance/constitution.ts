// The constitution: CCF's three steps (STYLE.md 4). `validate` is pure and refuses a proposal
// before it is stored; `resolve` only moves a proposal from Open to Accepted or Rejected;
// `apply` (actions.ts) runs every check before any write. Three kinds: the default majority of
// member organisations, a Fabric signature policy over the members' admins, and a JavaScript
// module run in the contracts sandbox (decision 0017).
import { cofferError, isCofferError } from '../errors/index.js';
import { evaluatePolicy, parsePolicy, type Principal, type SignaturePolicy } from '../msp/index.js';
import { objectAt, onlyKeys, type BadField } from './check.js';
import type { GovConfig } from './config.js';
import { checkJsConstitution, jsResolve, jsValidate } from './js-constitution.js';
import { constitutionPolicyBytesMax, constitutionSourceBytesMax } from './limits.js';
import type { Proposal, Resolution } from './types.js';

export type ConstitutionSpec =
  | { readonly kind: 'majority' }
  | { readonly kind: 'policy'; readonly policy: string }
  | { readonly kind: 'js'; readonly source: string };

export type Constitution = {
  /** Refuses a proposal (GOV_E_CONSTITUTION_REFUSED) beyond the built-in action checks. */
  readonly validate: (proposal: Proposal, config: GovConfig) => void;
  /** Open, Accepted or Rejected from the ballots of the current members. */
  readonly resolve: (proposal: Proposal, config: GovConfig) => Resolution;
};

// --- Fabric implicit meta rules over the members' admins ---------------------------------------

/** Fabric's ImplicitMetaPolicy text over the Admins sub-policy: `MAJORITY Admins`, ... */
const implicitMeta = /^(ANY|ALL|MAJORITY) Admins$/;

type Counted = { yes: string[]; pending: string[]; members: number };

/** Ballots of current members only: an organisation removed since its vote no longer counts. */
function count(proposal: Proposal, config: GovConfig): Counted {
  const yes: string[] = [];
  const pending: string[] = [];
  for (const mspId of config.members) {
    const ballot = proposal.ballots[mspId];
    if (ballot === undefined) pending.push(mspId);
    else if (ballot.ballot === 'yes') yes.push(mspId);
  }
  return { yes, pending, members: config.members.length };
}

function threshold(rule: 'ANY' | 'ALL' | 'MAJORITY', members: number): number {
  if (rule === 'ANY') return 1;
  if (rule === 'ALL') return members;
  return Math.floor(members / 2) + 1;
}

/** Accepted at `needed` yes ballots; Rejected once yes plus not yet voted cannot reach it. */
function resolveCount(counted: Counted, needed: number): Resolution {
  if (counted.yes.length >= needed) return 'Accepted';
  if (counted.yes.length + counted.pending.length < needed) return 'Rejected';
  return 'Open';
}

// --- signature policy over the yes-voters -------------------------------------------------------

type Voter = { readonly key: string; readonly mspId: string };

/** A voter is an admin of its organisation: it satisfies that MSP's admin and member roles. */
function voterSatisfies(voter: Voter, principal: Principal): boolean {
  return (
    principal.type === 'ROLE' &&
    principal.mspId === voter.mspId &&
    (principal.role === 'ADMIN' || principal.role === 'MEMBER')
  );
}

function policyOf(text: string, field: string, bad: BadField): SignaturePolicy {
  let policy: SignaturePolicy;
  try {
    policy = parsePolicy(text);
  } catch (error) {
    if (!isCofferError(error)) throw error;
    return bad(field, `is not a Fabric signature policy: ${error.message}`);
  }
  policy.identities.forEach((principal, index) => {
    if (principal.type !== 'ROLE' || (principal.role !== 'ADMIN' && principal.role !== 'MEMBER'))
      bad(
        field,
        `names principal ${index + 1}, which is not '<MSP>.admin' or '<MSP>.member'; ballots are cast by organisations' admins`,
      );
  });
  return policy;
}

function resolvePolicy(policy: SignaturePolicy, counted: Counted): Resolution {
  const voters = (list: readonly string[]): Voter[] => list.map((mspId) => ({ key: mspId, mspId }));
  if (evaluatePolicy(policy, voters(counted.yes), voterSatisfies)) return 'Accepted';
  // Could the organisations that have not voted still make it? If not, it is decided.
  const possible = evaluatePolicy(
    policy,
    voters([...counted.yes, ...counted.pending]),
    voterSatisfies,
  );
  return possible ? 'Open' : 'Rejected';
}

// --- spec checks and the constitution in force ---------------------------------------------------

/** Checks a constitution as configuration (genesis, set_constitution); returns it normalised. */
export function checkConstitutionSpec(
  value: unknown,
  field: string,
  bad: BadField,
): ConstitutionSpec {
  const json = objectAt(value, field, bad);
  switch (json['kind']) {
    case 'majority':
      onlyKeys(json, ['kind'], field, bad);
      return { kind: 'majority' };
    case 'policy': {
      onlyKeys(json, ['kind', 'policy'], field, bad);
      const policy = json['policy'];
      if (typeof policy !== 'string' || policy.length === 0)
        bad(`${field}.policy`, 'must be a policy text');
      if (Buffer.byteLength(policy) > constitutionPolicyBytesMax)
        bad(
          `${field}.policy`,
          `is longer than constitutionPolicyBytesMax (${constitutionPolicyBytesMax})`,
        );
      if (!implicitMeta.test(policy)) policyOf(policy, `${field}.policy`, bad);
      return { kind: 'policy', policy };
    }
    case 'js': {
      onlyKeys(json, ['kind', 'source'], field, bad);
      const source = json['source'];
      if (typeof source !== 'string' || source.length === 0)
        bad(`${field}.source`, 'must be JavaScript source (a CommonJS module)');
      if (Buffer.byteLength(source) > constitutionSourceBytesMax)
        bad(
          `${field}.source`,
          `is longer than constitutionSourceBytesMax (${constitutionSourceBytesMax})`,
        );
      checkJsConstitution(source, `${field}.source`, bad);
      return { kind: 'js', source };
    }
    default:
      return bad(`${field}.kind`, "must be 'majority', 'policy' or 'js'");
  }
}

function stored(field: string, what: string): never {
  // The stored constitution was checked when it was set: this is a broken invariant.
  throw cofferError('GOV_E_CONSTITUTION_FAILED', `stored constitution ${field} ${what}`, { field });
}

/** The constitution in force for a configuration. */
export function constitutionOf(config: GovConfig): Constitution {
  const spec = config.constitution;
  switch (spec.kind) {
    case 'majority':
      return {
        validate: () => undefined,
        resolve: (proposal, current) => {
          const counted = count(proposal, current);
          return resolveCount(counted, threshold('MAJORITY', counted.members));
        },
      };
    case 'policy': {
      const meta = implicitMeta.exec(spec.policy);
      if (meta !== null) {
        const rule = meta[1] as 'ANY' | 'ALL' | 'MAJORITY';
        return {
          validate: () => undefined,
          resolve: (proposal, current) => {
            const counted = count(proposal, current);
            return resolveCount(counted, threshold(rule, counted.members));
          },
        };
      }
      const policy = policyOf(spec.policy, 'policy', stored);
      return {
        validate: () => undefined,
        resolve: (proposal, current) => resolvePolicy(policy, count(proposal, current)),
      };
    }
    case 'js':
      return {
        validate: (proposal, current) => {
          try {
            jsValidate(spec.source, proposal, current);
          } catch (error) {
            if (!isRecovery(proposal, error)) throw error;
          }
        },
        resolve: (proposal, current) => {
          try {
            return jsResolve(spec.source, proposal, current);
          } catch (error) {
            if (!isRecovery(proposal, error)) throw error;
            const counted = count(proposal, current);
            return resolveCount(counted, threshold('MAJORITY', counted.members));
          }
        },
      };
  }
}

/**
 * The way out of a broken JavaScript constitution: when it fails (throws, loops, answers
 * nonsense: GOV_E_CONSTITUTION_FAILED, the same on every node) on a proposal that only sets a
 * new constitution, that proposal is judged by the default majority of member organisations
 * instead. Without it a constitution that always fails would freeze governance for good. A
 * constitution that refuses or rejects such a proposal on purpose is obeyed.
 */
function isRecovery(proposal: Proposal, error: unknown): boolean {
  return (
    isCofferError(error, 'GOV_E_CONSTITUTION_FAILED') &&
    proposal.actions.length > 0 &&
    proposal.actions.every((action) => action.name === 'set_constitution')
  );
}

// The `gov` app: proposals and ballots as signed ledger transactions. Every action reads the
// configuration from the store, runs validate / resolve / apply (constitution.ts, actions.ts)
// and writes only `public:gov.*` maps; the node recomputes the MSPs in force from the
// configuration after a batch that changed it, so changes take effect from the next batch.
import {
  governanceTrigger,
  type ActionContext,
  type App,
  type Caller,
  type KvView,
  type KvWriter,
  type QueryContext,
} from '../contracts/index.js';
import { cofferError, isCofferError } from '../errors/index.js';
import { canonicalString } from '../ledger/canonical.js';
import { applyActions, parseActions, type Applied } from './actions.js';
import {
  badFieldOf,
  byString,
  integerAt,
  objectAt,
  onlyKeys,
  proposalIdPattern,
  stringAt,
  type BadField,
} from './check.js';
import {
  configWrites,
  govAppsMap,
  govConfigMap,
  govProposalIndexMap,
  govProposalsMap,
  readGovConfig,
  type GovConfig,
} from './config.js';
import { constitutionOf } from './constitution.js';
import { listJoins, requestJoin } from './joins.js';
import { openProposalsMax, proposalTtlMsMax, recentProposalsMax } from './limits.js';
import { proposalStates, type Proposal, type ProposalState, type Resolution } from './types.js';

const badArgs: BadField = badFieldOf('GOV_E_INVALID_ARGS');

/** Proposals a `proposals` query returns when it names no limit. */
export const proposalsQueryDefault = 50;

// --- store helpers ------------------------------------------------------------------------------

function configOf(kv: KvView): GovConfig {
  const config = readGovConfig(kv.get);
  if (config === undefined) {
    throw cofferError(
      'GOV_E_NO_CONFIG',
      `${govConfigMap} holds no configuration: this ledger has no governance genesis`,
    );
  }
  return config;
}

export function readProposal(kv: KvView, id: string): Proposal | undefined {
  const text = kv.get(govProposalsMap, id);
  return text === undefined ? undefined : (JSON.parse(text) as Proposal);
}

function writeProposal(kv: KvWriter, proposal: Proposal): void {
  kv.put(govProposalsMap, proposal.id, canonicalString(proposal));
}

function readIndex(kv: KvView, key: 'open' | 'recent'): string[] {
  const text = kv.get(govProposalIndexMap, key);
  return text === undefined ? [] : (JSON.parse(text) as string[]);
}

function writeIndex(kv: KvWriter, key: 'open' | 'recent', ids: readonly string[]): void {
  kv.put(govProposalIndexMap, key, canonicalString(ids));
}

function close(proposal: Proposal, state: ProposalState, time: number): Proposal {
  return { ...proposal, state, closedAt: time };
}

/** Marks open proposals past their expiry 'Expired' (bounded by openProposalsMax). */
function sweepExpired(kv: KvWriter, time: number): void {
  const open = readIndex(kv, 'open');
  const still: string[] = [];
  for (const id of open) {
    const proposal = readProposal(kv, id);
    if (proposal === undefined || proposal.state !== 'Open') continue;
    if (time >= proposal.expiresAt) writeProposal(kv, close(proposal, 'Expired', time));
    else still.push(id);
  }
  if (still.length !== open.length) writeIndex(kv, 'open', still);
}

// --- who may act --------------------------------------------------------------------------------

function requireMemberAdmin(caller: Caller, config: GovConfig, what: string): void {
  if (!config.members.includes(caller.mspId)) {
    throw cofferError(
      'GOV_E_NOT_MEMBER',
      `${caller.mspId} is not a member organisation; only admins of ${config.members.join(', ')} may ${what}`,
      { mspId: caller.mspId },
    );
  }
  if (!caller.isAdmin) {
    throw cofferError(
      'GOV_E_NOT_ADMIN',
      `identity ${caller.identityId.slice(0, 16)}… of ${caller.mspId} is not an MSP admin; only admins may ${what}`,
      { mspId: caller.mspId, identityId: caller.identityId },
    );
  }
}

function openProposal(kv: KvView, id: string, time: number): Proposal {
  const proposal = readProposal(kv, id);
  if (proposal === undefined)
    throw cofferError('GOV_E_PROPOSAL_UNKNOWN', `no proposal ${id}`, { proposalId: id });
  if (proposal.state === 'Expired' || (proposal.state === 'Open' && time >= proposal.expiresAt)) {
    throw cofferError(
      'GOV_E_PROPOSAL_EXPIRED',
      `proposal ${id.slice(0, 16)}… expired at ${proposal.expiresAt} (batch time ${time})`,
      { proposalId: id, expiresAt: proposal.expiresAt },
    );
  }
  if (proposal.state !== 'Open') {
    throw cofferError(
      'GOV_E_PROPOSAL_CLOSED',
      `proposal ${id.slice(0, 16)}… is ${proposal.state}, no longer open`,
      { proposalId: id, state: proposal.state },
    );
  }
  return proposal;
}

// --- resolve and apply ----------------------------------------------------------------------------

/** Writes the keys of the configuration that changed (unchanged values are not rewritten). */
function writeConfig(kv: KvWriter, applied: Applied): void {
  for (const write of configWrites(applied.config)) {
    if (kv.get(write.map, write.key) !== write.value) kv.put(write.map, write.key, write.value);
  }
  for (const { name, request } of applied.apps) kv.put(govAppsMap, name, canonicalString(request));
}

/**
 * Resolves a proposal under the constitution in force and, when accepted, applies it: every
 * check runs (applyActions) before the first write. A proposal whose actions no longer apply
 * (the configuration moved since it was proposed) becomes 'Failed' with the reason, and the
 * transaction that decided it still commits, ballot included.
 */
function settle(context: ActionContext, config: GovConfig, proposal: Proposal): Proposal {
  const resolution = constitutionOf(config).resolve(proposal, config);
  if (resolution === 'Open') return proposal;
  if (resolution === 'Rejected') return close(proposal, 'Rejected', context.time);
  let applied: Applied;
  try {
    applied = applyActions(config, proposal.actions);
  } catch (error) {
    if (!isCofferError(error)) throw error;
    return {
      ...close(proposal, 'Failed', context.time),
      failure: { code: error.code, message: error.message },
    };
  }
  writeConfig(context.kv, applied);
  // Apps are installed and removed by the apps app, invoked with the governance trigger (it
  // refuses direct installs once the consortium governs). A bundle it refuses makes this
  // whole transaction invalid: nothing of the decision is kept, the proposal stays open.
  for (const { name, request } of applied.apps) {
    if (context.invoke === undefined) throw new Error('governance: apps cannot be invoked here');
    if ('removed' in request) context.invoke('apps', 'remove', { name }, governanceTrigger);
    else context.invoke('apps', 'install', { bundle: request.bundle }, governanceTrigger);
  }
  // Likewise other apps' governed actions (a custody policy): refused, nothing is kept.
  for (const call of applied.calls) {
    if (context.invoke === undefined) throw new Error('governance: apps cannot be invoked here');
    context.invoke(call.app, call.action, call.args, governanceTrigger);
  }
  if (applied.constitutionChanged) {
    // A new constitution drops every other open proposal (they were judged by the old one).
    for (const id of readIndex(context.kv, 'open')) {
      if (id === proposal.id) continue;
      const other = readProposal(context.kv, id);
      if (other?.state === 'Open') writeProposal(context.kv, close(other, 'Dropped', context.time));
    }
    writeIndex(
      context.kv,
      'open',
      readIndex(context.kv, 'open').filter((id) => id === proposal.id),
    );
  }
  return close(proposal, 'Accepted', context.time);
}

/** Stores a proposal after a change and keeps the open index in step. */
function store(kv: KvWriter, proposal: Proposal): void {
  writeProposal(kv, proposal);
  if (proposal.state !== 'Open') {
    const open = readIndex(kv, 'open');
    if (open.includes(proposal.id))
      writeIndex(
        kv,
        'open',
        open.filter((id) => id !== proposal.id),
      );
  }
}

// --- actions ----------------------------------------------------------------------------------------

function propose(context: ActionContext, args: Readonly<Record<string, unknown>>): unknown {
  onlyKeys(args, ['actions', 'expiresInMs'], 'args', badArgs);
  const config = configOf(context.kv);
  requireMemberAdmin(context.caller, config, 'propose');
  const actions = parseActions(args['actions'], 'args.actions');
  const ttl =
    args['expiresInMs'] === undefined
      ? config.settings.proposalTtlMs
      : Math.min(
          config.settings.proposalTtlMs,
          integerAt(args['expiresInMs'], 'args.expiresInMs', 1, proposalTtlMsMax, badArgs),
        );
  // validate: the actions must apply to the configuration as it is now (a dry run, nothing kept).
  applyActions(config, actions, 'args.actions');
  const proposal: Proposal = {
    id: context.txId,
    proposer: { mspId: context.caller.mspId, identityId: context.caller.identityId },
    actions,
    createdAt: context.time,
    expiresAt: context.time + ttl,
    state: 'Open',
    // Proposing is the proposer's organisation's yes (it may vote no later): a single-member
    // consortium accepts at once.
    ballots: {
      [context.caller.mspId]: {
        ballot: 'yes',
        identityId: context.caller.identityId,
        time: context.time,
        txId: context.txId,
      },
    },
  };
  constitutionOf(config).validate(proposal, config);
  sweepExpired(context.kv, context.time);
  const open = readIndex(context.kv, 'open');
  if (open.length >= openProposalsMax) {
    throw cofferError(
      'GOV_E_LIMIT',
      `${open.length} proposals are open; at most openProposalsMax (${openProposalsMax}): vote, withdraw or wait for them to expire`,
      { limit: 'openProposalsMax' },
    );
  }
  if (readProposal(context.kv, proposal.id) !== undefined)
    throw new Error(`governance invariant: proposal ${proposal.id} exists (a txId is unique)`);
  writeIndex(context.kv, 'open', [...open, proposal.id]);
  const recent = [proposal.id, ...readIndex(context.kv, 'recent')].slice(0, recentProposalsMax);
  writeIndex(context.kv, 'recent', recent);
  const settled = settle(context, config, proposal);
  store(context.kv, settled);
  return summary(settled);
}

function vote(context: ActionContext, args: Readonly<Record<string, unknown>>): unknown {
  onlyKeys(args, ['proposalId', 'ballot'], 'args', badArgs);
  const id = stringAt(args['proposalId'], 'args.proposalId', proposalIdPattern, 64, badArgs);
  const ballot = args['ballot'];
  if (ballot !== 'yes' && ballot !== 'no') badArgs('args.ballot', "must be 'yes' or 'no'");
  const config = configOf(context.kv);
  requireMemberAdmin(context.caller, config, 'vote');
  const proposal = openProposal(context.kv, id, context.time);
  sweepExpired(context.kv, context.time);
  const voted: Proposal = {
    ...proposal,
    ballots: {
      ...proposal.ballots,
      [context.caller.mspId]: {
        ballot: ballot,
        identityId: context.caller.identityId,
        time: context.time,
        txId: context.txId,
      },
    },
  };
  const settled = settle(context, config, voted);
  store(context.kv, settled);
  return summary(settled);
}

function withdraw(context: ActionContext, args: Readonly<Record<string, unknown>>): unknown {
  onlyKeys(args, ['proposalId'], 'args', badArgs);
  const id = stringAt(args['proposalId'], 'args.proposalId', proposalIdPattern, 64, badArgs);
  configOf(context.kv);
  const proposal = openProposal(context.kv, id, context.time);
  const caller = context.caller;
  if (caller.mspId !== proposal.proposer.mspId) {
    throw cofferError(
      'GOV_E_NOT_PROPOSER',
      `proposal ${id.slice(0, 16)}… was made by ${proposal.proposer.mspId}; only its admins may withdraw it`,
      { proposalId: id, proposer: proposal.proposer.mspId },
    );
  }
  if (!caller.isAdmin) {
    throw cofferError(
      'GOV_E_NOT_ADMIN',
      `identity ${caller.identityId.slice(0, 16)}… of ${caller.mspId} is not an MSP admin; only admins may withdraw`,
      { mspId: caller.mspId, identityId: caller.identityId },
    );
  }
  sweepExpired(context.kv, context.time);
  const closed = close(proposal, 'Withdrawn', context.time);
  store(context.kv, closed);
  return summary(closed);
}

// --- read-only judgements for people about to vote or propose (the console) ----------------------

/** Proposals one `verdicts` query judges at most (every open proposal fits). */
export const verdictIdsMax = openProposalsMax;
/**
 * Resolves a `verdicts` query runs at most per proposal to find how many yes ballots a signature
 * policy still needs (it tries sets of not-yet-voted members, smallest first).
 */
export const verdictResolvesMax = 1024;
/** The proposal id a `check` gives the constitution (the real one is the propose txId). */
const checkProposalId = '0'.repeat(64);

export type Verdict = {
  readonly proposalId: string;
  readonly state: ProposalState;
  /** Open proposals only: what the constitution in force answers for the ballots cast so far. */
  readonly resolution?: Resolution;
  /** Current members by their ballot (ballots of organisations no longer members: notCounted). */
  readonly yes: readonly string[];
  readonly no: readonly string[];
  readonly pending: readonly string[];
  readonly notCounted: readonly string[];
  /**
   * Open proposals whose constitution is not JavaScript: the fewest yes ballots (those cast
   * included) that make the constitution accept, if the members who have not voted can still
   * give them; absent when none can, or when the search would exceed verdictResolvesMax.
   */
  readonly yesNeeded?: number;
  /** Open, not JavaScript: members who have not voted whose yes alone makes it Accepted now. */
  readonly acceptedByYesOf?: readonly string[];
};

function withYes(proposal: Proposal, members: readonly string[]): Proposal {
  const ballots = { ...proposal.ballots };
  for (const mspId of members)
    ballots[mspId] = { ballot: 'yes', identityId: '', time: 0, txId: checkProposalId };
  return { ...proposal, ballots };
}

/** Sets of `size` members of `list` (in list order), for the smallest-first search. */
function* subsets(list: readonly string[], size: number, from = 0): Generator<string[]> {
  if (size === 0) {
    yield [];
    return;
  }
  for (let i = from; i <= list.length - size; i++) {
    for (const rest of subsets(list, size - 1, i + 1)) yield [list[i] ?? '', ...rest];
  }
}

/**
 * The verdict of the constitution in force on a proposal, by its own resolve (nothing is
 * re-implemented here): the counts come from asking it what further yes ballots would do.
 */
function verdictOf(proposal: Proposal, config: GovConfig): Verdict {
  const yes: string[] = [];
  const no: string[] = [];
  const pending: string[] = [];
  for (const mspId of config.members) {
    const ballot = proposal.ballots[mspId]?.ballot;
    if (ballot === 'yes') yes.push(mspId);
    else if (ballot === 'no') no.push(mspId);
    else pending.push(mspId);
  }
  const notCounted = Object.keys(proposal.ballots)
    .filter((mspId) => !config.members.includes(mspId))
    .sort(byString);
  const base = { proposalId: proposal.id, state: proposal.state, yes, no, pending, notCounted };
  if (proposal.state !== 'Open') return base;
  const constitution = constitutionOf(config);
  const resolution = constitution.resolve(proposal, config);
  const spec = config.constitution;
  if (spec.kind === 'js') return { ...base, resolution };
  const accepts = (members: readonly string[]): boolean =>
    constitution.resolve(withYes(proposal, members), config) === 'Accepted';
  const acceptedByYesOf = pending.filter((mspId) => accepts([mspId]));
  // Rules that count organisations treat every member alike: the first k not yet voted stand
  // for any k of them. A signature policy may name organisations: try sets, smallest first.
  const counting = spec.kind === 'majority' || /^(ANY|ALL|MAJORITY) Admins$/.test(spec.policy);
  let resolves = pending.length;
  let yesNeeded: number | undefined;
  search: for (let size = 0; size <= pending.length; size++) {
    const candidates = counting ? [pending.slice(0, size)] : subsets(pending, size);
    for (const candidate of candidates) {
      if (++resolves > verdictResolvesMax) break search;
      if (accepts(candidate)) {
        yesNeeded = yes.length + size;
        break search;
      }
    }
  }
  return {
    ...base,
    resolution,
    acceptedByYesOf,
    ...(yesNeeded === undefined ? {} : { yesNeeded }),
  };
}

/** What the `verdicts` query says of the constitution itself (a JS module by its size only). */
function constitutionSummary(config: GovConfig): Record<string, unknown> {
  const spec = config.constitution;
  if (spec.kind === 'js') return { kind: 'js', sourceBytes: Buffer.byteLength(spec.source) };
  return { ...spec };
}

/**
 * Dry run of a proposal: every check `propose` makes before it stores one (the caller is a
 * member admin, the actions' shape, applying them to the configuration in force, the
 * constitution's validate), nothing kept. Throws the error `propose` would.
 */
function checkProposal(context: QueryContext, args: Readonly<Record<string, unknown>>): unknown {
  onlyKeys(args, ['actions', 'expiresInMs'], 'args', badArgs);
  const config = configOf(context.kv);
  if (context.caller !== undefined) requireMemberAdmin(context.caller, config, 'propose');
  const actions = parseActions(args['actions'], 'args.actions');
  const ttl =
    args['expiresInMs'] === undefined
      ? config.settings.proposalTtlMs
      : Math.min(
          config.settings.proposalTtlMs,
          integerAt(args['expiresInMs'], 'args.expiresInMs', 1, proposalTtlMsMax, badArgs),
        );
  const applied = applyActions(config, actions, 'args.actions');
  const proposer = context.caller ?? { mspId: config.members[0] ?? '', identityId: '' };
  const proposal: Proposal = {
    id: checkProposalId,
    proposer: { mspId: proposer.mspId, identityId: proposer.identityId },
    actions,
    createdAt: 0,
    expiresAt: ttl,
    state: 'Open',
    ballots: {
      [proposer.mspId]: { ballot: 'yes', identityId: proposer.identityId, time: 0, txId: '' },
    },
  };
  constitutionOf(config).validate(proposal, config);
  const open = readIndex(context.kv, 'open').length;
  return {
    valid: true,
    actions: actions.length,
    expiresInMs: ttl,
    constitutionChanged: applied.constitutionChanged,
    openProposals: open,
    openProposalsMax,
    // What propose would count as the proposer's yes, judged now.
    resolution: constitutionOf(config).resolve(proposal, config),
  };
}

function summary(proposal: Proposal): Record<string, unknown> {
  return {
    proposalId: proposal.id,
    state: proposal.state,
    expiresAt: proposal.expiresAt,
    ballots: proposal.ballots,
    ...(proposal.failure === undefined ? {} : { failure: proposal.failure }),
  };
}

// --- the app ------------------------------------------------------------------------------------

const proposalIdSchema = { type: 'string', pattern: proposalIdPattern.source };

export const governanceApp: App = {
  name: 'gov',
  version: '1.0.0',
  summary:
    'Consortium governance: member admins propose configuration changes and vote; the constitution decides.',
  actions: {
    propose: {
      summary:
        "Proposes actions (admins of member organisations): validated now, counted as the proposer's organisation's yes, resolved at once.",
      args: {
        type: 'object',
        required: ['actions'],
        properties: {
          actions: {
            type: 'array',
            items: {
              type: 'object',
              required: ['name'],
              properties: { name: { type: 'string' }, args: { type: 'object' } },
            },
          },
          expiresInMs: { type: 'integer', minimum: 1 },
        },
      },
      run: propose,
    },
    vote: {
      summary: "Casts the caller's organisation's ballot (a later ballot replaces it).",
      args: {
        type: 'object',
        required: ['proposalId', 'ballot'],
        properties: { proposalId: proposalIdSchema, ballot: { enum: ['yes', 'no'] } },
      },
      run: vote,
    },
    join: {
      summary:
        'A node asks to be admitted, signed by its own peer identity: its node id, the code id it runs and its attestation (provider, evidence). Admins then propose admit_node.',
      args: {
        type: 'object',
        required: ['nodeId', 'codeId', 'provider'],
        properties: {
          nodeId: { type: 'string' },
          codeId: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          provider: { type: 'string' },
          evidence: { type: 'string', description: 'base64 attestation evidence' },
        },
      },
      run: requestJoin,
    },
    withdraw: {
      summary: "Withdraws an open proposal (admins of the proposer's organisation).",
      args: {
        type: 'object',
        required: ['proposalId'],
        properties: { proposalId: proposalIdSchema },
      },
      run: withdraw,
    },
  },
  queries: {
    proposal: {
      summary: 'One proposal, with its actions and ballots.',
      args: { type: 'object', required: ['id'], properties: { id: proposalIdSchema } },
      run: (context, args) => {
        onlyKeys(args, ['id'], 'args', badArgs);
        const id = stringAt(args['id'], 'args.id', proposalIdPattern, 64, badArgs);
        const proposal = readProposal(context.kv, id);
        if (proposal === undefined)
          throw cofferError('GOV_E_PROPOSAL_UNKNOWN', `no proposal ${id}`, { proposalId: id });
        return proposal;
      },
    },
    proposals: {
      summary: `The most recent proposals, newest first (at most ${recentProposalsMax}), optionally of one state.`,
      args: {
        type: 'object',
        properties: {
          state: { enum: proposalStates },
          limit: { type: 'integer', minimum: 1, maximum: recentProposalsMax },
        },
      },
      run: (context, args) => {
        onlyKeys(args, ['state', 'limit'], 'args', badArgs);
        const state = args['state'];
        if (state !== undefined && !proposalStates.includes(state as ProposalState))
          badArgs('args.state', `must be one of ${proposalStates.join(', ')}`);
        const limit =
          args['limit'] === undefined
            ? proposalsQueryDefault
            : integerAt(args['limit'], 'args.limit', 1, recentProposalsMax, badArgs);
        const proposals: Proposal[] = [];
        for (const id of readIndex(context.kv, 'recent')) {
          if (proposals.length >= limit) break;
          const proposal = readProposal(context.kv, id);
          if (proposal !== undefined && (state === undefined || proposal.state === state))
            proposals.push(proposal);
        }
        return { proposals };
      },
    },
    joins: {
      summary: 'Join requests nodes sent, each with whether it is admitted and its code allowed.',
      args: { type: 'object', properties: {} },
      run: (context, args) => listJoins(context.kv, args),
    },
    verdicts: {
      summary: `The constitution's verdict now on proposals (default: every open one; at most ${verdictIdsMax}): each member's ballot, the resolution, and how many yes ballots it needs.`,
      args: {
        type: 'object',
        properties: {
          ids: { type: 'array', items: proposalIdSchema, maxItems: verdictIdsMax },
        },
      },
      run: (context, args) => {
        onlyKeys(args, ['ids'], 'args', badArgs);
        const config = configOf(context.kv);
        const idsValue = args['ids'];
        let ids: string[];
        if (idsValue === undefined) ids = readIndex(context.kv, 'open');
        else {
          if (!Array.isArray(idsValue) || idsValue.length > verdictIdsMax)
            badArgs('args.ids', `must be a list of at most ${verdictIdsMax} proposal ids`);
          ids = (idsValue as unknown[]).map((id, index) =>
            stringAt(id, `args.ids[${index}]`, proposalIdPattern, 64, badArgs),
          );
        }
        const verdicts = ids.flatMap((id) => {
          const proposal = readProposal(context.kv, id);
          return proposal === undefined ? [] : [verdictOf(proposal, config)];
        });
        return { constitution: constitutionSummary(config), members: config.members, verdicts };
      },
    },
    check: {
      summary:
        "A dry run of propose: the caller's right, the actions checked and applied to the configuration in force, the constitution's validate; nothing is kept. Answers what propose would refuse with.",
      args: {
        type: 'object',
        required: ['actions'],
        properties: {
          actions: { type: 'array', items: { type: 'object' } },
          expiresInMs: { type: 'integer', minimum: 1 },
        },
      },
      run: checkProposal,
    },
    config: {
      summary: 'The consortium configuration in force.',
      args: { type: 'object', properties: {} },
      run: (context, args) => {
        onlyKeys(objectAt(args, 'args', badArgs), [], 'args', badArgs);
        return configOf(context.kv);
      },
    },
  },
};

// Public surface of the governance domain: the consortium configuration (genesis, the MSPs in
// force), proposals and ballots, the constitution, and the `gov` app (decision 0017).
export type {
  ConfigWrite,
  ConsortiumOptions,
  GovConfig,
  GovConfigKey,
  NodeRecord,
  NodeStatus,
  Settings,
} from './config.js';
export {
  checkGenesis,
  configWrites,
  consortiumOf,
  defaultSettings,
  govAppsMap,
  govConfigKeys,
  govConfigMap,
  govProposalIndexMap,
  govProposalsMap,
  mergeMspDefinitions,
  mspDefinitionJson,
  readGovConfig,
} from './config.js';
export type { Constitution, ConstitutionSpec } from './constitution.js';
export { checkConstitutionSpec, constitutionOf } from './constitution.js';
export type { ActionName, AppCall, Applied, AppRequest } from './actions.js';
export { actionNames, applyActions, parseActions } from './actions.js';
export type {
  Ballot,
  BallotRecord,
  GovAction,
  Proposal,
  ProposalState,
  Resolution,
} from './types.js';
export { proposalStates } from './types.js';
export { governanceApp, proposalsQueryDefault, readProposal } from './app.js';
export * as governanceLimits from './limits.js';
export type { JoinRequest } from './joins.js';
export { govJoinsMap } from './joins.js';
export { nodeUrlPattern } from './check.js';

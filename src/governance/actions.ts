// Governance actions: parsed and checked (validate), then applied to a configuration (apply).
// `applyActions` is pure: it applies the actions in order to a copy and checks the whole
// result before returning it, so a caller writes everything or nothing. Each action has "set"
// semantics (adding what is there, removing what is not, is a no-op): applying a list again
// gives the same configuration, or is refused as a whole, never a different one.
import { compileBundle } from '../contracts/index.js';
import { cofferError, isCofferError } from '../errors/index.js';
import {
  badFieldOf,
  byString,
  canonicalJsonBytes,
  codeIdPattern,
  idPattern,
  integerAt,
  nodeUrlPattern,
  objectAt,
  onlyKeys,
  stringAt,
  type BadField,
  type Json,
} from './check.js';
import {
  checkConfigInvariants,
  checkCustody,
  checkMspDefinition,
  checkSettings,
  type GovConfig,
  type NodeRecord,
} from './config.js';
import { checkConstitutionSpec } from './constitution.js';
import { idCharsMax, nodeUrlCharsMax, proposalActionsMax, proposalBytesMax } from './limits.js';
import type { GovAction } from './types.js';

/** Largest EVM chain id a network may take (EIP-2294's bound). */
const evmChainIdMax = 4_294_967_295;

export const actionNames = [
  'set_msp',
  'remove_msp',
  'add_member',
  'remove_member',
  'admit_node',
  'retire_node',
  'allow_code',
  'disallow_code',
  'set_settings',
  'set_constitution',
  'set_custody',
  'custody_policy',
  'set_evm',
  'install_app',
  'remove_app',
] as const;
export type ActionName = (typeof actionNames)[number];

/** Sandboxed app names (contracts' appNamePattern). */
const appNamePattern = /^[a-z][a-z0-9-]{1,31}$/;

/** What an app install/remove asks of the sandbox (stored under govAppsMap). */
export type AppRequest =
  | { readonly bundle: Readonly<Record<string, unknown>>; readonly version: string }
  | { readonly removed: true };

export type Applied = {
  readonly config: GovConfig;
  /** App name → request, for govAppsMap, in the order the actions named them. */
  readonly apps: readonly { readonly name: string; readonly request: AppRequest }[];
  /** Other apps' actions to run with the governance trigger, in order (custody policies). */
  readonly calls: readonly AppCall[];
  readonly constitutionChanged: boolean;
};

/** An action of another app that an accepted proposal runs with the governance trigger. */
export type AppCall = {
  readonly app: string;
  readonly action: string;
  readonly args: Readonly<Record<string, unknown>>;
};

const bad: BadField = badFieldOf('GOV_E_ACTION_INVALID');

function refuse(
  code:
    | 'GOV_E_UNKNOWN_MSP'
    | 'GOV_E_UNKNOWN_NODE'
    | 'GOV_E_MSP_IN_USE'
    | 'GOV_E_LAST_MEMBER'
    | 'GOV_E_CODE_NOT_ALLOWED'
    | 'GOV_E_NODE_EXISTS',
  field: string,
  message: string,
): never {
  throw cofferError(code, `${field}: ${message}`, { field });
}

/**
 * Checks the shape of a proposal's action list (no configuration needed): names, argument
 * fields, sizes. Returns the actions as plain data.
 */
export function parseActions(value: unknown, field = 'actions'): GovAction[] {
  if (!Array.isArray(value) || value.length === 0)
    bad(field, 'must be a non-empty list of actions');
  const list = value as unknown[];
  if (list.length > proposalActionsMax)
    throw cofferError(
      'GOV_E_LIMIT',
      `${field} has ${list.length} actions; at most proposalActionsMax (${proposalActionsMax})`,
      { field, limit: 'proposalActionsMax' },
    );
  const bytes = canonicalJsonBytes(list);
  if (bytes > proposalBytesMax)
    throw cofferError(
      'GOV_E_LIMIT',
      `${field} is ${bytes} bytes of JSON; at most proposalBytesMax (${proposalBytesMax})`,
      { field, limit: 'proposalBytesMax' },
    );
  return list.map((item, index) => {
    const at = `${field}[${index}]`;
    const json = objectAt(item, at, bad);
    onlyKeys(json, ['name', 'args'], at, bad);
    const name = json['name'];
    if (typeof name !== 'string' || !(actionNames as readonly string[]).includes(name))
      bad(`${at}.name`, `must be one of ${actionNames.join(', ')}`);
    const args = objectAt(json['args'] ?? {}, `${at}.args`, bad);
    return { name, args };
  });
}

type Draft = {
  msps: Record<string, unknown>;
  members: string[];
  nodes: Record<string, NodeRecord>;
  codes: string[];
  settings: GovConfig['settings'];
  constitution: GovConfig['constitution'];
  custody: Readonly<Record<string, unknown>>;
};

function mspIdArg(args: Json, at: string): string {
  return stringAt(args['mspId'], `${at}.args.mspId`, idPattern, idCharsMax, bad);
}

function applyOne(
  draft: Draft,
  action: GovAction,
  at: string,
  apps: { name: string; request: AppRequest }[],
  calls: AppCall[],
): boolean {
  const args = action.args;
  const only = (keys: readonly string[]): void => {
    onlyKeys(args, keys, `${at}.args`, bad);
  };
  switch (action.name as ActionName) {
    case 'set_msp': {
      only(['mspId', 'definition']);
      const mspId = mspIdArg(args, at);
      const { definition, json } = checkMspDefinition(
        args['definition'],
        `${at}.args.definition`,
        bad,
      );
      if (definition.mspId !== mspId)
        bad(`${at}.args.definition.mspId`, `is ${definition.mspId}; it must be ${mspId}`);
      draft.msps[mspId] = json;
      return false;
    }
    case 'remove_msp': {
      only(['mspId']);
      const mspId = mspIdArg(args, at);
      if (draft.members.includes(mspId))
        refuse('GOV_E_MSP_IN_USE', `${at}.args.mspId`, `${mspId} is a member; remove_member first`);
      const nodes = Object.values(draft.nodes)
        .filter((node) => node.mspId === mspId && node.status === 'admitted')
        .map((node) => node.nodeId);
      if (nodes.length > 0)
        refuse(
          'GOV_E_MSP_IN_USE',
          `${at}.args.mspId`,
          `${mspId} has admitted nodes (${nodes.join(', ')}); retire_node them first`,
        );
      draft.msps = Object.fromEntries(Object.entries(draft.msps).filter(([id]) => id !== mspId));
      return false;
    }
    case 'add_member': {
      only(['mspId']);
      const mspId = mspIdArg(args, at);
      if (!Object.hasOwn(draft.msps, mspId))
        refuse(
          'GOV_E_UNKNOWN_MSP',
          `${at}.args.mspId`,
          `${mspId} has no MSP definition; set_msp it first`,
        );
      if (!draft.members.includes(mspId)) draft.members = [...draft.members, mspId].sort(byString);
      return false;
    }
    case 'remove_member': {
      only(['mspId']);
      const mspId = mspIdArg(args, at);
      if (!draft.members.includes(mspId)) return false;
      if (draft.members.length === 1)
        refuse(
          'GOV_E_LAST_MEMBER',
          `${at}.args.mspId`,
          `${mspId} is the last member; the consortium needs one`,
        );
      draft.members = draft.members.filter((member) => member !== mspId);
      return false;
    }
    case 'admit_node': {
      only(['nodeId', 'mspId', 'codeId', 'url']);
      const nodeId = stringAt(args['nodeId'], `${at}.args.nodeId`, idPattern, idCharsMax, bad);
      const mspId = mspIdArg(args, at);
      const codeId = stringAt(args['codeId'], `${at}.args.codeId`, codeIdPattern, 64, bad);
      const url =
        args['url'] === undefined
          ? undefined
          : stringAt(args['url'], `${at}.args.url`, nodeUrlPattern, nodeUrlCharsMax, bad);
      if (!Object.hasOwn(draft.msps, mspId))
        refuse(
          'GOV_E_UNKNOWN_MSP',
          `${at}.args.mspId`,
          `${mspId} has no MSP definition; set_msp it first`,
        );
      if (!draft.codes.includes(codeId))
        refuse(
          'GOV_E_CODE_NOT_ALLOWED',
          `${at}.args.codeId`,
          `code id ${codeId} is not allowed; allow_code it first`,
        );
      const existing = draft.nodes[nodeId];
      if (existing !== undefined && existing.mspId !== mspId)
        refuse(
          'GOV_E_NODE_EXISTS',
          `${at}.args.nodeId`,
          `node ${nodeId} belongs to ${existing.mspId}, not ${mspId}`,
        );
      // Without a url the node keeps the one it had (peers may also know it by their config).
      const kept = url ?? existing?.url;
      draft.nodes = {
        ...draft.nodes,
        [nodeId]: {
          nodeId,
          mspId,
          codeId,
          status: 'admitted',
          ...(kept === undefined ? {} : { url: kept }),
        },
      };
      return false;
    }
    case 'retire_node': {
      only(['nodeId']);
      const nodeId = stringAt(args['nodeId'], `${at}.args.nodeId`, idPattern, idCharsMax, bad);
      const existing = draft.nodes[nodeId];
      if (existing === undefined)
        refuse('GOV_E_UNKNOWN_NODE', `${at}.args.nodeId`, `no node ${nodeId} was ever admitted`);
      draft.nodes = { ...draft.nodes, [nodeId]: { ...existing, status: 'retired' } };
      return false;
    }
    case 'allow_code': {
      only(['codeId']);
      const codeId = stringAt(args['codeId'], `${at}.args.codeId`, codeIdPattern, 64, bad);
      if (!draft.codes.includes(codeId)) draft.codes = [...draft.codes, codeId].sort(byString);
      return false;
    }
    case 'disallow_code': {
      only(['codeId']);
      const codeId = stringAt(args['codeId'], `${at}.args.codeId`, codeIdPattern, 64, bad);
      draft.codes = draft.codes.filter((code) => code !== codeId);
      return false;
    }
    case 'set_settings':
      draft.settings = checkSettings(args, `${at}.args`, bad, draft.settings);
      return false;
    case 'set_constitution':
      only(['constitution']);
      draft.constitution = checkConstitutionSpec(
        args['constitution'],
        `${at}.args.constitution`,
        bad,
      );
      return true;
    case 'set_custody':
      only(['custody']);
      draft.custody = checkCustody(args['custody'], `${at}.args.custody`, bad);
      return false;
    case 'custody_policy': {
      // A wallet's policy changed by the consortium instead of its admins' quorum: the custody
      // app checks the change itself when the proposal is accepted (apply_policy).
      only(['walletId', 'change']);
      const walletId = stringAt(args['walletId'], `${at}.args.walletId`, codeIdPattern, 64, bad);
      const change = objectAt(args['change'], `${at}.args.change`, bad);
      calls.push({ app: 'custody', action: 'apply_policy', args: { walletId, change } });
      return false;
    }
    case 'set_evm': {
      // The EVM's chain id (wallets sign for it; EIP-155): applied by the evm app itself.
      only(['chainId']);
      const chainId = integerAt(args['chainId'], `${at}.args.chainId`, 1, evmChainIdMax, bad);
      calls.push({ app: 'evm', action: 'set_params', args: { chainId } });
      return false;
    }
    case 'install_app': {
      only(['bundle']);
      const bundle = objectAt(args['bundle'], `${at}.args.bundle`, bad);
      let name: string;
      let version: string;
      try {
        const compiled = compileBundle(bundle);
        name = compiled.bundle.manifest.name;
        version = compiled.bundle.manifest.version;
      } catch (error) {
        if (!isCofferError(error)) throw error;
        return bad(`${at}.args.bundle`, `is not an app bundle: ${error.message}`);
      }
      apps.push({ name, request: { bundle, version } });
      return false;
    }
    case 'remove_app': {
      only(['name']);
      const name = stringAt(args['name'], `${at}.args.name`, appNamePattern, 32, bad);
      apps.push({ name, request: { removed: true } });
      return false;
    }
  }
}

/**
 * Applies actions, in order, to a copy of `config`, then checks the whole result: every
 * check runs before anything is returned, so nothing is half-applied. Throws the GOV_E error
 * of the first failing check, naming the action (`actions[2].args.mspId`).
 */
export function applyActions(
  config: GovConfig,
  actions: readonly GovAction[],
  field = 'actions',
): Applied {
  const draft: Draft = {
    msps: { ...config.msps },
    members: [...config.members],
    nodes: { ...config.nodes },
    codes: [...config.codes],
    settings: config.settings,
    constitution: config.constitution,
    custody: config.custody,
  };
  const apps: { name: string; request: AppRequest }[] = [];
  const calls: AppCall[] = [];
  let constitutionChanged = false;
  actions.forEach((action, index) => {
    if (applyOne(draft, action, `${field}[${index}]`, apps, calls)) constitutionChanged = true;
  });
  const msps: Record<string, unknown> = {};
  for (const mspId of Object.keys(draft.msps).sort(byString)) msps[mspId] = draft.msps[mspId];
  const nodes: Record<string, NodeRecord> = {};
  for (const nodeId of Object.keys(draft.nodes).sort(byString)) {
    const node = draft.nodes[nodeId];
    if (node !== undefined) nodes[nodeId] = node;
  }
  const next: GovConfig = { ...draft, msps, nodes };
  checkConfigInvariants(next, badFieldOf('GOV_E_CONFIG_INVALID'));
  return { config: next, apps, calls, constitutionChanged };
}

// The consortium configuration: what it is, where it lives in the KV store, how genesis is
// checked and how it becomes the set of MSPs every node checks identities against. Pure: no
// clock, files or network; the node reads the store and feeds the result to execution.
import { requestBytesMax as ledgerRequestBytesMax } from '../ledger/tx.js';
import { checkCustodyParams } from '../custody/index.js';
import { cofferError, isCofferError } from '../errors/index.js';
import { canonicalString } from '../ledger/canonical.js';
import {
  defaultMspVersion,
  parseMspDefinition,
  setupMsp,
  type Msp,
  type MspDefinition,
  type MspVersion,
  type OuIdentifier,
} from '../msp/index.js';
import {
  badFieldOf,
  byString,
  canonicalJsonBytes,
  codeIdPattern,
  nodeUrlPattern,
  idPattern,
  integerAt,
  objectAt,
  onlyKeys,
  stringAt,
  type BadField,
  type Json,
} from './check.js';
import { checkConstitutionSpec, type ConstitutionSpec } from './constitution.js';
import {
  codesMax,
  configValueBytesMax,
  custodyBytesMax,
  idCharsMax,
  membersMax,
  mspDefinitionBytesMax,
  mspsMax,
  nodesMax,
  nodeUrlCharsMax,
  proposalTtlMsMax,
  requestBytesMaxMin,
  proposalTtlMsMin,
  signatureIntervalMsMax,
  signatureIntervalTxMax,
  snapshotIntervalTxMax,
} from './limits.js';

// --- where it lives ---------------------------------------------------------------------------

/** The configuration, one JSON value per key (public: in clear in the ledger, same on every node). */
export const govConfigMap = 'public:gov.config';
/** Proposals by id (the txId of the propose transaction). */
export const govProposalsMap = 'public:gov.proposals';
/** Indexes of proposals (keys `open` and `recent`: JSON lists of ids). */
export const govProposalIndexMap = 'public:gov.proposal-index';
/** App install/remove requests accepted by the consortium: app name → {bundle, version} | {removed: true}. */
export const govAppsMap = 'public:gov.apps';

export const govConfigKeys = [
  'msps',
  'members',
  'nodes',
  'codes',
  'settings',
  'constitution',
  'custody',
] as const;
export type GovConfigKey = (typeof govConfigKeys)[number];

// --- what it is -------------------------------------------------------------------------------

export type NodeStatus = 'admitted' | 'retired';

export type NodeRecord = {
  readonly nodeId: string;
  readonly mspId: string;
  /** Hex SHA-256 of the code the node runs (its attested code id). */
  readonly codeId: string;
  readonly status: NodeStatus;
  /** Where its peers reach the node's API (https://host:port); unset: peers know it by config. */
  readonly url?: string;
};

export type Settings = {
  readonly signatureIntervalTx: number;
  readonly signatureIntervalMs: number;
  readonly snapshotIntervalTx: number;
  readonly proposalTtlMs: number;
  /**
   * Largest request a transaction may carry, in bytes (requestBytesMaxMin to the ledger's
   * hard requestBytesMax); absent in configurations older than this setting.
   */
  readonly requestBytesMax?: number;
};

export type GovConfig = {
  /** MSP ID → MSP definition JSON (parseMspDefinition's input, PEM strings). */
  readonly msps: Readonly<Record<string, unknown>>;
  /** MSP IDs whose admins vote, sorted. */
  readonly members: readonly string[];
  readonly nodes: Readonly<Record<string, NodeRecord>>;
  /** Allowed code ids (hex SHA-256), sorted. */
  readonly codes: readonly string[];
  readonly settings: Settings;
  readonly constitution: ConstitutionSpec;
  /** Custody parameters, stored for the custody app (issue 7). */
  readonly custody: Readonly<Record<string, unknown>>;
};

export const defaultSettings: Settings = {
  signatureIntervalTx: 1000,
  signatureIntervalMs: 100,
  snapshotIntervalTx: 100_000,
  proposalTtlMs: 7 * 24 * 3600 * 1000,
  requestBytesMax: ledgerRequestBytesMax,
};

// --- MSP definitions as stored JSON ----------------------------------------------------------

function ouJson(ou: OuIdentifier): Json {
  return ou.certificate === undefined
    ? { organizationalUnitIdentifier: ou.organizationalUnitIdentifier }
    : {
        organizationalUnitIdentifier: ou.organizationalUnitIdentifier,
        certificate: ou.certificate.pem,
      };
}

/**
 * The JSON a configuration stores for a definition: PEM strings without their file names, so
 * that the same MSP read from two folders is the same value.
 */
export function mspDefinitionJson(definition: MspDefinition): Json {
  const pems = (list: readonly { pem: string }[]): string[] => list.map((item) => item.pem);
  const json: Json = {
    mspId: definition.mspId,
    rootCerts: pems(definition.rootCerts),
    intermediateCerts: pems(definition.intermediateCerts),
    admins: pems(definition.admins),
    revocationList: pems(definition.revocationList),
    organizationalUnitIdentifiers: definition.organizationalUnitIdentifiers.map(ouJson),
    tlsRootCerts: pems(definition.tlsRootCerts),
    tlsIntermediateCerts: pems(definition.tlsIntermediateCerts),
  };
  const nodeOus = definition.nodeOus;
  if (nodeOus !== undefined) {
    const out: Json = { enable: nodeOus.enable };
    for (const key of [
      'clientOuIdentifier',
      'peerOuIdentifier',
      'adminOuIdentifier',
      'ordererOuIdentifier',
    ] as const) {
      const ou = nodeOus[key];
      if (ou !== undefined) out[key] = ouJson(ou);
    }
    json['nodeOus'] = out;
  }
  return json;
}

/**
 * Merges MSP definitions read from several places (e.g. each organisation's folder) by MSP
 * ID, as Fabric's channel configuration does: the same ID with an identical definition (same
 * certificates, CRLs, OUs, in the same order) is one MSP; with a different one it is refused
 * with GOV_E_DUPLICATE_MSP.
 */
export function mergeMspDefinitions(list: readonly MspDefinition[]): Record<string, MspDefinition> {
  const merged: Record<string, MspDefinition> = {};
  const texts = new Map<string, string>();
  list.forEach((definition, index) => {
    const text = canonicalString(mspDefinitionJson(definition));
    const seen = texts.get(definition.mspId);
    if (seen === undefined) {
      texts.set(definition.mspId, text);
      merged[definition.mspId] = definition;
    } else if (seen !== text) {
      throw cofferError(
        'GOV_E_DUPLICATE_MSP',
        `definitions[${index}] uses MSP ID ${definition.mspId}, which an earlier definition uses with other certificates`,
        { mspId: definition.mspId, index },
      );
    }
  });
  return merged;
}

// --- checks -----------------------------------------------------------------------------------

/** Parses and sets up one definition; GOV_E errors name the field. Returns the stored JSON. */
export function checkMspDefinition(
  value: unknown,
  field: string,
  bad: BadField,
  version: MspVersion = defaultMspVersion,
): { definition: MspDefinition; json: Json } {
  let definition: MspDefinition;
  try {
    definition = parseMspDefinition(value, field);
  } catch (error) {
    if (!isCofferError(error)) throw error;
    return bad(field, `is not an MSP definition: ${error.message}`);
  }
  const json = mspDefinitionJson(definition);
  const bytes = canonicalJsonBytes(json);
  if (bytes > mspDefinitionBytesMax)
    bad(field, `is ${bytes} bytes; at most mspDefinitionBytesMax (${mspDefinitionBytesMax})`);
  const outcome = setupMsp(definition, { version, now: new Date(0) });
  if (!outcome.ok) {
    throw cofferError(
      'GOV_E_MSP_SETUP',
      `${field} (MSP ${definition.mspId}) does not set up: ${outcome.error.code}: ${outcome.error.message}`,
      { field, mspId: definition.mspId, cause: outcome.error.code },
      outcome.error,
    );
  }
  return { definition, json };
}

export function checkSettings(
  value: unknown,
  field: string,
  bad: BadField,
  base: Settings,
): Settings {
  const json = objectAt(value, field, bad);
  onlyKeys(json, Object.keys(defaultSettings), field, bad);
  const pick = (key: Exclude<keyof Settings, 'requestBytesMax'>, max: number, min = 1): number =>
    json[key] === undefined ? base[key] : integerAt(json[key], `${field}.${key}`, min, max, bad);
  return {
    signatureIntervalTx: pick('signatureIntervalTx', signatureIntervalTxMax),
    signatureIntervalMs: pick('signatureIntervalMs', signatureIntervalMsMax),
    snapshotIntervalTx: pick('snapshotIntervalTx', snapshotIntervalTxMax),
    proposalTtlMs: pick('proposalTtlMs', proposalTtlMsMax, proposalTtlMsMin),
    requestBytesMax:
      json['requestBytesMax'] === undefined
        ? (base.requestBytesMax ?? ledgerRequestBytesMax)
        : integerAt(
            json['requestBytesMax'],
            `${field}.requestBytesMax`,
            requestBytesMaxMin,
            ledgerRequestBytesMax,
            bad,
          ),
  };
}

/**
 * Custody parameters: bounded in size here, and checked by the custody app's own rules
 * (custody/params.ts), so that a set_custody proposal custody could not use is refused when it
 * is proposed (and again when it would apply), not discovered by every custody action after.
 */
export function checkCustody(value: unknown, field: string, bad: BadField): Json {
  const json = objectAt(value, field, bad);
  const bytes = canonicalJsonBytes(json);
  if (bytes > custodyBytesMax)
    bad(field, `is ${bytes} bytes; at most custodyBytesMax (${custodyBytesMax})`);
  try {
    checkCustodyParams(json);
  } catch (error) {
    if (!isCofferError(error, 'CUSTODY_E_PARAMS_INVALID')) throw error;
    bad(field, error.message);
  }
  return json;
}

function sortedUnique(list: readonly string[], field: string, bad: BadField): string[] {
  const sorted = [...list].sort(byString);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i] === sorted[i - 1]) bad(field, `lists ${String(sorted[i])} twice`);
  }
  return sorted;
}

/** Whole-configuration invariants (every write of a configuration passes them). */
export function checkConfigInvariants(config: GovConfig, bad: BadField): void {
  const ids = Object.keys(config.msps);
  if (ids.length > mspsMax)
    bad('config.msps', `has ${ids.length} MSPs; at most mspsMax (${mspsMax})`);
  if (config.members.length === 0) bad('config.members', 'must name at least one member');
  if (config.members.length > membersMax)
    bad(
      'config.members',
      `has ${config.members.length} members; at most membersMax (${membersMax})`,
    );
  config.members.forEach((mspId, index) => {
    if (!Object.hasOwn(config.msps, mspId))
      bad(`config.members[${index}]`, `is ${mspId}, which has no MSP definition in config.msps`);
  });
  const nodes = Object.values(config.nodes);
  if (nodes.length > nodesMax)
    bad('config.nodes', `has ${nodes.length} nodes; at most nodesMax (${nodesMax})`);
  for (const node of nodes) {
    // A retired node keeps its record (its id stays taken) after its MSP is removed.
    if (node.status === 'admitted' && !Object.hasOwn(config.msps, node.mspId))
      bad(`config.nodes.${node.nodeId}.mspId`, `is ${node.mspId}, which has no MSP definition`);
  }
  if (config.codes.length > codesMax)
    bad('config.codes', `has ${config.codes.length} code ids; at most codesMax (${codesMax})`);
  const mspsBytes = canonicalJsonBytes(config.msps);
  if (mspsBytes > configValueBytesMax) {
    throw cofferError(
      'GOV_E_LIMIT',
      `the MSP definitions together are ${mspsBytes} bytes; at most configValueBytesMax (${configValueBytesMax})`,
      { limit: 'configValueBytesMax', field: 'config.msps' },
    );
  }
}

/**
 * Checks a genesis configuration (parsed JSON) and returns it in stored form: definitions as
 * PEM-string JSON, members and codes sorted, defaults filled in (settings, majority
 * constitution, empty custody, nodes and codes). Every MSP must set up; members and nodes must
 * name known MSPs; admitted nodes must run allowed code. Errors are GOV_E_CONFIG_INVALID (or
 * GOV_E_MSP_SETUP, GOV_E_LIMIT) naming the field.
 */
export function checkGenesis(config: unknown, options: { version?: MspVersion } = {}): GovConfig {
  const bad: BadField = badFieldOf('GOV_E_CONFIG_INVALID');
  const json = objectAt(config, 'config', bad);
  onlyKeys(json, govConfigKeys, 'config', bad);
  const mspsJson = objectAt(json['msps'], 'config.msps', bad);
  const mspIds = Object.keys(mspsJson).sort(byString);
  if (mspIds.length > mspsMax)
    bad('config.msps', `has ${mspIds.length} MSPs; at most mspsMax (${mspsMax})`);
  const msps: Record<string, unknown> = {};
  for (const mspId of mspIds) {
    const field = `config.msps.${mspId}`;
    stringAt(mspId, `${field} (key)`, idPattern, idCharsMax, bad);
    const { definition, json: stored } = checkMspDefinition(
      mspsJson[mspId],
      field,
      bad,
      options.version,
    );
    if (definition.mspId !== mspId)
      bad(`${field}.mspId`, `is ${definition.mspId}; it must be the key, ${mspId}`);
    msps[mspId] = stored;
  }

  const membersValue = json['members'];
  if (!Array.isArray(membersValue)) bad('config.members', 'must be a list of MSP IDs');
  const members = sortedUnique(
    (membersValue as unknown[]).map((item, index) =>
      stringAt(item, `config.members[${index}]`, idPattern, idCharsMax, bad),
    ),
    'config.members',
    bad,
  );

  const codesValue = json['codes'] ?? [];
  if (!Array.isArray(codesValue)) bad('config.codes', 'must be a list of hex SHA-256 code ids');
  const codes = sortedUnique(
    (codesValue as unknown[]).map((item, index) =>
      stringAt(item, `config.codes[${index}]`, codeIdPattern, 64, bad),
    ),
    'config.codes',
    bad,
  );

  const nodesJson = objectAt(json['nodes'] ?? {}, 'config.nodes', bad);
  const nodes: Record<string, NodeRecord> = {};
  for (const nodeId of Object.keys(nodesJson).sort(byString)) {
    const field = `config.nodes.${nodeId}`;
    stringAt(nodeId, `${field} (key)`, idPattern, idCharsMax, bad);
    const node = objectAt(nodesJson[nodeId], field, bad);
    onlyKeys(node, ['nodeId', 'mspId', 'codeId', 'status', 'url'], field, bad);
    if ((node['nodeId'] ?? nodeId) !== nodeId) bad(`${field}.nodeId`, `must be the key, ${nodeId}`);
    const mspId = stringAt(node['mspId'], `${field}.mspId`, idPattern, idCharsMax, bad);
    const codeId = stringAt(node['codeId'], `${field}.codeId`, codeIdPattern, 64, bad);
    const statusValue: unknown = node['status'] ?? 'admitted';
    if (statusValue !== 'admitted' && statusValue !== 'retired')
      bad(`${field}.status`, "must be 'admitted' or 'retired'");
    const status: NodeStatus = statusValue;
    if (status === 'admitted' && !codes.includes(codeId))
      bad(`${field}.codeId`, `is ${codeId}, which config.codes does not allow`);
    const url =
      node['url'] === undefined
        ? undefined
        : stringAt(node['url'], `${field}.url`, nodeUrlPattern, nodeUrlCharsMax, bad);
    nodes[nodeId] = { nodeId, mspId, codeId, status, ...(url === undefined ? {} : { url }) };
  }

  const settings =
    json['settings'] === undefined
      ? defaultSettings
      : checkSettings(json['settings'], 'config.settings', bad, defaultSettings);
  const constitution =
    json['constitution'] === undefined
      ? ({ kind: 'majority' } as const)
      : checkConstitutionSpec(json['constitution'], 'config.constitution', bad);
  const custody =
    json['custody'] === undefined ? {} : checkCustody(json['custody'], 'config.custody', bad);

  const result: GovConfig = { msps, members, nodes, codes, settings, constitution, custody };
  checkConfigInvariants(result, bad);
  return result;
}

// --- store ------------------------------------------------------------------------------------

export type ConfigWrite = { readonly map: string; readonly key: string; readonly value: string };

/** The writes that store a whole configuration (canonical JSON, one value per key). */
export function configWrites(config: GovConfig): ConfigWrite[] {
  return govConfigKeys.map((key) => ({
    map: govConfigMap,
    key,
    value: canonicalString(config[key]),
  }));
}

/**
 * The configuration in the store, or undefined before genesis (no `members` key). The values
 * were written by configWrites; a missing or unreadable one after genesis is a broken
 * invariant and throws.
 */
export function readGovConfig(
  get: (map: string, key: string) => string | undefined,
): GovConfig | undefined {
  if (get(govConfigMap, 'members') === undefined) return undefined;
  const read = (key: GovConfigKey): unknown => {
    const text = get(govConfigMap, key);
    if (text === undefined)
      throw new Error(`governance invariant: ${govConfigMap}/${key} is missing after genesis`);
    return JSON.parse(text) as unknown;
  };
  return {
    msps: read('msps') as GovConfig['msps'],
    members: read('members') as GovConfig['members'],
    nodes: read('nodes') as GovConfig['nodes'],
    codes: read('codes') as GovConfig['codes'],
    settings: read('settings') as Settings,
    constitution: read('constitution') as ConstitutionSpec,
    custody: read('custody') as GovConfig['custody'],
  };
}

// --- the MSPs in force ------------------------------------------------------------------------

export type ConsortiumOptions = { readonly version?: MspVersion };

/**
 * Sets up every MSP of the configuration (verifying MSPs: no signer, so no clock). Throws
 * GOV_E_MSP_SETUP naming the MSP when one fails; configurations written by governance were
 * checked before, so that means the store was damaged or the MSP version differs.
 */
export function consortiumOf(
  config: GovConfig,
  options: ConsortiumOptions = {},
): { msps: ReadonlyMap<string, Msp>; requestBytesMax?: number } {
  const version = options.version ?? defaultMspVersion;
  const msps = new Map<string, Msp>();
  for (const mspId of Object.keys(config.msps).sort(byString)) {
    let definition: MspDefinition;
    try {
      definition = parseMspDefinition(config.msps[mspId], `config.msps.${mspId}`);
    } catch (error) {
      if (!isCofferError(error)) throw error;
      throw cofferError(
        'GOV_E_MSP_SETUP',
        `config.msps.${mspId} is not an MSP definition: ${error.message}`,
        { field: `config.msps.${mspId}`, mspId },
        error,
      );
    }
    const outcome = setupMsp(definition, { version, now: new Date(0) });
    if (!outcome.ok) {
      throw cofferError(
        'GOV_E_MSP_SETUP',
        `config.msps.${mspId} does not set up: ${outcome.error.code}: ${outcome.error.message}`,
        { field: `config.msps.${mspId}`, mspId, cause: outcome.error.code },
        outcome.error,
      );
    }
    msps.set(mspId, outcome.msp);
  }
  const requestBytesMax = config.settings.requestBytesMax;
  return requestBytesMax === undefined ? { msps } : { msps, requestBytesMax };
}

// Governance in words: actions, settings, verdicts and ballots as people read them. Pure (no
// DOM, no clock: `now` is passed in), so the tests run them in Node.
import type {
  ConstitutionSummary,
  GovAction,
  GovConfig,
  MspJson,
  Proposal,
  Settings,
  Verdict,
} from './types.js';

export function shortHex(value: string, length = 12): string {
  return value.length > length ? `${value.slice(0, length)}…` : value;
}

const units: readonly [number, string][] = [
  [24 * 3600 * 1000, 'day'],
  [3600 * 1000, 'hour'],
  [60 * 1000, 'minute'],
  [1000, 'second'],
];

/** 604800000 → "7 days"; 90061000 → "1 day 1 hour"; 250 → "250 ms" (two largest units). */
export function durationText(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return String(ms);
  if (ms < 1000) return `${ms} ms`;
  const parts: string[] = [];
  let rest = ms;
  for (const [size, name] of units) {
    const count = Math.floor(rest / size);
    if (count > 0 && parts.length < 2) parts.push(`${count} ${name}${count === 1 ? '' : 's'}`);
    rest -= count * size;
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

export function bytesText(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes.toLocaleString('en')} bytes`;
}

export type SettingKey = keyof Settings;

/** The service settings: what each means, its unit and its bounds (config.ts/limits.ts). */
export const settingFields: readonly {
  readonly key: SettingKey;
  readonly label: string;
  readonly help: string;
  readonly min: number;
  readonly max: number;
  readonly show: (value: number) => string;
}[] = [
  {
    key: 'signatureIntervalTx',
    label: 'Signature every N transactions',
    help: 'Every node signs the Merkle root after this many transactions (receipts wait for it).',
    min: 1,
    max: 1_000_000,
    show: (value) => `${value.toLocaleString('en')} transactions`,
  },
  {
    key: 'signatureIntervalMs',
    label: 'Signature at least every (ms)',
    help: 'Every node signs a pending root after this long, even with few transactions.',
    min: 1,
    max: 3_600_000,
    show: durationText,
  },
  {
    key: 'snapshotIntervalTx',
    label: 'Snapshot every N transactions',
    help: 'Nodes write a state snapshot after this many transactions (faster restarts).',
    min: 1,
    max: 100_000_000,
    show: (value) => `${value.toLocaleString('en')} transactions`,
  },
  {
    key: 'proposalTtlMs',
    label: 'Proposal lifetime (ms)',
    help: 'An open proposal expires after this long (a proposal may ask for less).',
    min: 1_000,
    max: 90 * 24 * 3600 * 1000,
    show: durationText,
  },
  {
    key: 'requestBytesMax',
    label: 'Largest request (bytes)',
    help: 'Largest signed request a transaction may carry; larger ones get TX_E_TOO_LARGE.',
    min: 4 * 1024,
    max: 64 * 1024,
    show: bytesText,
  },
];

function settingShow(key: string, value: unknown): string {
  const field = settingFields.find((item) => item.key === key);
  return field !== undefined && typeof value === 'number'
    ? field.show(value)
    : JSON.stringify(value);
}

function settingLabel(key: string): string {
  const names: Record<string, string> = {
    signatureIntervalTx: 'signature interval',
    signatureIntervalMs: 'signature time interval',
    snapshotIntervalTx: 'snapshot interval',
    proposalTtlMs: 'proposal lifetime',
    requestBytesMax: 'largest request',
  };
  return names[key] ?? key;
}

export function constitutionText(
  constitution: ConstitutionSummary | GovConfig['constitution'],
): string {
  switch (constitution.kind) {
    case 'majority':
      return 'a strict majority of member organisations';
    case 'policy':
      return `the signature policy ${constitution.policy}`;
    case 'js': {
      const bytes =
        'source' in constitution
          ? new TextEncoder().encode(constitution.source).length
          : constitution.sourceBytes;
      return `a JavaScript module (${bytesText(bytes)})`;
    }
  }
}

const mspLists: readonly {
  readonly key: keyof MspJson;
  readonly one: string;
  readonly many: string;
}[] = [
  { key: 'rootCerts', one: 'root CA', many: 'root CAs' },
  { key: 'intermediateCerts', one: 'intermediate CA', many: 'intermediate CAs' },
  { key: 'admins', one: 'admin certificate', many: 'admin certificates' },
  { key: 'revocationList', one: 'CRL', many: 'CRLs' },
  { key: 'tlsRootCerts', one: 'TLS root CA', many: 'TLS root CAs' },
  { key: 'tlsIntermediateCerts', one: 'TLS intermediate CA', many: 'TLS intermediate CAs' },
];

function counted(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

function pemList(value: unknown): string[] {
  return Array.isArray(value)
    ? value.filter((item): item is string => typeof item === 'string')
    : [];
}

/** What a new MSP definition changes against the current one, list by list. */
export function mspChanges(next: Record<string, unknown>, current: MspJson | undefined): string[] {
  if (current === undefined) {
    return mspLists
      .map(({ key, one, many }) => ({ count: pemList(next[key]).length, one, many }))
      .filter((item) => item.count > 0)
      .map((item) => counted(item.count, item.one, item.many));
  }
  const changes: string[] = [];
  for (const { key, one, many } of mspLists) {
    const before = new Set(pemList(current[key]).map((pem) => pem.trim()));
    const after = new Set(pemList(next[key]).map((pem) => pem.trim()));
    const added = [...after].filter((pem) => !before.has(pem)).length;
    const removed = [...before].filter((pem) => !after.has(pem)).length;
    if (added > 0) changes.push(`adds ${counted(added, one, many)}`);
    if (removed > 0) changes.push(`removes ${counted(removed, one, many)}`);
  }
  const ous = (value: unknown): string => sortedJson(value ?? null);
  if (ous(next['nodeOus']) !== ous(current.nodeOus)) changes.push('changes NodeOUs');
  if (
    ous(next['organizationalUnitIdentifiers']) !== ous(current.organizationalUnitIdentifiers ?? [])
  )
    changes.push('changes OU identifiers');
  return changes;
}

/** JSON with object keys sorted (the ledger stores canonical JSON; key order is not meaning). */
export function sortedJson(value: unknown): string {
  const sort = (item: unknown): unknown => {
    if (Array.isArray(item)) return item.map(sort);
    if (typeof item !== 'object' || item === null) return item;
    const entries = Object.entries(item as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return Object.fromEntries(entries.map(([key, entry]) => [key, sort(entry)]));
  };
  return JSON.stringify(sort(value));
}

function objectOf(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function text(value: unknown): string {
  if (value === undefined) return '?';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function custodyText(custody: Record<string, unknown>): string[] {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(custody)) {
    if (key !== 'chains') {
      lines.push(`${key}: ${text(value)}`);
      continue;
    }
    for (const [chain, params] of Object.entries(objectOf(value))) {
      const item = objectOf(params);
      const parts: string[] = [];
      const workers = pemList(item['workers']);
      if (item['workers'] !== undefined) parts.push(counted(workers.length, 'worker', 'workers'));
      for (const [field, fieldValue] of Object.entries(item))
        if (field !== 'workers') parts.push(`${field} ${text(fieldValue)}`);
      lines.push(`${chain}: ${parts.length === 0 ? 'defaults' : parts.join(', ')}`);
    }
  }
  return lines.length === 0 ? ['every parameter at its default'] : lines;
}

export type ActionText = { readonly title: string; readonly details: readonly string[] };

/**
 * An action in words. With the configuration in force (`config`), changes are told against it
 * (settings "from → to", an MSP's added and removed certificates).
 */
export function describeAction(action: GovAction, config?: GovConfig): ActionText {
  const args = action.args;
  const mspId = text(args['mspId']);
  switch (action.name) {
    case 'set_msp': {
      const definition = objectOf(args['definition']);
      const current = config?.msps[mspId];
      const changes = mspChanges(definition, current);
      if (config !== undefined && current === undefined)
        return { title: `Add the MSP of a new organisation, ${mspId}`, details: changes };
      return {
        title: `${current === undefined ? 'Set' : 'Update'} the MSP of ${mspId}`,
        details:
          current !== undefined && changes.length === 0 ? ['same definition as in force'] : changes,
      };
    }
    case 'remove_msp':
      return { title: `Remove the MSP of ${mspId}`, details: [] };
    case 'add_member':
      return { title: `Make ${mspId} a member (its admins vote)`, details: [] };
    case 'remove_member':
      return { title: `Remove ${mspId} from the members`, details: [] };
    case 'admit_node':
      return {
        title: `Admit node ${text(args['nodeId'])} of ${mspId}`,
        details: [
          `code id ${shortHex(text(args['codeId']))}`,
          ...(args['url'] === undefined ? [] : [`at ${text(args['url'])}`]),
        ],
      };
    case 'retire_node':
      return { title: `Retire node ${text(args['nodeId'])}`, details: [] };
    case 'allow_code':
      return { title: `Allow code id ${shortHex(text(args['codeId']))}`, details: [] };
    case 'disallow_code':
      return { title: `Disallow code id ${shortHex(text(args['codeId']))}`, details: [] };
    case 'set_settings': {
      const details = Object.entries(args).map(([key, value]) => {
        const before = config?.settings[key as SettingKey];
        return before === undefined
          ? `${settingLabel(key)}: ${settingShow(key, value)}`
          : `${settingLabel(key)}: ${settingShow(key, before)} → ${settingShow(key, value)}`;
      });
      return { title: 'Change the service settings', details };
    }
    case 'set_constitution': {
      const constitution = objectOf(args['constitution']);
      const kind = constitution['kind'];
      const summary =
        kind === 'majority' || kind === 'policy' || kind === 'js'
          ? constitutionText(constitution as GovConfig['constitution'])
          : text(constitution);
      return {
        title: `Set the constitution to ${summary}`,
        details: ['other open proposals are dropped when it is accepted'],
      };
    }
    case 'set_custody':
      return {
        title: 'Set the custody parameters',
        details: custodyText(objectOf(args['custody'])),
      };
    case 'custody_policy': {
      const change = objectOf(args['change']);
      const { kind, ...rest } = change;
      return {
        title: `Change the policy of wallet ${shortHex(text(args['walletId']))}`,
        details: [`${text(kind ?? '?')} ${JSON.stringify(rest)}`],
      };
    }
    case 'set_evm':
      return { title: `Set the EVM chain id to ${text(args['chainId'])}`, details: [] };
    case 'install_app': {
      const manifest = objectOf(objectOf(args['bundle'])['manifest']);
      return {
        title:
          `Install app ${text(manifest['name'] ?? '?')} ${text(manifest['version'] ?? '')}`.trim(),
        details: [],
      };
    }
    case 'remove_app':
      return { title: `Remove app ${text(args['name'])}`, details: [] };
    default:
      return { title: action.name, details: [JSON.stringify(args)] };
  }
}

/** Badge colours: ok, bad, waiting, and none (a neutral grey: did not vote). */
export type Tone = 'ok' | 'bad' | 'wait' | 'none';

export function ballotTone(ballot: BallotRow['ballot']): Tone {
  return ballot === 'yes'
    ? 'ok'
    : ballot === 'no'
      ? 'bad'
      : ballot === 'none yet'
        ? 'wait'
        : 'none';
}

export type VerdictText = {
  /** The state word (the badge). */
  readonly state: string;
  readonly tone: Tone;
  /** The constitution's verdict or the reason it closed, in a sentence. */
  readonly detail: string;
};

function names(list: readonly string[]): string {
  if (list.length <= 1) return list.join('');
  return `${list.slice(0, -1).join(', ')} and ${list[list.length - 1] ?? ''}`;
}

/** " with 2 yes, 1 no of 3 members" from a verdict, or nothing without one. */
function tally(verdict: Verdict | undefined): string {
  if (verdict === undefined) return '';
  const members = verdict.yes.length + verdict.no.length + verdict.pending.length;
  return ` with ${verdict.yes.length} yes, ${verdict.no.length} no of ${members} members`;
}

/**
 * The verdict line of a proposal: the state the ledger stored and, while open, what the
 * constitution answers now (the `verdicts` query, never computed here).
 */
export function verdictText(
  proposal: Proposal,
  verdict: Verdict | undefined,
  now: number,
  constitution?: ConstitutionSummary,
): VerdictText {
  switch (proposal.state) {
    case 'Open': {
      if (now >= proposal.expiresAt)
        return {
          state: 'Expired',
          tone: 'bad',
          detail: 'past its expiry: the next governance transaction closes it',
        };
      if (verdict === undefined) return { state: 'Open', tone: 'wait', detail: 'open' };
      const waiting = verdict.pending.length === 0 ? '' : `; waiting for ${names(verdict.pending)}`;
      if (verdict.resolution === 'Accepted')
        return {
          state: 'Open',
          tone: 'wait',
          detail:
            'the constitution accepts it now (the members changed); the next ballot settles it',
        };
      if (verdict.resolution === 'Rejected')
        return {
          state: 'Open',
          tone: 'wait',
          detail:
            'the constitution rejects it now (the members changed); the next ballot settles it',
        };
      if (verdict.yesNeeded !== undefined)
        return {
          state: 'Open',
          tone: 'wait',
          detail: `${verdict.yes.length} of ${verdict.yesNeeded} needed yes votes${waiting}`,
        };
      const count = `${verdict.yes.length} yes, ${verdict.no.length} no, ${verdict.pending.length} not voted`;
      return {
        state: 'Open',
        tone: 'wait',
        detail:
          constitution?.kind === 'js'
            ? `the JavaScript constitution decides (${count})`
            : `${count}${waiting}`,
      };
    }
    case 'Accepted':
      return {
        state: 'Accepted',
        tone: 'ok',
        detail: `accepted${tally(verdict)} and applied from the next batch`,
      };
    case 'Rejected':
      return {
        state: 'Rejected',
        tone: 'bad',
        detail: `rejected${tally(verdict)}: the constitution can no longer accept it`,
      };
    case 'Withdrawn':
      return {
        state: 'Withdrawn',
        tone: 'bad',
        detail: `withdrawn by its proposer, ${proposal.proposer.mspId}`,
      };
    case 'Expired':
      return { state: 'Expired', tone: 'bad', detail: 'not decided before it expired' };
    case 'Dropped':
      return {
        state: 'Dropped',
        tone: 'bad',
        detail: 'dropped: a new constitution was accepted while it was open',
      };
    case 'Failed':
      return {
        state: 'Failed',
        tone: 'bad',
        detail:
          `accepted, but its actions no longer applied: ${proposal.failure?.code ?? ''} ${proposal.failure?.message ?? ''}`.trim(),
      };
  }
}

export type BallotRow = {
  readonly mspId: string;
  /** 'none yet' while the proposal is open; 'did not vote' once it closed. */
  readonly ballot: 'yes' | 'no' | 'none yet' | 'did not vote';
  readonly member: boolean;
  readonly identityId?: string;
  readonly time?: number;
  readonly txId?: string;
};

/** One row per member (yes, no or none yet), then ballots of former members (not counted). */
export function ballotRows(proposal: Proposal, members: readonly string[]): BallotRow[] {
  const rows: BallotRow[] = members.map((mspId) => {
    const ballot = proposal.ballots[mspId];
    return ballot === undefined
      ? { mspId, ballot: proposal.state === 'Open' ? 'none yet' : 'did not vote', member: true }
      : {
          mspId,
          ballot: ballot.ballot,
          member: true,
          identityId: ballot.identityId,
          time: ballot.time,
          txId: ballot.txId,
        };
  });
  for (const [mspId, ballot] of Object.entries(proposal.ballots).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  )) {
    if (members.includes(mspId)) continue;
    rows.push({
      mspId,
      ballot: ballot.ballot,
      member: false,
      identityId: ballot.identityId,
      time: ballot.time,
      txId: ballot.txId,
    });
  }
  return rows;
}

/** Open proposals first (newest first), then closed ones, most recently closed first. */
export function orderProposals(list: readonly Proposal[]): Proposal[] {
  const open = list.filter((p) => p.state === 'Open').sort((a, b) => b.createdAt - a.createdAt);
  const closed = list
    .filter((p) => p.state !== 'Open')
    .sort((a, b) => (b.closedAt ?? b.createdAt) - (a.closedAt ?? a.createdAt));
  return [...open, ...closed];
}

/** What the signed-in person may do with a proposal, and why not. */
export function proposalRights(
  proposal: Proposal,
  caller: { readonly mspId: string; readonly isAdmin: boolean } | null,
  members: readonly string[],
  now: number,
): { vote: boolean; withdraw: boolean; why?: string } {
  if (proposal.state !== 'Open' || now >= proposal.expiresAt)
    return { vote: false, withdraw: false, why: 'The proposal is closed.' };
  if (caller === null) return { vote: false, withdraw: false, why: 'Sign in to vote.' };
  const member = members.includes(caller.mspId);
  const why = !member
    ? `${caller.mspId} is not a member organisation: only admins of ${names([...members])} vote.`
    : !caller.isAdmin
      ? `You are not an admin of ${caller.mspId}: only MSP admins vote and withdraw.`
      : undefined;
  return {
    vote: member && caller.isAdmin,
    withdraw: caller.isAdmin && caller.mspId === proposal.proposer.mspId,
    ...(why === undefined ? {} : { why }),
  };
}

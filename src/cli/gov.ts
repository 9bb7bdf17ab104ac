// `coffer gov`: proposals and ballots for member admins (decision 0017). Proposals are signed
// `gov` transactions; list and show read the `gov` queries. Readable output by default,
// `--json` for programs.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { TxResult } from '../client/index.js';
import { cofferError } from '../errors/index.js';
import {
  actionNames,
  mspDefinitionJson,
  proposalStates,
  type GovAction,
  type Proposal,
} from '../governance/index.js';
import { readMspFolder } from '../msp/index.js';
import type { Command, CommandIo } from './main.js';
import { clientFromProfile, defaultProfile } from './profile.js';

const usage = `Usage:
  coffer gov propose [--file proposal.json] [ACTION FLAGS...] [--expires-in MS]
  coffer gov vote PROPOSAL_ID yes|no
  coffer gov withdraw PROPOSAL_ID
  coffer gov list [--state STATE] [--limit N]
  coffer gov show PROPOSAL_ID
Every command takes --profile FILE (default ${defaultProfile}; propose, vote and withdraw must be
signed by an MSP admin of a member organisation) and --json.

A proposal file is {"actions":[{"name":"allow_code","args":{"codeId":"…"}}, …]}. Actions:
  ${actionNames.join(', ')}.
Action flags (each may repeat; they are added after the file's actions, in this order):
  --set-msp MSPID=DIR        an organisation's MSP folder (verifying part: no keys are read)
  --add-member MSPID         --allow-code HEX           --admit-node NODE=MSPID:CODEID[@URL]
  --retire-node NODE         --remove-member MSPID      --disallow-code HEX
  --remove-msp MSPID
  --settings JSON            e.g. '{"signatureIntervalTx":500}'
  --constitution majority | 'policy:OutOf(2, ...)' | js:FILE
  --custody JSON             --remove-app NAME          --install-app BUNDLE.json
States for --state: ${proposalStates.join(', ')}.`;

/** What the command needs of a client (the SDK's, or a test's). */
export type GovClient = {
  readonly submit: (
    app: string,
    action: string,
    args: Readonly<Record<string, unknown>>,
    options?: { readonly wait?: 'none' | 'commit' },
  ) => Promise<TxResult>;
  readonly query: (
    app: string,
    query: string,
    args?: Readonly<Record<string, unknown>>,
  ) => Promise<unknown>;
  readonly close: () => void;
};

function parse(args: readonly string[]) {
  try {
    return parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        file: { type: 'string' },
        'set-msp': { type: 'string', multiple: true },
        'remove-msp': { type: 'string', multiple: true },
        'add-member': { type: 'string', multiple: true },
        'remove-member': { type: 'string', multiple: true },
        'admit-node': { type: 'string', multiple: true },
        'retire-node': { type: 'string', multiple: true },
        'allow-code': { type: 'string', multiple: true },
        'disallow-code': { type: 'string', multiple: true },
        settings: { type: 'string' },
        constitution: { type: 'string' },
        custody: { type: 'string' },
        'install-app': { type: 'string', multiple: true },
        'remove-app': { type: 'string', multiple: true },
        'expires-in': { type: 'string' },
        state: { type: 'string' },
        limit: { type: 'string' },
        profile: { type: 'string', default: defaultProfile },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    throw cofferError('CLI_E_USAGE', `${(error as Error).message}\n\n${usage}`);
  }
}

export type GovOptions = ReturnType<typeof parse>['values'];

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
    throw cofferError('CLI_E_FILE_UNREADABLE', `${file} cannot be read (${code})`, { file }, error);
  }
}

function json(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw cofferError('CLI_E_USAGE', `${what} must be JSON, got ${text.slice(0, 80)}`);
  }
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw cofferError('CLI_E_USAGE', `${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

function split(text: string, separator: string, flag: string, shape: string): [string, string] {
  const at = text.indexOf(separator);
  if (at <= 0 || at === text.length - 1)
    throw cofferError('CLI_E_USAGE', `--${flag} takes ${shape}, got ${text}`);
  return [text.slice(0, at), text.slice(at + 1)];
}

/**
 * The actions of `coffer gov propose`: the file's, then each flag's. The node checks them
 * again (the CLI only shapes them); MSP folders are read here, verifying part only.
 */
export async function proposalActions(values: GovOptions): Promise<GovAction[]> {
  const actions: GovAction[] = [];
  if (values.file !== undefined) {
    const file = object(json(await readText(values.file), values.file), values.file);
    const list = file['actions'];
    if (!Array.isArray(list))
      throw cofferError('CLI_E_USAGE', `${values.file} must hold {"actions": [...]}`);
    actions.push(...(list as GovAction[]));
  }
  for (const item of values['set-msp'] ?? []) {
    const [mspId, dir] = split(item, '=', 'set-msp', 'MSPID=DIR');
    const folder = await readMspFolder(dir, mspId, false);
    actions.push({
      name: 'set_msp',
      args: { mspId, definition: mspDefinitionJson(folder.definition) },
    });
  }
  const simple = (flag: keyof GovOptions, name: string, key: string): void => {
    const list = values[flag];
    if (!Array.isArray(list)) return;
    for (const item of list) actions.push({ name, args: { [key]: item } });
  };
  // Additions first, then removals, so that one command can add an organisation with its
  // node, or retire a node and remove its organisation.
  simple('add-member', 'add_member', 'mspId');
  simple('allow-code', 'allow_code', 'codeId');
  for (const item of values['admit-node'] ?? []) {
    const shape = 'NODE=MSPID:CODEID[@URL]';
    const [nodeId, rest] = split(item, '=', 'admit-node', shape);
    const at = rest.indexOf('@');
    const [mspId, codeId] = split(at < 0 ? rest : rest.slice(0, at), ':', 'admit-node', shape);
    const url = at < 0 ? undefined : rest.slice(at + 1);
    actions.push({
      name: 'admit_node',
      args: { nodeId, mspId, codeId, ...(url === undefined ? {} : { url }) },
    });
  }
  simple('retire-node', 'retire_node', 'nodeId');
  simple('remove-member', 'remove_member', 'mspId');
  simple('disallow-code', 'disallow_code', 'codeId');
  simple('remove-msp', 'remove_msp', 'mspId');
  if (values.settings !== undefined)
    actions.push({
      name: 'set_settings',
      args: object(json(values.settings, '--settings'), '--settings'),
    });
  if (values.constitution !== undefined) {
    const text = values.constitution;
    let constitution: Record<string, unknown>;
    if (text === 'majority') constitution = { kind: 'majority' };
    else if (text.startsWith('policy:')) constitution = { kind: 'policy', policy: text.slice(7) };
    else if (text.startsWith('js:'))
      constitution = { kind: 'js', source: await readText(text.slice(3)) };
    else
      throw cofferError(
        'CLI_E_USAGE',
        `--constitution takes majority, policy:TEXT or js:FILE, got ${text}`,
      );
    actions.push({ name: 'set_constitution', args: { constitution } });
  }
  if (values.custody !== undefined)
    actions.push({
      name: 'set_custody',
      args: { custody: object(json(values.custody, '--custody'), '--custody') },
    });
  for (const file of values['install-app'] ?? [])
    actions.push({
      name: 'install_app',
      args: { bundle: object(json(await readText(file), file), file) },
    });
  simple('remove-app', 'remove_app', 'name');
  if (actions.length === 0)
    throw cofferError(
      'CLI_E_USAGE',
      `propose needs --file or at least one action flag\n\n${usage}`,
    );
  return actions;
}

// --- printing -----------------------------------------------------------------------------------

function iso(ms: unknown): string {
  return typeof ms === 'number' && Number.isSafeInteger(ms) ? new Date(ms).toISOString() : '?';
}

function ballotsLine(ballots: Proposal['ballots'] | undefined): string {
  const entries = Object.entries(ballots ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length === 0
    ? 'no ballots'
    : entries.map(([mspId, record]) => `${mspId} ${record.ballot}`).join(', ');
}

/** One line per proposal: id, state, proposer, actions, ballots, expiry. */
export function formatProposalLine(proposal: Proposal, now: number): string {
  const expired = proposal.state === 'Open' && now >= proposal.expiresAt ? ' (expired)' : '';
  const names = proposal.actions.map((action) => action.name).join(', ');
  return `${proposal.id}  ${proposal.state}${expired}  by ${proposal.proposer.mspId}  [${names}]  ${ballotsLine(proposal.ballots)}  expires ${iso(proposal.expiresAt)}`;
}

/** A proposal in full, for `coffer gov show`. */
export function formatProposal(proposal: Proposal, now: number): string {
  const expired =
    proposal.state === 'Open' && now >= proposal.expiresAt
      ? ' (expired: the next gov transaction closes it)'
      : '';
  const lines = [
    `proposal ${proposal.id}`,
    `  state     ${proposal.state}${expired}`,
    `  proposer  ${proposal.proposer.mspId} (identity ${proposal.proposer.identityId.slice(0, 16)}…)`,
    `  created   ${iso(proposal.createdAt)}`,
    `  expires   ${iso(proposal.expiresAt)}`,
  ];
  if (proposal.closedAt !== undefined) lines.push(`  closed    ${iso(proposal.closedAt)}`);
  if (proposal.failure !== undefined)
    lines.push(`  failure   ${proposal.failure.code}: ${proposal.failure.message}`);
  lines.push('  actions');
  proposal.actions.forEach((action, index) => {
    let args = JSON.stringify(action.args);
    if (args.length > 160) args = `${args.slice(0, 157)}...`;
    lines.push(`    ${index + 1}. ${action.name} ${args}`);
  });
  lines.push('  ballots');
  const ballots = Object.entries(proposal.ballots);
  if (ballots.length === 0) lines.push('    none');
  for (const [mspId, record] of ballots.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    lines.push(
      `    ${mspId.padEnd(12)} ${record.ballot.padEnd(3)}  by ${record.identityId.slice(0, 16)}…  at ${iso(record.time)}`,
    );
  return lines.join('\n');
}

function printTx(io: CommandIo, result: TxResult, asJson: boolean, verb: string): number {
  if (asJson) {
    io.stdout(JSON.stringify(result, null, 2));
    return result.status === 'Committed' ? 0 : 1;
  }
  if (result.status === 'Invalid') {
    io.stderr(`${result.code ?? 'invalid'}: ${result.message ?? ''} (transaction ${result.txId})`);
    return 1;
  }
  if (result.status !== 'Committed') {
    io.stdout(
      `${verb}: transaction ${result.txId} is ${result.status}; follow it with coffer tx status ${result.txId} --wait`,
    );
    return 1;
  }
  const summary = (result.result ?? {}) as {
    proposalId?: string;
    state?: string;
    expiresAt?: number;
    ballots?: Proposal['ballots'];
    failure?: { code: string; message: string };
  };
  const lines = [
    `${verb}: proposal ${summary.proposalId ?? '?'} is ${summary.state ?? '?'}`,
    `  ballots  ${ballotsLine(summary.ballots)}`,
    `  expires  ${iso(summary.expiresAt)}`,
  ];
  if (summary.failure !== undefined)
    lines.push(`  failure  ${summary.failure.code}: ${summary.failure.message}`);
  io.stdout(lines.join('\n'));
  return 0;
}

const proposalIdPattern = /^[0-9a-f]{64}$/;

function proposalId(value: string | undefined): string {
  if (value === undefined || !proposalIdPattern.test(value))
    throw cofferError(
      'CLI_E_USAGE',
      `expected a PROPOSAL_ID (64 hex digits), got ${String(value)}\n\n${usage}`,
    );
  return value;
}

// --- the command ----------------------------------------------------------------------------------

export type GovDeps = {
  readonly client: (profile: string) => Promise<GovClient>;
  /** The local clock, only to mark open proposals past their expiry in printouts. */
  readonly now: () => number;
};

const defaultDeps: GovDeps = { client: clientFromProfile, now: () => Date.now() };

export function govCommandWith(deps: GovDeps): Command {
  return async (args, io) => {
    const { values, positionals } = parse(args);
    const [sub, first, second, ...extra] = positionals;
    if (values.help || sub === undefined) {
      io.stdout(usage);
      return values.help ? 0 : 2;
    }
    const expect = (count: number): void => {
      const given = [first, second, ...extra].filter((item) => item !== undefined).length;
      if (given !== count)
        throw cofferError(
          'CLI_E_USAGE',
          `gov ${sub} takes ${count} argument(s), got ${given}\n\n${usage}`,
        );
    };
    let work: (client: GovClient) => Promise<number>;
    switch (sub) {
      case 'propose': {
        expect(0);
        const actions = await proposalActions(values);
        const request: Record<string, unknown> = { actions };
        if (values['expires-in'] !== undefined) {
          const ms = Number(values['expires-in']);
          if (!Number.isSafeInteger(ms) || ms <= 0)
            throw cofferError(
              'CLI_E_USAGE',
              `--expires-in takes milliseconds, got ${values['expires-in']}`,
            );
          request['expiresInMs'] = ms;
        }
        work = async (client) =>
          printTx(
            io,
            await client.submit('gov', 'propose', request, { wait: 'commit' }),
            values.json,
            'proposed',
          );
        break;
      }
      case 'vote': {
        expect(2);
        const id = proposalId(first);
        if (second !== 'yes' && second !== 'no')
          throw cofferError('CLI_E_USAGE', `a ballot is yes or no, got ${String(second)}`);
        work = async (client) =>
          printTx(
            io,
            await client.submit(
              'gov',
              'vote',
              { proposalId: id, ballot: second },
              { wait: 'commit' },
            ),
            values.json,
            'voted',
          );
        break;
      }
      case 'withdraw': {
        expect(1);
        const id = proposalId(first);
        work = async (client) =>
          printTx(
            io,
            await client.submit('gov', 'withdraw', { proposalId: id }, { wait: 'commit' }),
            values.json,
            'withdrawn',
          );
        break;
      }
      case 'list': {
        expect(0);
        const query: Record<string, unknown> = {};
        if (values.state !== undefined) {
          if (!(proposalStates as readonly string[]).includes(values.state))
            throw cofferError('CLI_E_USAGE', `--state is one of ${proposalStates.join(', ')}`);
          query['state'] = values.state;
        }
        if (values.limit !== undefined) {
          const limit = Number(values.limit);
          if (!Number.isSafeInteger(limit) || limit <= 0)
            throw cofferError(
              'CLI_E_USAGE',
              `--limit takes a positive whole number, got ${values.limit}`,
            );
          query['limit'] = limit;
        }
        work = async (client) => {
          const answer = (await client.query('gov', 'proposals', query)) as {
            proposals: Proposal[];
          };
          if (values.json) io.stdout(JSON.stringify(answer, null, 2));
          else if (answer.proposals.length === 0) io.stdout('no proposals');
          else io.stdout(answer.proposals.map((p) => formatProposalLine(p, deps.now())).join('\n'));
          return 0;
        };
        break;
      }
      case 'show': {
        expect(1);
        const id = proposalId(first);
        work = async (client) => {
          const proposal = (await client.query('gov', 'proposal', { id })) as Proposal;
          io.stdout(
            values.json ? JSON.stringify(proposal, null, 2) : formatProposal(proposal, deps.now()),
          );
          return 0;
        };
        break;
      }
      default:
        throw cofferError('CLI_E_USAGE', `unknown gov command ${sub}\n\n${usage}`);
    }
    const client = await deps.client(values.profile);
    try {
      return await work(client);
    } finally {
      client.close();
    }
  };
}

export const govCommand: Command = govCommandWith(defaultDeps);

export { usage as govUsage };

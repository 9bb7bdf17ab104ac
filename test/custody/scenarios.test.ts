// Scenario files (STYLE.md 10): test/custody/scenarios/*.txt are small scripts of custody
// commands, each followed by `----` and its expected output, one handler per command below.
// A refused action prints `error <CODE>`, and the runner checks that it changed nothing.
// CUSTODY_REWRITE=1 npx vitest run test/custody/scenarios.test.ts rewrites the expected
// outputs (review the diff before committing it).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { governanceTrigger } from '../../src/contracts/index.js';
import {
  baseParams,
  cast,
  cofferAddress,
  cofferTx,
  createDriver,
  keysArg,
  principal,
  walletKeys,
  type Driver,
  type Outcome,
  type WalletKeys,
  type Who,
} from './driver.js';

const dir = path.join(import.meta.dirname, 'scenarios');
const rewrite = process.env['CUSTODY_REWRITE'] === '1';

type Block = {
  readonly line: number;
  /** Comment lines before the command, kept on rewrite. */
  readonly comments: readonly string[];
  readonly command: string;
  readonly expected: string;
};

function parse(text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  let index = 0;
  let comments: string[] = [];
  while (index < lines.length) {
    const current = (lines[index] ?? '').trim();
    if (current === '' || current.startsWith('#')) {
      if (current.startsWith('#')) comments.push(current);
      index++;
      continue;
    }
    const line = index + 1;
    if (lines[index + 1] !== '----') throw new Error(`line ${line + 1}: expected ----`);
    index += 2;
    const out: string[] = [];
    while (index < lines.length && (lines[index] ?? '') !== '') out.push(lines[index++] ?? '');
    blocks.push({ line, comments, command: current, expected: out.join('\n') });
    comments = [];
  }
  return blocks;
}

function format(blocks: readonly Block[], outputs: readonly string[]): string {
  return blocks
    .map((block, i) => {
      const comments = block.comments.length === 0 ? '' : `${block.comments.join('\n')}\n`;
      return `${comments}${block.command}\n----\n${outputs[i] ?? ''}\n`;
    })
    .join('\n');
}

// --- the interpreter ----------------------------------------------------------------------------

type World = {
  readonly driver: Driver;
  readonly wallets: Map<string, { id: string; keys: WalletKeys }>;
  readonly withdrawals: Map<string, string>;
  readonly changes: Map<string, string>;
};

type Command = {
  readonly name: string;
  readonly positional: readonly string[];
  readonly options: ReadonlyMap<string, string>;
};

function tokenize(line: string): Command {
  const [name = '', ...rest] = line.split(/\s+/);
  const positional: string[] = [];
  const options = new Map<string, string>();
  for (const token of rest) {
    const eq = token.indexOf('=');
    if (eq > 0) options.set(token.slice(0, eq), token.slice(eq + 1));
    else positional.push(token);
  }
  return { name, positional, options };
}

const whoNames = new Map(
  Object.entries(cast).map(([name, caller]) => [principal(caller), name] as const),
);

function who(command: Command, fallback: Who): (typeof cast)[Who] {
  const name = command.options.get('by') ?? fallback;
  if (!(name in cast)) throw new Error(`unknown identity ${name}`);
  return cast[name as Who];
}

function arg(command: Command, index: number): string {
  const value = command.positional[index];
  if (value === undefined) throw new Error(`${command.name}: argument ${index + 1} missing`);
  return value;
}

function option(command: Command, key: string, fallback?: string): string {
  const value = command.options.get(key) ?? fallback;
  if (value === undefined) throw new Error(`${command.name}: ${key}= missing`);
  return value;
}

function walletOf(world: World, name: string): { id: string; keys: WalletKeys } {
  const wallet = world.wallets.get(name);
  if (wallet === undefined) throw new Error(`unknown wallet ${name}`);
  return wallet;
}

function withdrawalOf(world: World, name: string): string {
  const id = world.withdrawals.get(name);
  if (id === undefined) throw new Error(`unknown withdrawal ${name}`);
  return id;
}

function duration(text: string): number {
  const match = /^([0-9]+)(ms|s|m|h|d)$/.exec(text);
  if (match === null) throw new Error(`bad duration ${text}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'ms'];
  return Number(match[1]) * unit;
}

/** A refused action must leave every custody value as it was. */
function act(
  world: World,
  caller: (typeof cast)[Who],
  action: string,
  args: Record<string, unknown>,
  show: (result: Record<string, unknown>) => string,
  trigger?: string,
): string {
  const before = world.driver.snapshot();
  const outcome = world.driver.run(caller, action, args, trigger === undefined ? {} : { trigger });
  if (!outcome.ok) {
    expect(world.driver.snapshot(), `${action} refused but changed state`).toBe(before);
    return `error ${outcome.code}`;
  }
  return show(outcome.result);
}

function must(outcome: Outcome): Record<string, unknown> {
  if (!outcome.ok) throw new Error(`${outcome.code}: ${outcome.message}`);
  return outcome.result;
}

type Rec = Record<string, unknown>;
const sub = (value: Rec, key: string): Rec => value[key] as Rec;

function showWithdrawal(result: Rec): string {
  const w = sub(result, 'withdrawal');
  const approvals = (w['approvals'] as unknown[]).length;
  const over = (w['overLimit'] as string[]).join(',');
  const parts = [`ok ${String(w['state'])}`];
  if (over !== '') parts.push(`over=${over}`);
  if (approvals > 0 || w['state'] === 'pending_approval')
    parts.push(`approvals=${approvals}/${String(w['approvalsRequired'])}`);
  if (result['replayed'] === true) parts.push('replayed');
  return parts.join(' ');
}

function showChange(result: Rec): string {
  const c = sub(result, 'change');
  return `ok ${String(c['state'])} approvals=${(c['approvals'] as unknown[]).length}/${String(c['quorum'])}`;
}

function showDeposit(result: Rec): string {
  const d = sub(result, 'deposit');
  const parts = [`ok ${String(d['state'])} confirmations=${String(d['confirmations'])}`];
  if (result['existing'] === true) parts.push('existing');
  if (d['reorgBeyondDepth'] === true) parts.push('reorg-beyond-depth');
  return parts.join(' ');
}

function changeOf(world: World, command: Command): Record<string, unknown> {
  const kind = option(command, 'kind');
  switch (kind) {
    case 'whitelist_add':
      return {
        kind,
        address: cofferAddress(option(command, 'address')),
        ...(command.options.has('delay') ? { delayMs: duration(option(command, 'delay')) } : {}),
      };
    case 'whitelist_remove':
      return { kind, address: cofferAddress(option(command, 'address')) };
    case 'set_limits':
      return {
        kind,
        asset: option(command, 'asset', 'COF'),
        perTransaction: option(command, 'per'),
        rolling24h: option(command, 'rolling'),
      };
    case 'set_approvals':
      return { kind, approvalsRequired: Number(option(command, 'k')) };
    case 'set_whitelist_enabled':
      return { kind, enabled: option(command, 'enabled') === 'true' };
    case 'set_frozen':
      return { kind, frozen: option(command, 'frozen') === 'true' };
    default:
      throw new Error(`unknown change kind ${kind} (${world.changes.size} changes so far)`);
  }
}

function depositArgs(command: Command): Record<string, unknown> {
  return { chain: 'coffer', chainTxId: arg(command, 0), outputIndex: 0 };
}

const handlers: Readonly<Record<string, (world: World, command: Command) => string>> = {
  params: (world, command) => {
    world.driver.setParams(baseParams(JSON.parse(command.positional.join(' ') || '{}') as Rec));
    return 'ok';
  },
  advance: (world, command) => {
    world.driver.advance(duration(arg(command, 0)));
    return 'ok';
  },
  wallet: (world, command) => {
    const name = arg(command, 0);
    const keys = walletKeys('P-256', name);
    return act(
      world,
      who(command, 'svc'),
      'create_wallet',
      { chain: 'coffer', label: name, keys: keysArg(keys, 'P-256') },
      (result) => {
        world.wallets.set(name, { id: String(sub(result, 'wallet')['id']), keys });
        return 'ok';
      },
    );
  },
  address: (world, command) =>
    act(
      world,
      who(command, 'svc'),
      'add_address',
      {
        walletId: walletOf(world, arg(command, 0)).id,
        address: cofferAddress(arg(command, 1)),
        ...(command.options.has('account') ? { account: option(command, 'account') } : {}),
      },
      (result) => (result['existing'] === true ? 'ok existing' : 'ok'),
    ),
  'deposit-seen': (world, command) =>
    act(
      world,
      who(command, 'worker'),
      'deposit_seen',
      {
        ...depositArgs(command),
        address: cofferAddress(option(command, 'to')),
        asset: option(command, 'asset', 'COF'),
        amount: option(command, 'amount'),
        blockHeight: Number(option(command, 'block', '100')),
        blockHash: `block-${option(command, 'block', '100')}`,
      },
      showDeposit,
    ),
  'deposit-confirmations': (world, command) =>
    act(
      world,
      who(command, 'worker'),
      'deposit_confirmations',
      { ...depositArgs(command), confirmations: Number(option(command, 'n')) },
      showDeposit,
    ),
  'deposit-dropped': (world, command) =>
    act(world, who(command, 'worker'), 'deposit_dropped', depositArgs(command), showDeposit),
  propose: (world, command) => {
    const name = arg(command, 0);
    return act(
      world,
      who(command, 'svc'),
      'propose_policy',
      { walletId: walletOf(world, arg(command, 1)).id, change: changeOf(world, command) },
      (result) => {
        world.changes.set(name, String(sub(result, 'change')['id']));
        return showChange(result);
      },
    );
  },
  govern: (world, command) =>
    act(
      world,
      who(command, 'admin1'),
      'apply_policy',
      { walletId: walletOf(world, arg(command, 0)).id, change: changeOf(world, command) },
      showChange,
      command.options.get('trigger') ?? governanceTrigger,
    ),
  'approve-policy': (world, command) =>
    act(
      world,
      who(command, 'admin1'),
      'approve_policy',
      { changeId: world.changes.get(arg(command, 0)) ?? arg(command, 0) },
      showChange,
    ),
  'reject-policy': (world, command) =>
    act(
      world,
      who(command, 'admin1'),
      'reject_policy',
      { changeId: world.changes.get(arg(command, 0)) ?? arg(command, 0) },
      showChange,
    ),
  'expire-policy': (world, command) =>
    act(
      world,
      who(command, 'peer'),
      'expire_policy',
      { changeId: world.changes.get(arg(command, 0)) ?? arg(command, 0) },
      showChange,
    ),
  request: (world, command) => {
    const name = arg(command, 0);
    return act(
      world,
      who(command, 'svc'),
      'request',
      {
        walletId: walletOf(world, arg(command, 1)).id,
        asset: option(command, 'asset', 'COF'),
        amount: option(command, 'amount'),
        destination: cofferAddress(option(command, 'to')),
        idempotencyKey: option(command, 'key', name),
      },
      (result) => {
        const id = String(sub(result, 'withdrawal')['id']);
        const known = world.withdrawals.get(name);
        if (known !== undefined && known !== id) return `${showWithdrawal(result)} (another id!)`;
        world.withdrawals.set(name, id);
        return showWithdrawal(result);
      },
    );
  },
  approve: (world, command) =>
    act(
      world,
      who(command, 'admin1'),
      'approve',
      { withdrawalId: withdrawalOf(world, arg(command, 0)) },
      showWithdrawal,
    ),
  reject: (world, command) =>
    act(
      world,
      who(command, 'admin1'),
      'reject',
      { withdrawalId: withdrawalOf(world, arg(command, 0)) },
      showWithdrawal,
    ),
  build: (world, command) => {
    const id = withdrawalOf(world, arg(command, 0));
    const tx = cofferTx(id);
    return act(
      world,
      who(command, 'worker'),
      'build',
      {
        withdrawalId: id,
        unsignedTx: tx.unsignedTx,
        digests: [command.options.get('digest') === 'bad' ? 'cd'.repeat(32) : tx.digests[0]],
      },
      showWithdrawal,
    );
  },
  'service-sign': (world, command) => sign(world, command, 'service_sign', 'service', 'svc'),
  'platform-sign': (world, command) => sign(world, command, 'platform_sign', 'platform', 'worker'),
  broadcast: (world, command) =>
    act(
      world,
      who(command, 'worker'),
      'broadcast',
      { withdrawalId: withdrawalOf(world, arg(command, 0)), chainTxId: `chain-${arg(command, 0)}` },
      showWithdrawal,
    ),
  confirm: (world, command) =>
    act(
      world,
      who(command, 'worker'),
      'confirm',
      { withdrawalId: withdrawalOf(world, arg(command, 0)), blockHeight: 200, blockHash: 'b-200' },
      showWithdrawal,
    ),
  fail: (world, command) =>
    act(
      world,
      who(command, 'worker'),
      'fail',
      { withdrawalId: withdrawalOf(world, arg(command, 0)), reason: 'chain refused it' },
      showWithdrawal,
    ),
  expire: (world, command) =>
    act(
      world,
      who(command, 'peer'),
      'expire',
      { withdrawalId: withdrawalOf(world, arg(command, 0)) },
      showWithdrawal,
    ),
  balance: (world, command) => {
    const result = must(
      world.driver.query(cast.admin3, 'balances', {
        walletId: walletOf(world, arg(command, 0)).id,
      }),
    );
    const asset = option(command, 'asset', 'COF');
    const entry = (result['balances'] as Rec[]).find((item) => item['asset'] === asset);
    if (entry === undefined) return 'none';
    return `total=${String(entry['total'])} reserved=${String(entry['reserved'])} available=${String(entry['available'])} deficit=${String(entry['deficit'])}`;
  },
  'wallet-state': (world, command) => {
    const result = must(
      world.driver.query(undefined, 'wallet', { walletId: walletOf(world, arg(command, 0)).id }),
    );
    const wallet = sub(result, 'wallet');
    return `frozen=${String(wallet['frozen'])} alerts=${(wallet['alerts'] as unknown[]).length}`;
  },
  whitelist: (world, command) => {
    const result = must(
      world.driver.query(cast.admin3, 'whitelist', {
        walletId: walletOf(world, arg(command, 0)).id,
      }),
    );
    const entries = result['whitelist'] as Rec[];
    const start = 1_800_000_000_000;
    return [
      `enabled=${String(result['enabled'])} entries=${entries.length}`,
      ...entries.map(
        (entry) =>
          `${String(entry['address']).slice(0, 16)}… effective=+${(Number(entry['effectiveAt']) - start) / 1000}s`,
      ),
    ].join('\n');
  },
  history: (world, command) => {
    const kind = arg(command, 0);
    const name = arg(command, 1);
    const id =
      kind === 'withdrawal'
        ? withdrawalOf(world, name)
        : kind === 'wallet'
          ? walletOf(world, name).id
          : kind === 'policy'
            ? (world.changes.get(name) ?? name)
            : `coffer/${name}/0`;
    const result = must(world.driver.query(cast.admin3, 'history', { kind, id }));
    return (result['entries'] as Rec[])
      .map(
        (entry) =>
          `${String(entry['action'])} -> ${String(entry['state'])} by=${whoNames.get(String(entry['by'])) ?? String(entry['by'])}`,
      )
      .join('\n');
  },
  pending: (world) => {
    const result = must(world.driver.query(cast.admin3, 'pending_approvals'));
    const names = new Map([...world.withdrawals].map(([name, id]) => [id, name] as const));
    const changes = new Map([...world.changes].map(([name, id]) => [id, name] as const));
    return `withdrawals=${(result['withdrawals'] as Rec[]).map((w) => names.get(String(w['id'])) ?? '?').join(',')} changes=${(result['policyChanges'] as Rec[]).map((c) => changes.get(String(c['id'])) ?? '?').join(',')}`;
  },
};

function sign(
  world: World,
  command: Command,
  action: 'service_sign' | 'platform_sign',
  defaultKey: 'service' | 'platform',
  defaultWho: Who,
): string {
  const id = withdrawalOf(world, arg(command, 0));
  const record = must(world.driver.query(undefined, 'withdrawal', { withdrawalId: id }));
  const withdrawal = sub(record, 'withdrawal');
  const wallet = [...world.wallets.values()].find((item) => item.id === withdrawal['walletId']);
  if (wallet === undefined) throw new Error('wallet of withdrawal');
  const key = option(command, 'key', defaultKey) as keyof WalletKeys;
  const digest = (withdrawal['digests'] as string[] | null)?.[0] ?? cofferTx(id).digests[0];
  return act(
    world,
    who(command, defaultWho),
    action,
    { withdrawalId: id, signatures: [wallet.keys[key].sign(digest)] },
    showWithdrawal,
  );
}

// --- the files -------------------------------------------------------------------------------

const files = readdirSync(dir)
  .filter((name) => name.endsWith('.txt'))
  .sort();

describe('custody scenarios', () => {
  it('has scenario files', () => {
    expect(files.length).toBeGreaterThanOrEqual(4);
  });
  for (const file of files) {
    it(file, () => {
      const full = path.join(dir, file);
      const text = readFileSync(full, 'utf8');
      const blocks = parse(text);
      const world: World = {
        driver: createDriver({ params: baseParams() }),
        wallets: new Map(),
        withdrawals: new Map(),
        changes: new Map(),
      };
      const outputs = blocks.map((block) => {
        const command = tokenize(block.command);
        const handler = handlers[command.name];
        if (handler === undefined) throw new Error(`${file}:${block.line}: unknown command`);
        return handler(world, command);
      });
      if (rewrite) {
        writeFileSync(full, format(blocks, outputs));
        return;
      }
      blocks.forEach((block, i) => {
        expect(outputs[i], `${file}:${block.line}: ${block.command}`).toBe(block.expected);
      });
    });
  }
});

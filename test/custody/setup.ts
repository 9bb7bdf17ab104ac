// A funded coffer wallet with a whitelisted destination and limits, built through the app's own
// actions (the path a service and its admins take), for the tests that start from there.
import type { Caller } from '../../src/contracts/index.js';
import {
  cast,
  cofferAddress,
  keysArg,
  walletKeys,
  type Driver,
  type Outcome,
  type WalletKeys,
} from './driver.js';

export function must(outcome: Outcome): Record<string, unknown> {
  if (!outcome.ok) throw new Error(`${outcome.code}: ${outcome.message}`);
  return outcome.result;
}

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the test names the shape it expects
export function field<T = string>(value: Record<string, unknown>, ...path: string[]): T {
  let at: unknown = value;
  for (const key of path) at = (at as Record<string, unknown>)[key];
  return at as T;
}

/** Proposes a policy change and has admin2 and admin3 approve it (quorum 2). */
export function changePolicy(
  driver: Driver,
  walletId: string,
  change: Record<string, unknown>,
  by: Caller = cast.svc,
): string {
  const id = field(must(driver.run(by, 'propose_policy', { walletId, change })), 'change', 'id');
  must(driver.run(cast.admin2, 'approve_policy', { changeId: id }));
  must(driver.run(cast.admin3, 'approve_policy', { changeId: id }));
  return id;
}

let depositCount = 0;

/** Deposits `amount` to the wallet's first address and confirms it to depth 3. */
export function fund(driver: Driver, address: string, amount: string, asset = 'COF'): string {
  const chainTxId = `deposit-${++depositCount}`;
  const output = { chain: 'coffer', chainTxId, outputIndex: 0 };
  must(
    driver.run(cast.worker, 'deposit_seen', {
      ...output,
      address,
      asset,
      amount,
      blockHeight: 100,
      blockHash: 'block-100',
    }),
  );
  must(driver.run(cast.worker, 'deposit_confirmations', { ...output, confirmations: 3 }));
  return `coffer/${chainTxId}/0`;
}

export type Ready = {
  readonly walletId: string;
  readonly keys: WalletKeys;
  readonly depositAddress: string;
  readonly destination: string;
};

export function readyWallet(
  driver: Driver,
  options: {
    readonly balance?: string;
    readonly perTransaction?: string;
    readonly rolling24h?: string;
    readonly approvals?: number;
    readonly seed?: string;
  } = {},
): Ready {
  const keys = walletKeys('P-256', options.seed ?? 'ready');
  const walletId = field(
    must(
      driver.run(cast.svc, 'create_wallet', {
        chain: 'coffer',
        label: 'hot',
        keys: keysArg(keys, 'P-256'),
      }),
    ),
    'wallet',
    'id',
  );
  const depositAddress = cofferAddress(`deposit ${walletId}`);
  must(driver.run(cast.svc, 'add_address', { walletId, address: depositAddress, account: 'c1' }));
  fund(driver, depositAddress, options.balance ?? '1000');
  const destination = cofferAddress('exchange');
  changePolicy(driver, walletId, { kind: 'whitelist_add', address: destination, label: 'cold' });
  changePolicy(driver, walletId, {
    kind: 'set_limits',
    asset: 'COF',
    perTransaction: options.perTransaction ?? '100',
    rolling24h: options.rolling24h ?? '250',
  });
  if (options.approvals !== undefined)
    changePolicy(driver, walletId, { kind: 'set_approvals', approvalsRequired: options.approvals });
  return { walletId, keys, depositAddress, destination };
}

export function balance(driver: Driver, walletId: string, asset = 'COF'): Record<string, string> {
  const balances = field<Record<string, string>[]>(
    must(driver.query(cast.svc, 'balances', { walletId })),
    'balances',
  );
  return balances.find((entry) => entry['asset'] === asset) ?? {};
}

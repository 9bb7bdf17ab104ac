// The custody worker's deposit scan with its cursor on disk (src/custody/worker.ts with
// worker-state.ts), over the real custody and token apps (test/custody/driver.ts) and the real
// coffer chain worker: a restarted worker reports only the deposits made since it stopped, the
// saved cursor never passes a deposit whose reports the ledger did not commit, and a corrupt
// state file stops the worker with its code before anything is submitted.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller } from '../../src/contracts/index.js';
import { multisigAccountOf, tokenApp } from '../../src/contracts/token.js';
import { createCofferChain } from '../../src/custody/chains/coffer.js';
import type { ChainWorker, LedgerPort, LedgerTxResult } from '../../src/custody/chains/types.js';
import { openWorkerState, workerStateFile } from '../../src/custody/worker-state.js';
import {
  createCustodyWorker,
  type CursorStore,
  type CustodyReads,
  type SignerPort,
} from '../../src/custody/worker.js';
import { baseParams, cast, createDriver, keysArg, walletKeys } from './driver.js';
import { field, must } from './setup.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-custody-worker-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Answers a submit instead of the ledger (a refusal, a lost answer), or undefined to run it. */
type Interposer = (action: string, args: Record<string, unknown>) => LedgerTxResult | undefined;

/** A ledger with a funded-by-mints coffer wallet, the worker's ports over it, and what it saw. */
function network() {
  const driver = createDriver({ params: baseParams(), apps: [tokenApp] });
  const committed = new Map<string, number>();
  const run = (who: Caller, action: string, args: Record<string, unknown>, app = 'custody') => {
    const outcome = driver.run(who, action, args, { app });
    if (outcome.ok) committed.set(outcome.txId, committed.size + 1);
    return outcome;
  };
  const walletId = field(
    must(
      run(cast.svc, 'create_wallet', {
        chain: 'coffer',
        label: 'hot',
        keys: keysArg(walletKeys('P-256', 'worker'), 'P-256'),
      }),
    ),
    'wallet',
    'id',
  );
  const account = multisigAccountOf(walletId);
  /** A transfer into the wallet's account (a deposit on the coffer chain); its txId. */
  const deposit = (amount: string): string => {
    const outcome = run(cast.admin1, 'mint', { symbol: 'CFR', to: account, amount }, 'token');
    must(outcome);
    return outcome.txId;
  };

  /** `app/action` of every transaction the worker submitted, in order. */
  const submitted: string[] = [];
  const state = { interpose: (() => undefined) as Interposer };
  const ledger: LedgerPort = {
    submit: (app, action, args) => {
      submitted.push(`${app}/${action}`);
      const answer = state.interpose(action, args);
      if (answer !== undefined) return Promise.resolve(answer);
      const outcome = run(cast.worker, action, args, app);
      return Promise.resolve(
        outcome.ok
          ? { txId: outcome.txId, status: 'Committed', seqno: committed.get(outcome.txId) ?? 0 }
          : { txId: outcome.txId, status: 'Invalid', code: outcome.code, message: outcome.message },
      );
    },
    status: (txId) => {
      const seqno = committed.get(txId);
      return Promise.resolve(
        seqno === undefined ? { txId, status: 'Unknown' } : { txId, status: 'Committed', seqno },
      );
    },
    query: (app, name, args = {}) => {
      const query = tokenApp.queries[name];
      if (app !== 'token' || query === undefined) throw new Error(`no query ${app}/${name}`);
      return Promise.resolve(
        query.run({ caller: cast.worker, kv: { get: driver.store.read } }, args),
      );
    },
    receipt: () => Promise.reject(new Error('no receipts in this test')),
  };
  const custody: CustodyReads = {
    wallet: (id) => Promise.resolve(must(driver.query(cast.worker, 'wallet', { walletId: id }))),
    withdrawals: (filter) =>
      Promise.resolve(must(driver.query(cast.worker, 'withdrawals', filter))),
    history: () => Promise.reject(new Error('no history in this test')),
    chainWallets: (chain, cursor) =>
      Promise.resolve(must(driver.query(cast.worker, 'chain_wallets', { chain, cursor }))),
  };
  const signer: SignerPort = { sign: () => Promise.reject(new Error('nothing to sign here')) };

  /** One worker process: a fresh chain worker and worker loop, the cursor from `cursorStore`. */
  const worker = (cursorStore?: CursorStore, wrap = (chain: ChainWorker): ChainWorker => chain) => {
    const errors: string[] = [];
    const loop = createCustodyWorker({
      ledger,
      custody,
      signer,
      chain: wrap(createCofferChain(ledger)),
      ...(cursorStore === undefined ? {} : { cursorStore }),
      onEvent: (event) => {
        if (event.kind === 'error') errors.push(event.error);
      },
    });
    return { step: loop.step, errors };
  };
  /** The deposit reports (deposit_seen) the worker submitted since the last call. */
  const reports = (): string[] => {
    const seen = submitted.filter((item) => item === 'custody/deposit_seen');
    submitted.length = 0;
    return seen;
  };
  return { deposit, submitted, reports, worker, state };
}

const cursorOf = async (dir: string): Promise<unknown> =>
  (JSON.parse(await readFile(workerStateFile(dir, 'coffer'), 'utf8')) as { cursor: unknown })
    .cursor;

describe('custody worker: the deposit cursor survives a restart', () => {
  it('a restarted worker reports only the deposits made since it stopped', async () => {
    const dir = path.join(work, 'restart');
    const net = network();
    for (const amount of ['5', '7', '11']) net.deposit(amount);

    const first = net.worker(await openWorkerState(dir, 'coffer'));
    expect(await first.step()).toMatchObject({ deposits: 3, errors: 0 });
    expect(net.reports()).toHaveLength(3);
    expect(await cursorOf(dir)).toBe('3');

    net.deposit('13');
    net.deposit('17');
    const second = net.worker(await openWorkerState(dir, 'coffer'));
    expect(await second.step()).toMatchObject({ deposits: 2, errors: 0 });
    // Every transaction of the second run: making the wallet ready again (idempotent), then two
    // reports of each new deposit and nothing for the three reported before the restart.
    expect(net.submitted).toEqual([
      'token/register_multisig',
      'custody/add_address',
      'custody/deposit_seen',
      'custody/deposit_confirmations',
      'custody/deposit_seen',
      'custody/deposit_confirmations',
    ]);
    expect(net.reports()).toHaveLength(2);
    expect(await cursorOf(dir)).toBe('5');
    expect(second.errors).toEqual([]);

    // Nothing new: nothing submitted.
    expect(await second.step()).toMatchObject({ deposits: 0 });
    expect(net.submitted).toEqual([]);

    // What the file saves: a worker without it starts over and reports all five again.
    expect(await net.worker().step()).toMatchObject({ deposits: 5, errors: 0 });
    expect(net.reports()).toHaveLength(5);
  });

  // The ledger refuses the second deposit's report, or the report's answer is lost: the cursor on
  // disk stays after the first deposit, and a restart reports the second and third.
  const failures: [string, (action: string, txId: string) => LedgerTxResult | undefined][] = [
    [
      'deposit_seen refused',
      (action, txId) =>
        action === 'deposit_seen'
          ? { txId, status: 'Invalid', code: 'CUSTODY_E_CAPACITY', message: 'full' }
          : undefined,
    ],
    [
      'deposit_confirmations refused after deposit_seen committed',
      (action, txId) =>
        action === 'deposit_confirmations'
          ? { txId, status: 'Invalid', code: 'CUSTODY_E_CAPACITY', message: 'full' }
          : undefined,
    ],
    [
      'no answer to deposit_seen (commit unknown)',
      (action, txId) => (action === 'deposit_seen' ? { txId, status: 'Unknown' } : undefined),
    ],
  ];

  it.each(failures)('never saves past an unacknowledged deposit: %s', async (name, refuse) => {
    const dir = path.join(work, name.replaceAll(/[^a-z]+/g, '-'));
    const net = network();
    const [, second] = [net.deposit('5'), net.deposit('7'), net.deposit('11')];
    net.state.interpose = (action, args) =>
      args['chainTxId'] === second ? refuse(action, 'ff'.repeat(32)) : undefined;

    const first = net.worker(await openWorkerState(dir, 'coffer'));
    expect(await first.step()).toMatchObject({ deposits: 1, errors: 1 });
    expect(first.errors).toEqual([expect.stringContaining(`custody deposit_`) as unknown]);
    expect(await cursorOf(dir)).toBe('1');
    // The same process retries the refused deposit on its next pass, and stays behind it.
    net.reports();
    expect(await first.step()).toMatchObject({ deposits: 0, errors: 1 });
    expect(net.reports()).toHaveLength(1);
    expect(await cursorOf(dir)).toBe('1');

    // Restarted once the ledger takes the report: the second and third deposits, not the first.
    net.state.interpose = () => undefined;
    const restarted = net.worker(await openWorkerState(dir, 'coffer'));
    expect(await restarted.step()).toMatchObject({ deposits: 2, errors: 0 });
    expect(net.reports()).toHaveLength(2);
    expect(await cursorOf(dir)).toBe('3');
  });

  it('scans past a deposit whose report the ledger refused for good, saying so', async () => {
    const dir = path.join(work, 'refused-for-good');
    const net = network();
    const [, odd] = [net.deposit('5'), net.deposit('7'), net.deposit('11')];
    net.state.interpose = (action, args) =>
      action === 'deposit_seen' && args['chainTxId'] === odd
        ? {
            txId: 'ee'.repeat(32),
            status: 'Invalid',
            code: 'CUSTODY_E_DEPOSIT_CONFLICT',
            message: 'reported before as something else',
          }
        : undefined;
    const run = net.worker(await openWorkerState(dir, 'coffer'));
    expect(await run.step()).toMatchObject({ deposits: 2, refused: 1, errors: 0 });
    expect(await cursorOf(dir)).toBe('3');
    expect(run.errors).toEqual([
      expect.stringMatching(/CUSTODY_E_DEPOSIT_CONFLICT.*the scan goes past it/) as unknown,
    ]);
    // Not reported again on the next pass.
    net.reports();
    expect(await run.step()).toMatchObject({ deposits: 0, refused: 0 });
    expect(net.reports()).toEqual([]);
  });

  it('reports a deposit the scan shows again only when its block or confirmations changed', async () => {
    const net = network();
    net.deposit('5');
    // A chain whose cursor waits below the depth shows the same deposit on every pass.
    let confirmations = 1;
    const waiting = (chain: ChainWorker): ChainWorker => ({
      ...chain,
      scanDeposits: async () => {
        const scan = await chain.scanDeposits(null);
        return {
          deposits: scan.deposits.map((item) => ({ ...item, confirmations, next: '0' })),
          cursor: '0',
        };
      },
    });
    const run = net.worker(undefined, waiting);
    expect(await run.step()).toMatchObject({ deposits: 1 });
    expect(net.reports()).toHaveLength(1);
    expect(await run.step()).toMatchObject({ deposits: 0 });
    expect(net.reports()).toEqual([]);
    confirmations = 2;
    expect(await run.step()).toMatchObject({ deposits: 1 });
    expect(net.reports()).toHaveLength(1);
  });

  it('a corrupt state file stops the worker with CUSTODY_E_WORKER_STATE_CORRUPT', async () => {
    const dir = path.join(work, 'corrupt');
    const net = network();
    net.deposit('5');
    expect(await net.worker(await openWorkerState(dir, 'coffer')).step()).toMatchObject({
      deposits: 1,
    });
    const file = workerStateFile(dir, 'coffer');
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.slice(0, text.length - 6));
    net.submitted.length = 0;
    await expect(openWorkerState(dir, 'coffer')).rejects.toMatchObject({
      code: 'CUSTODY_E_WORKER_STATE_CORRUPT',
      message: expect.stringMatching(
        /is not JSON .*delete it to rescan coffer deposits/,
      ) as unknown,
    });
    expect(net.submitted).toEqual([]);
  });
});

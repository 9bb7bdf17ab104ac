// The ports a custody worker loop needs (src/custody/worker.ts: LedgerPort, CustodyReads), as
// a worker identity over the in-process custody app (test/custody/driver.ts), for the loop
// tests on real chains.
import type { Caller } from '../../src/contracts/index.js';
import type { LedgerPort } from '../../src/custody/chains/types.js';
import type { CustodyReads } from '../../src/custody/worker.js';
import type { Driver } from './driver.js';
import { must } from './setup.js';

/** The ledger ports of the worker identity over the in-process custody app. */
export function workerPorts(
  driver: Driver,
  worker: Caller,
): { ledger: LedgerPort; custody: CustodyReads } {
  const seqnos = new Map<string, number>();
  const ledger: LedgerPort = {
    submit: (app, action, args) => {
      const outcome = driver.run(worker, action, args, { app });
      if (outcome.ok) seqnos.set(outcome.txId, seqnos.size + 1);
      return Promise.resolve(
        outcome.ok
          ? { txId: outcome.txId, status: 'Committed', seqno: seqnos.get(outcome.txId) ?? 0 }
          : { txId: outcome.txId, status: 'Invalid', code: outcome.code, message: outcome.message },
      );
    },
    status: (txId) => {
      const seqno = seqnos.get(txId);
      return Promise.resolve(
        seqno === undefined ? { txId, status: 'Unknown' } : { txId, status: 'Committed', seqno },
      );
    },
    query: (_app, name, args = {}) => {
      const outcome = driver.query(worker, name, args);
      return outcome.ok
        ? Promise.resolve(outcome.result)
        : Promise.reject(Object.assign(new Error(outcome.message), { code: outcome.code }));
    },
    receipt: (txId) => Promise.resolve({ txId }),
  };
  const custody: CustodyReads = {
    wallet: (id) => Promise.resolve(must(driver.query(worker, 'wallet', { walletId: id }))),
    withdrawals: (filter) => Promise.resolve(must(driver.query(worker, 'withdrawals', filter))),
    history: (kind, id) => Promise.resolve(must(driver.query(worker, 'history', { kind, id }))),
    chainWallets: (chain, cursor) =>
      Promise.resolve(must(driver.query(worker, 'chain_wallets', { chain, cursor }))),
  };
  return { ledger, custody };
}

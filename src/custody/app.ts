// The custody app (issue 7, decision 0021): a built-in app on the ledger, pure like every app
// (the KV store through its context, time from `context.time`, nothing else). Every step of
// every object is a transaction, so its receipt proves it.
import type { App } from '../contracts/index.js';
import { depositConfirmations, depositDropped, depositSeen } from './deposits.js';
import {
  applyPolicy,
  approvePolicy,
  expirePolicy,
  proposePolicy,
  rejectPolicy,
} from './policy-actions.js';
import { custodyQueries } from './queries.js';
import { addAddress, createWallet } from './wallets.js';
import {
  approveWithdrawal,
  broadcastWithdrawal,
  buildWithdrawal,
  confirmWithdrawal,
  expireWithdrawal,
  failWithdrawal,
  rebroadcastWithdrawal,
  rebuildWithdrawal,
  platformSign,
  rejectWithdrawal,
  requestWithdrawal,
  serviceSign,
} from './withdrawals.js';

export const custodyAppName = 'custody';

export const custodyApp: App = {
  name: custodyAppName,
  version: '1.0.0',
  summary:
    'Digital-asset custody: 2-of-3 wallets per chain, deposits, policy-checked withdrawals with admin approvals, an audit history of every step.',
  actions: {
    create_wallet: createWallet,
    add_address: addAddress,
    propose_policy: proposePolicy,
    approve_policy: approvePolicy,
    reject_policy: rejectPolicy,
    expire_policy: expirePolicy,
    apply_policy: applyPolicy,
    request: requestWithdrawal,
    approve: approveWithdrawal,
    reject: rejectWithdrawal,
    build: buildWithdrawal,
    service_sign: serviceSign,
    platform_sign: platformSign,
    broadcast: broadcastWithdrawal,
    rebuild: rebuildWithdrawal,
    rebroadcast: rebroadcastWithdrawal,
    confirm: confirmWithdrawal,
    fail: failWithdrawal,
    expire: expireWithdrawal,
    deposit_seen: depositSeen,
    deposit_confirmations: depositConfirmations,
    deposit_dropped: depositDropped,
  },
  queries: custodyQueries,
};

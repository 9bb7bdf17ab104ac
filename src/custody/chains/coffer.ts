// The ledger-native chain: custody wallets on chain `coffer` hold tokens of the token app in
// their multisig account `ms:<walletId>` (src/contracts/token.ts). A withdrawal is a
// `multisig_transfer` whose canonical bytes are the unsigned transaction and whose SHA-256 is
// the digest (what the custody app checks at `build`); its nonce is the withdrawal id, so one
// withdrawal can move funds once. A committed transaction is final: depth 1, no reorganisation.
import {
  multisigAccountOf,
  multisigTransferBytes,
  multisigTransferDigest,
} from '../../contracts/token.js';
import { cofferError } from '../../errors/index.js';
import type { WalletRecord, WithdrawalRecord } from '../types.js';
import type {
  BuiltTx,
  ChainTxStatus,
  ChainWorker,
  DepositScan,
  LedgerPort,
  SeenDeposit,
} from './types.js';

/** Incoming transfers read per scan (the token app's page limit). */
export const cofferScanPageMax = 256;

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const walletOfAccount = /^ms:([0-9a-f]{64})$/;

type IncomingTransfer = {
  readonly index: number;
  readonly txId: string;
  readonly symbol: string;
  readonly to: string;
  readonly amount: string;
};

/** The unsigned transfer of a withdrawal: pure, the same bytes on every worker. */
export function buildCofferTransfer(withdrawal: WithdrawalRecord): BuiltTx {
  const bytes = multisigTransferBytes({
    symbol: withdrawal.asset,
    from: multisigAccountOf(withdrawal.walletId),
    to: withdrawal.destination,
    amount: withdrawal.amount,
    nonce: withdrawal.id,
  });
  return { unsignedTx: hex(bytes), digests: [hex(multisigTransferDigest(bytes))] };
}

function committed(result: { status: string; code?: string; message?: string }, what: string) {
  if (result.status === 'Committed') return;
  throw cofferError(
    'APP_E_FAILED',
    `${what}: ${result.status}${result.code === undefined ? '' : ` ${result.code}`} ${result.message ?? ''}`.trim(),
  );
}

/** The coffer chain worker over a node, as the worker identity `ledger` signs with. */
export function createCofferChain(ledger: LedgerPort): ChainWorker {
  const prepared = new Set<string>();
  return {
    chain: 'coffer',
    confirmations: 1,
    prepareWallet: async (wallet: WalletRecord) => {
      const account = multisigAccountOf(wallet.id);
      if (prepared.has(wallet.id)) return account;
      committed(
        await ledger.submit(
          'token',
          'register_multisig',
          { walletId: wallet.id },
          { wait: 'commit' },
        ),
        `register_multisig ${wallet.id}`,
      );
      committed(
        await ledger.submit(
          'custody',
          'add_address',
          { walletId: wallet.id, address: account },
          { wait: 'commit' },
        ),
        `add_address ${account}`,
      );
      prepared.add(wallet.id);
      return account;
    },
    build: (withdrawal) => Promise.resolve(buildCofferTransfer(withdrawal)),
    broadcast: async (withdrawal, _wallet, signatures) => {
      if (withdrawal.unsignedTx === null)
        throw new Error(`custody worker invariant: withdrawal ${withdrawal.id} is not built`);
      // Broadcast again after a crash between the transfer and its `broadcast` record: the
      // nonce (the withdrawal id) is spent, so the funds moved in that transaction.
      const spentBy = async (): Promise<string | null> =>
        (
          (await ledger.query('token', 'multisig_nonce', {
            account: multisigAccountOf(withdrawal.walletId),
            nonce: withdrawal.id,
          })) as { spentBy: string | null }
        ).spentBy;
      const earlier = await spentBy();
      if (earlier !== null) return { chainTxId: earlier };
      const result = await ledger.submit(
        'token',
        'multisig_transfer',
        // One digest: each key's list holds its one signature.
        { tx: withdrawal.unsignedTx, signatures: signatures.map((list) => list[0] ?? '') },
        { wait: 'commit' },
      );
      if (result.status === 'Committed') return { chainTxId: result.txId };
      if (result.status === 'Invalid') {
        const racing = await spentBy();
        if (racing !== null) return { chainTxId: racing };
        return { failed: `${result.code ?? 'Invalid'}: ${result.message ?? ''}`.trim() };
      }
      throw cofferError(
        'NODE_E_UNAVAILABLE',
        `multisig_transfer ${result.txId} is ${result.status}`,
      );
    },
    follow: async (chainTxId): Promise<ChainTxStatus> => {
      const status = await ledger.status(chainTxId);
      if (status.status === 'Committed' && status.seqno !== undefined)
        return {
          state: 'confirmed',
          block: { height: status.seqno, hash: chainTxId },
          confirmations: 1,
        };
      if (status.status === 'Invalid')
        return {
          state: 'failed',
          reason: `${status.code ?? 'Invalid'} ${status.message ?? ''}`.trim(),
        };
      return { state: 'pending' };
    },
    scanDeposits: async (cursor): Promise<DepositScan> => {
      const from = cursor === null ? 0 : Number(cursor);
      const page = (await ledger.query('token', 'multisig_incoming', {
        from,
        limit: cofferScanPageMax,
      })) as { transfers: IncomingTransfer[]; next: number };
      const deposits: SeenDeposit[] = [];
      for (const transfer of page.transfers) {
        const status = await ledger.status(transfer.txId);
        if (status.status !== 'Committed' || status.seqno === undefined)
          throw new Error(`coffer chain: incoming transfer ${transfer.txId} is ${status.status}`);
        deposits.push({
          chainTxId: transfer.txId,
          // One transaction credits one account once.
          outputIndex: 0,
          address: transfer.to,
          walletId: walletOfAccount.exec(transfer.to)?.[1] ?? null,
          asset: transfer.symbol,
          amount: transfer.amount,
          block: { height: status.seqno, hash: transfer.txId },
          confirmations: 1,
          next: String(transfer.index + 1),
        });
      }
      return { deposits, cursor: String(page.next) };
    },
  };
}

// The coffer chain worker against a fake node: what it builds is what the custody app accepts
// at `build` (SHA-256 of the bytes) and what the token app parses back; broadcast, follow and
// the deposit scan map the node's answers to the ChainWorker shapes.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { multisigAccountOf } from '../../../src/contracts/token.js';
import { buildCofferTransfer, createCofferChain } from '../../../src/custody/chains/coffer.js';
import type { LedgerPort, LedgerTxResult } from '../../../src/custody/chains/types.js';
import type { WalletRecord, WithdrawalRecord } from '../../../src/custody/index.js';

const walletId = 'aa'.repeat(32);
const record = {
  id: 'bb'.repeat(32),
  walletId,
  asset: 'CFR',
  amount: '300',
  destination: `Org3MSP:${'cd'.repeat(32)}`,
  unsignedTx: null,
} as unknown as WithdrawalRecord;
const wallet = { id: walletId, chain: 'coffer' } as unknown as WalletRecord;

function fakeLedger(answers: {
  submit?: (app: string, action: string, args: Record<string, unknown>) => LedgerTxResult;
  status?: (txId: string) => LedgerTxResult;
  query?: (app: string, name: string, args: Record<string, unknown>) => unknown;
}) {
  const calls: string[] = [];
  const port: LedgerPort = {
    submit: (app, action, args) => {
      calls.push(`${app}/${action}`);
      return Promise.resolve(
        answers.submit?.(app, action, args) ?? { txId: 'ee'.repeat(32), status: 'Committed' },
      );
    },
    status: (txId) =>
      Promise.resolve(answers.status?.(txId) ?? { txId, status: 'Committed', seqno: 42 }),
    query: (app, name, args = {}) => Promise.resolve(answers.query?.(app, name, args)),
    receipt: () => Promise.resolve({}),
  };
  return { port, calls };
}

describe('coffer chain worker', () => {
  it('builds canonical transfer bytes whose SHA-256 is the digest, nonce = withdrawal id', () => {
    const built = buildCofferTransfer(record);
    const bytes = Buffer.from(built.unsignedTx, 'hex');
    expect(built.digests).toEqual([createHash('sha256').update(bytes).digest('hex')]);
    expect(JSON.parse(bytes.toString('utf8'))).toEqual({
      type: 'coffer.token.multisig_transfer.v1',
      symbol: 'CFR',
      from: multisigAccountOf(walletId),
      to: record.destination,
      amount: '300',
      nonce: record.id,
    });
    // Deterministic: every worker builds the same bytes.
    expect(buildCofferTransfer(record)).toEqual(built);
  });

  it('prepares a wallet once: register_multisig, then add_address', async () => {
    const { port, calls } = fakeLedger({});
    const chain = createCofferChain(port);
    expect(await chain.prepareWallet(wallet)).toBe(multisigAccountOf(walletId));
    await chain.prepareWallet(wallet);
    expect(calls).toEqual(['token/register_multisig', 'custody/add_address']);
  });

  it('broadcasts the multisig transfer; reports a refused one as failed', async () => {
    const built = { ...record, ...buildCofferTransfer(record) };
    const unspent = { query: () => ({ spentBy: null }) };
    const ok = createCofferChain(fakeLedger(unspent).port);
    expect(await ok.broadcast(built, wallet, [['01'], ['02']])).toEqual({
      chainTxId: 'ee'.repeat(32),
    });
    // Broadcast again after a crash: the spent nonce names the transfer, nothing is resent.
    const again = fakeLedger({ query: () => ({ spentBy: '77'.repeat(32) }) });
    expect(await createCofferChain(again.port).broadcast(built, wallet, [['01'], ['02']])).toEqual({
      chainTxId: '77'.repeat(32),
    });
    expect(again.calls).toEqual([]);
    const refused = createCofferChain(
      fakeLedger({
        ...unspent,
        submit: () => ({
          txId: 'ff'.repeat(32),
          status: 'Invalid',
          code: 'TOKEN_E_MULTISIG_THRESHOLD_NOT_MET',
          message: 'needs 2',
        }),
      }).port,
    );
    expect(await refused.broadcast(built, wallet, [['01']])).toEqual({
      failed: 'TOKEN_E_MULTISIG_THRESHOLD_NOT_MET: needs 2',
    });
  });

  it('follows: committed is confirmed at depth 1 (seqno as height), invalid is failed', async () => {
    const chain = createCofferChain(fakeLedger({}).port);
    expect(await chain.follow('ee'.repeat(32))).toEqual({
      state: 'confirmed',
      block: { height: 42, hash: 'ee'.repeat(32) },
      confirmations: 1,
    });
    const pending = createCofferChain(
      fakeLedger({ status: (txId) => ({ txId, status: 'Pending' }) }).port,
    );
    expect(await pending.follow('ee'.repeat(32))).toEqual({ state: 'pending' });
  });

  it('scans incoming transfers into deposits with a cursor after each', async () => {
    const transfers = [
      {
        index: 0,
        txId: '11'.repeat(32),
        symbol: 'CFR',
        to: multisigAccountOf(walletId),
        amount: '5',
      },
      { index: 1, txId: '22'.repeat(32), symbol: 'CFR', to: `ms:${'99'.repeat(32)}`, amount: '7' },
    ];
    const chain = createCofferChain(
      fakeLedger({
        query: (_app, _name, args) => ({
          transfers: transfers.slice(Number(args['from'])),
          next: transfers.length,
        }),
      }).port,
    );
    const scan = await chain.scanDeposits(null);
    expect(scan.cursor).toBe('2');
    expect(scan.deposits).toMatchObject([
      { walletId, amount: '5', block: { height: 42 }, confirmations: 1, next: '1' },
      { walletId: '99'.repeat(32), amount: '7', next: '2' },
    ]);
    expect((await chain.scanDeposits('1')).deposits).toHaveLength(1);
  });
});

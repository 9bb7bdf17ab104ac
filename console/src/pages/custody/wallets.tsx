// Wallets: the list (per chain: label, keys, balances, state) and one wallet (balances, deposit
// addresses with a QR code, policy, deposits, withdrawals).
import { Hash, Section, Show, Time, useLoad } from '../../components/ui.js';
import { href } from '../../router.js';
import * as data from './data.js';
import {
  describePolicyChange,
  durationText,
  formatAmount,
  principalKey,
  type WalletRecord,
} from './model.js';
import { Amount, AddressQr, CopyText, Empty, State, Who, useViewer } from './parts.js';
import { WithdrawalTable } from './withdrawals.js';

/** How often lists of live data are read again. */
export const walletsRefreshMs = 10_000;
const walletRefreshMs = 5_000;

function walletName(wallet: WalletRecord): string {
  return wallet.label ?? `Wallet ${wallet.id.slice(0, 8)}`;
}

function WalletState({ wallet }: { wallet: WalletRecord }) {
  return (
    <>
      <State state={wallet.frozen ? 'frozen' : 'active'} />
      {wallet.alerts.length > 0 ? (
        <span className="badge bad">
          {wallet.alerts.length} alert{wallet.alerts.length === 1 ? '' : 's'}
        </span>
      ) : null}
    </>
  );
}

function BalanceList({ balances }: { balances: data.Balance[] | undefined }) {
  if (balances === undefined) return <span className="muted">not readable</span>;
  if (balances.length === 0) return <span className="muted">none yet</span>;
  return (
    <ul className="plain">
      {balances.map((balance) => (
        <li key={balance.asset}>
          <Amount amount={balance.available} asset={balance.asset} /> available
          {balance.reserved !== '0' ? (
            <span className="muted"> ({formatAmount(balance.reserved)} reserved)</span>
          ) : null}
        </li>
      ))}
    </ul>
  );
}

const chainNames: Readonly<Record<(typeof data.chains)[number], string>> = {
  coffer: 'Coffer ledger',
  ethereum: 'Ethereum',
  bitcoin: 'Bitcoin',
};

type WalletRow = { readonly wallet: WalletRecord; readonly balances: data.Balance[] | undefined };

function WalletTable({ rows }: { rows: readonly WalletRow[] }) {
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Wallet</th>
            <th scope="col">Keys (2 of 3)</th>
            <th scope="col">Balances</th>
            <th scope="col">State</th>
            <th scope="col">Owner</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ wallet, balances }) => (
            <tr key={wallet.id}>
              <td>
                <a href={href('custody', 'wallets', wallet.id)}>{walletName(wallet)}</a>
                <br />
                <Hash value={wallet.id} />
              </td>
              <td>
                <ul className="plain keys">
                  <li>
                    offline <Hash value={wallet.keys.offline} length={10} />
                  </li>
                  <li>
                    service <Hash value={wallet.keys.service} length={10} />
                  </li>
                  <li>
                    platform <Hash value={wallet.keys.platform.keyId} length={10} />
                  </li>
                </ul>
              </td>
              <td>
                <BalanceList balances={balances} />
              </td>
              <td>
                <WalletState wallet={wallet} />
              </td>
              <td>
                <Who by={principalKey(wallet.owner)} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function WalletsPage() {
  const viewer = useViewer();
  const loaded = useLoad(
    async () => {
      const { wallets, partial } = await data.visibleWallets(viewer);
      const balances = await Promise.allSettled(wallets.map((item) => data.balances(item.id)));
      return {
        partial,
        rows: wallets.map((wallet, index) => {
          const result = balances[index];
          return { wallet, balances: result?.status === 'fulfilled' ? result.value : undefined };
        }),
      };
    },
    `wallets/${viewer.identityId}`,
    walletsRefreshMs,
  );
  return (
    <>
      <h1>Wallets</h1>
      <Show loaded={loaded}>
        {({ rows, partial }) =>
          rows.length === 0 ? (
            <Empty>
              {viewer.isAdmin
                ? 'No wallets yet. A service (a client identity, not an admin) creates one: POST /v1/custody/wallets, or custody.createWallet in the SDK.'
                : 'You own no wallets. Create one as this service with POST /v1/custody/wallets or custody.createWallet in the SDK; MSP admins see every wallet here.'}
            </Empty>
          ) : (
            <>
              {partial ? (
                <p className="muted">
                  Showing the first {data.pageItemsMax} wallets of each chain.
                </p>
              ) : null}
              {data.chains
                .map((chain) => ({ chain, rows: rows.filter((row) => row.wallet.chain === chain) }))
                .filter((group) => group.rows.length > 0)
                .map((group) => (
                  <Section
                    key={group.chain}
                    title={`${chainNames[group.chain]} (${group.rows.length})`}
                  >
                    <WalletTable rows={group.rows} />
                  </Section>
                ))}
            </>
          )
        }
      </Show>
    </>
  );
}

export function WalletPage({ id }: { id: string }) {
  const loaded = useLoad(() => data.wallet(id), `wallet/${id}`, walletsRefreshMs);
  return (
    <Show loaded={loaded}>
      {(wallet) => (
        <>
          <h1>
            {walletName(wallet)} <WalletState wallet={wallet} />
          </h1>
          <p className="muted">
            {wallet.chain} wallet, {wallet.threshold.m} of {wallet.threshold.n} keys ·{' '}
            <a href={href('custody', 'history', 'wallet', wallet.id)}>Audit history</a> ·{' '}
            <a href={href('custody', 'withdrawals', wallet.id)}>All its withdrawals</a>
          </p>
          <div className="grid">
            <WalletBalances walletId={wallet.id} />
            <DepositAddresses walletId={wallet.id} />
          </div>
          <WalletFacts wallet={wallet} />
          <WalletPolicy walletId={wallet.id} />
          <Section
            title="Recent withdrawals"
            actions={<a href={href('custody', 'withdrawals', wallet.id)}>All withdrawals</a>}
          >
            <RecentWithdrawals walletId={wallet.id} />
          </Section>
          <WalletDeposits walletId={wallet.id} />
        </>
      )}
    </Show>
  );
}

function WalletBalances({ walletId }: { walletId: string }) {
  const loaded = useLoad(() => data.balances(walletId), `balances/${walletId}`, walletRefreshMs);
  return (
    <Section title="Balances">
      <Show loaded={loaded}>
        {(balances) =>
          balances.length === 0 ? (
            <Empty>Nothing yet. Send funds to a deposit address; they count once confirmed.</Empty>
          ) : (
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Asset</th>
                    <th scope="col" className="num">
                      Available
                    </th>
                    <th scope="col" className="num">
                      Reserved
                    </th>
                    <th scope="col" className="num">
                      Total
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {balances.map((balance) => (
                    <tr key={balance.asset}>
                      <th scope="row">{balance.asset}</th>
                      <td className="num">{formatAmount(balance.available)}</td>
                      <td className="num">{formatAmount(balance.reserved)}</td>
                      <td className="num">
                        {formatAmount(balance.total)}
                        {balance.deficit !== '0' ? (
                          <span className="bad"> (deficit {formatAmount(balance.deficit)})</span>
                        ) : null}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Show>
    </Section>
  );
}

function DepositAddresses({ walletId }: { walletId: string }) {
  const loaded = useLoad(() => data.addresses(walletId), `addresses/${walletId}`);
  return (
    <Section title="Deposit address">
      <Show loaded={loaded}>
        {(addresses) => {
          const [newest, ...others] = addresses;
          if (newest === undefined) {
            return (
              <Empty>
                No deposit address yet. The chain&apos;s worker registers one when it prepares the
                wallet; a service adds more with POST /v1/custody/wallets/:id/addresses.
              </Empty>
            );
          }
          return (
            <>
              <AddressQr address={newest.address} />
              <p className="muted">
                {newest.account === null ? '' : `Account ${newest.account} · `}
                {newest.path === null ? '' : `Path ${newest.path} · `}
                added <Time ms={newest.addedAt} />
              </p>
              {others.length > 0 ? (
                <details>
                  <summary>
                    {others.length} more address{others.length === 1 ? '' : 'es'}
                  </summary>
                  <ul className="plain">
                    {others.map((item) => (
                      <li key={item.address}>
                        <CopyText text={item.address} label={`address ${item.address}`} />
                        {item.account === null ? null : (
                          <span className="muted"> account {item.account}</span>
                        )}
                      </li>
                    ))}
                  </ul>
                </details>
              ) : null}
            </>
          );
        }}
      </Show>
    </Section>
  );
}

function WalletFacts({ wallet }: { wallet: WalletRecord }) {
  return (
    <Section title="Wallet">
      <dl className="facts">
        <dt>Id</dt>
        <dd>
          <CopyText text={wallet.id} label="wallet id" />
        </dd>
        <dt>Owner (service)</dt>
        <dd>
          <Who by={principalKey(wallet.owner)} />
        </dd>
        <dt>Created</dt>
        <dd>
          <Time ms={wallet.createdAt} />
        </dd>
        <dt>Curve</dt>
        <dd>{wallet.curve}</dd>
        <dt>Offline key</dt>
        <dd>
          <Hash value={wallet.keys.offline} length={24} />
        </dd>
        <dt>Service key</dt>
        <dd>
          <Hash value={wallet.keys.service} length={24} />
        </dd>
        <dt>Platform key (HSM)</dt>
        <dd>
          <code>{wallet.keys.platform.keyId}</code>{' '}
          <Hash value={wallet.keys.platform.publicKey} length={24} />
        </dd>
        {wallet.alerts.map((alert) => (
          <div key={`${alert.txId}/${alert.depositId}`}>
            <dt className="bad">Alert</dt>
            <dd>
              Reorganisation beyond depth took back deposit <Hash value={alert.depositId} /> (
              <Amount amount={alert.amount} asset={alert.asset} />; shortfall{' '}
              {formatAmount(alert.shortfall)}) at <Time ms={alert.time} />
            </dd>
          </div>
        ))}
      </dl>
    </Section>
  );
}

function WalletPolicy({ walletId }: { walletId: string }) {
  const loaded = useLoad(() => data.policy(walletId), `policy/${walletId}`, walletsRefreshMs);
  return (
    <Section
      title="Policy"
      actions={<a href={href('custody', 'policy')}>Policy changes awaiting quorum</a>}
    >
      <Show loaded={loaded}>
        {({ policy, pending }) => {
          const limits = Object.entries(policy.limits);
          return (
            <>
              <dl className="facts">
                <dt>Admin approvals over a limit</dt>
                <dd>{policy.approvalsRequired}</dd>
                <dt>Whitelist</dt>
                <dd>
                  {policy.whitelistEnabled
                    ? 'on: withdrawals go only to whitelisted addresses'
                    : 'off: withdrawals may go to any address'}
                </dd>
                <dt>Last changed</dt>
                <dd>
                  <Time ms={policy.updatedAt} />
                </dd>
              </dl>
              <h3>Limits</h3>
              {limits.length === 0 ? (
                <Empty>
                  No limits: every withdrawal waits for {policy.approvalsRequired} admin
                  approval(s). Propose set_limits to let small ones through.
                </Empty>
              ) : (
                <div className="table-wrap">
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">Asset</th>
                        <th scope="col" className="num">
                          Per withdrawal
                        </th>
                        <th scope="col" className="num">
                          Per 24 hours
                        </th>
                      </tr>
                    </thead>
                    <tbody>
                      {limits.map(([asset, limit]) => (
                        <tr key={asset}>
                          <th scope="row">{asset}</th>
                          <td className="num">{formatAmount(limit.perTransaction)}</td>
                          <td className="num">{formatAmount(limit.rolling24h)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )}
              <h3>Whitelisted addresses</h3>
              {policy.whitelist.length === 0 ? (
                <Empty>None. Propose whitelist_add to add one.</Empty>
              ) : (
                <div className="table-wrap">
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">Address</th>
                        <th scope="col">Label</th>
                        <th scope="col">In force from</th>
                        <th scope="col">Change</th>
                      </tr>
                    </thead>
                    <tbody>
                      {policy.whitelist.map((entry) => (
                        <tr key={entry.address}>
                          <td>
                            <code>{entry.address}</code>
                          </td>
                          <td>{entry.label ?? '—'}</td>
                          <td>
                            <Time ms={entry.effectiveAt} />
                            {entry.effectiveAt > entry.addedAt ? (
                              <span className="muted">
                                {' '}
                                (delay {durationText(entry.effectiveAt - entry.addedAt)})
                              </span>
                            ) : null}
                          </td>
                          <td>
                            <a href={href('custody', 'history', 'policy', entry.changeId)}>
                              <Hash value={entry.changeId} />
                            </a>
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )}
              {pending.length > 0 ? (
                <>
                  <h3>Waiting for quorum</h3>
                  <ul className="plain">
                    {pending.map((change) => (
                      <li key={change.id}>
                        {describePolicyChange(change.change)} — {change.approvals.length} of{' '}
                        {change.quorum} approvals ·{' '}
                        <a href={href('custody', 'policy')}>approve on Policy changes</a>
                      </li>
                    ))}
                  </ul>
                </>
              ) : null}
            </>
          );
        }}
      </Show>
    </Section>
  );
}

function RecentWithdrawals({ walletId }: { walletId: string }) {
  const loaded = useLoad(
    () => data.walletWithdrawals(walletId, undefined, 10),
    `recent/${walletId}`,
    walletRefreshMs,
  );
  return (
    <Show loaded={loaded}>
      {({ withdrawals }) =>
        withdrawals.length === 0 ? (
          <Empty>
            No withdrawals yet. The owner service requests them (POST /v1/custody/withdrawals).
          </Empty>
        ) : (
          <WithdrawalTable withdrawals={withdrawals} showWallet={false} />
        )
      }
    </Show>
  );
}

function WalletDeposits({ walletId }: { walletId: string }) {
  const loaded = useLoad(() => data.deposits(walletId), `deposits/${walletId}`, walletRefreshMs);
  return (
    <Section title="Deposits">
      <Show loaded={loaded}>
        {(deposits) =>
          deposits.length === 0 ? (
            <Empty>No deposits yet. Send funds to the deposit address above.</Empty>
          ) : (
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Seen</th>
                    <th scope="col" className="num">
                      Amount
                    </th>
                    <th scope="col">State</th>
                    <th scope="col">Confirmations</th>
                    <th scope="col">Chain transaction</th>
                    <th scope="col">History</th>
                  </tr>
                </thead>
                <tbody>
                  {deposits.map((deposit) => (
                    <tr key={deposit.id}>
                      <td>
                        <Time ms={deposit.seenAt} />
                      </td>
                      <td className="num">
                        <Amount amount={deposit.amount} asset={deposit.asset} />
                      </td>
                      <td>
                        <State state={deposit.state} />
                        {deposit.reorgBeyondDepth ? (
                          <span className="bad"> reorganised beyond depth</span>
                        ) : null}
                      </td>
                      <td>
                        {deposit.confirmations} of {deposit.confirmationsRequired}
                      </td>
                      <td>
                        <Hash value={deposit.chainTxId} /> #{deposit.outputIndex}
                        <br />
                        <span className="muted">block {deposit.block.height}</span>
                      </td>
                      <td>
                        <a
                          href={href('custody', 'history', 'deposit', deposit.id)}
                          aria-label={`Audit history of deposit ${deposit.id}`}
                        >
                          History
                        </a>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Show>
    </Section>
  );
}

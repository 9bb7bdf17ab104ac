// Withdrawals: the list with filters (wallet, state) and one withdrawal: its state machine as a
// timeline (every state it went through, with transaction, time and who; those ahead greyed),
// amounts, destination, chain transaction, approvals and signatures.
import { useId, useState } from 'react';
import { Hash, Section, Show, Time, useLoad } from '../../components/ui.js';
import { href, navigate } from '../../router.js';
import * as data from './data.js';
import {
  anyState,
  anyWallet,
  approvalsText,
  isTerminal,
  stateWords,
  withdrawalStates,
  withdrawalTimeline,
  type WithdrawalRecord,
} from './model.js';
import {
  Amount,
  ApproveWithdrawal,
  CopyText,
  Empty,
  RejectWithdrawal,
  State,
  Who,
  useApprovalParams,
  useViewer,
} from './parts.js';

const listRefreshMs = 5_000;
/** A withdrawal on its way is read again this often, until it ends. */
export const withdrawalRefreshMs = 2_000;

export function WithdrawalTable({
  withdrawals,
  showWallet = true,
}: {
  withdrawals: readonly WithdrawalRecord[];
  showWallet?: boolean;
}) {
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Requested</th>
            {showWallet ? <th scope="col">Wallet</th> : null}
            <th scope="col" className="num">
              Amount
            </th>
            <th scope="col">Destination</th>
            <th scope="col">State</th>
            <th scope="col">Approvals</th>
            <th scope="col">Chain transaction</th>
          </tr>
        </thead>
        <tbody>
          {withdrawals.map((record) => (
            <tr key={record.id}>
              <td>
                <a
                  href={href('custody', 'withdrawal', record.id)}
                  aria-label={`Withdrawal ${record.id}`}
                >
                  <Time ms={record.requestedAt} />
                </a>
              </td>
              {showWallet ? (
                <td>
                  <a href={href('custody', 'wallets', record.walletId)}>
                    <Hash value={record.walletId} length={8} />
                  </a>
                </td>
              ) : null}
              <td className="num">
                <Amount amount={record.amount} asset={record.asset} />
              </td>
              <td>
                <Hash value={record.destination} length={20} />
              </td>
              <td>
                <State state={record.state} />
              </td>
              <td>
                {record.approvalsRequired === 0
                  ? 'not needed'
                  : approvalsText(record.approvals.length, record.approvalsRequired)}
              </td>
              <td>{record.chainTxId === null ? '—' : <Hash value={record.chainTxId} />}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function WithdrawalsPage({ wallet, state }: { wallet: string; state: string }) {
  const viewer = useViewer();
  const walletField = useId();
  const stateField = useId();
  const [cursor, setCursor] = useState<{ key: string; at: number[] }>({ key: '', at: [] });
  const filterKey = `${wallet}/${state}`;
  const pages = cursor.key === filterKey ? cursor.at : [];
  const at = pages[pages.length - 1];
  const wallets = useLoad(() => data.visibleWallets(viewer), `wallets/${viewer.identityId}`);
  const loaded = useLoad(
    () => data.withdrawalList(viewer, wallet, state === anyState ? undefined : state, at),
    `withdrawals/${filterKey}/${String(at)}`,
    listRefreshMs,
  );
  return (
    <>
      <h1>Withdrawals</h1>
      <form
        className="filters card"
        aria-label="Filter withdrawals"
        onSubmit={(e) => e.preventDefault()}
      >
        <label htmlFor={walletField}>
          Wallet
          <select
            id={walletField}
            value={wallet}
            onChange={(event) => navigate('custody', 'withdrawals', event.target.value, state)}
          >
            <option value={anyWallet}>All wallets</option>
            {wallet !== anyWallet &&
            !(wallets.data?.wallets ?? []).some((item) => item.id === wallet) ? (
              <option value={wallet}>{wallet.slice(0, 12)}…</option>
            ) : null}
            {(wallets.data?.wallets ?? []).map((item) => (
              <option key={item.id} value={item.id}>
                {item.label ?? item.id.slice(0, 12)} ({item.chain})
              </option>
            ))}
          </select>
        </label>
        <label htmlFor={stateField}>
          State
          <select
            id={stateField}
            value={state}
            onChange={(event) => navigate('custody', 'withdrawals', wallet, event.target.value)}
          >
            <option value={anyState}>Any state</option>
            {withdrawalStates.map((item) => (
              <option key={item} value={item}>
                {stateWords(item)}
              </option>
            ))}
          </select>
        </label>
      </form>
      <Show loaded={loaded}>
        {(list) => (
          <section className="card" aria-label="Withdrawals found">
            {list.partial ? (
              <p className="muted">
                Showing the newest {data.fanOutItemsPerWallet} of each of the first{' '}
                {data.fanOutWalletsMax} wallets: choose a wallet to see all of its withdrawals.
              </p>
            ) : null}
            {list.withdrawals.length === 0 ? (
              <Empty>
                No withdrawals{state === anyState ? '' : ` in state ${stateWords(state)}`}
                {wallet === anyWallet ? '' : ' for this wallet'}. Choose another state or wallet;
                services request withdrawals with POST /v1/custody/withdrawals.
              </Empty>
            ) : (
              <WithdrawalTable withdrawals={list.withdrawals} />
            )}
            <div className="pager">
              {pages.length > 0 ? (
                <button
                  type="button"
                  className="secondary"
                  onClick={() => setCursor({ key: filterKey, at: pages.slice(0, -1) })}
                >
                  Newer
                </button>
              ) : null}
              {list.next !== null ? (
                <button
                  type="button"
                  className="secondary"
                  onClick={() => setCursor({ key: filterKey, at: [...pages, list.next ?? 0] })}
                >
                  Older
                </button>
              ) : null}
            </div>
          </section>
        )}
      </Show>
    </>
  );
}

function Timeline({
  record,
  history,
}: {
  record: WithdrawalRecord;
  history: data.HistoryStep[] | undefined;
}) {
  const steps = withdrawalTimeline(record, history);
  return (
    <ol className="timeline custody-timeline" aria-label="States of the withdrawal">
      {steps.map((step) => (
        <li
          key={step.key}
          className={step.status}
          data-state={step.state}
          aria-current={step.status === 'current' ? 'step' : undefined}
        >
          <div className="step-head">
            <strong>{step.title}</strong>{' '}
            {step.status === 'future' ? (
              <span className="badge future">{stateWords(step.state)}, ahead</span>
            ) : (
              <State state={step.state} />
            )}
          </div>
          {step.status !== 'future' ? (
            <div className="step-meta muted">
              {step.time !== undefined ? <Time ms={step.time} /> : null}
              {step.by !== undefined ? (
                <>
                  {' · by '}
                  <Who by={step.by} />
                </>
              ) : null}
              {step.txId !== undefined ? (
                <>
                  {' · tx '}
                  <Hash value={step.txId} />
                </>
              ) : null}
            </div>
          ) : null}
        </li>
      ))}
    </ol>
  );
}

export function WithdrawalPage({ id }: { id: string }) {
  const params = useApprovalParams();
  const reasonField = useId();
  const [reason, setReason] = useState('');
  // Polling stops once the withdrawal has ended (confirmed, failed, rejected, expired).
  const [endedId, setEndedId] = useState<string | undefined>(undefined);
  const loaded = useLoad(
    async () => {
      const [record, history] = await Promise.all([
        data.withdrawal(id),
        data.historyIfAllowed('withdrawal', id),
      ]);
      if (isTerminal(record.state)) setEndedId(record.id);
      return { record, history };
    },
    `withdrawal/${id}`,
    endedId === id ? undefined : withdrawalRefreshMs,
  );
  return (
    <Show loaded={loaded}>
      {({ record, history }) => (
        <>
          <h1>
            Withdrawal of <Amount amount={record.amount} asset={record.asset} />{' '}
            <State state={record.state} />
          </h1>
          <p className="muted">
            <a href={href('custody', 'wallets', record.walletId)}>Wallet</a> ·{' '}
            <a href={href('custody', 'history', 'withdrawal', record.id)}>
              Audit history with receipts
            </a>
            {isTerminal(record.state) ? null : ' · updates every few seconds'}
          </p>
          {record.state === 'pending_approval' ||
          ['approved', 'built', 'service_signed'].includes(record.state) ? (
            <Section title="Approve or reject">
              {record.state === 'pending_approval' ? (
                <p>
                  Over the {record.overLimit.map(stateWords).join(' and ')} limit:{' '}
                  {approvalsText(record.approvals.length, record.approvalsRequired)} admin
                  approvals, expires <Time ms={record.expiresAt} />.
                </p>
              ) : null}
              {record.state === 'pending_approval' ? (
                <div className="actions">
                  <ApproveWithdrawal record={record} params={params} onDone={loaded.reload} />
                </div>
              ) : null}
              <div className="actions">
                <label htmlFor={reasonField} className="inline">
                  Reason for rejecting (optional)
                  <input
                    id={reasonField}
                    value={reason}
                    maxLength={512}
                    onChange={(event) => setReason(event.target.value)}
                  />
                </label>
                <RejectWithdrawal
                  record={record}
                  params={params}
                  onDone={loaded.reload}
                  reason={reason}
                />
              </div>
            </Section>
          ) : null}
          <div className="grid">
            <Section title="Progress">
              {history === undefined ? (
                <p className="muted">
                  The audit history is for the wallet&apos;s service, MSP admins and chain workers:
                  this shows what the withdrawal record says.
                </p>
              ) : null}
              <Timeline record={record} history={history} />
            </Section>
            <Section title="Details">
              <WithdrawalFacts record={record} />
            </Section>
          </div>
          <div className="grid">
            <Section title="Approvals">
              {record.approvalsRequired === 0 ? (
                <Empty>Not needed: the withdrawal was within the wallet&apos;s limits.</Empty>
              ) : (
                <>
                  <p>
                    {approvalsText(record.approvals.length, record.approvalsRequired)} (
                    {record.approvalRule === 'distinct-orgs'
                      ? 'one admin per organisation'
                      : 'distinct admins'}
                    )
                  </p>
                  {record.approvals.length === 0 ? (
                    <Empty>None yet.</Empty>
                  ) : (
                    <ul className="plain">
                      {record.approvals.map((approval) => (
                        <li key={approval.txId}>
                          <Who by={`${approval.mspId}:${approval.identityId}`} /> at{' '}
                          <Time ms={approval.time} /> · tx <Hash value={approval.txId} />
                        </li>
                      ))}
                    </ul>
                  )}
                </>
              )}
            </Section>
            <Section title="Signatures">
              <Signatures record={record} />
            </Section>
          </div>
        </>
      )}
    </Show>
  );
}

function WithdrawalFacts({ record }: { record: WithdrawalRecord }) {
  return (
    <dl className="facts">
      <dt>Amount</dt>
      <dd>
        <Amount amount={record.amount} asset={record.asset} />
        {record.fee !== null && record.fee !== '0' ? (
          <span className="muted"> + fee {record.fee}</span>
        ) : null}
      </dd>
      <dt>Destination</dt>
      <dd>
        <CopyText text={record.destination} label="destination" />
      </dd>
      <dt>Chain</dt>
      <dd>{record.chain}</dd>
      <dt>Chain transaction</dt>
      <dd>
        {record.chainTxId === null ? (
          <span className="muted">not broadcast yet</span>
        ) : (
          <CopyText text={record.chainTxId} label="chain transaction id" />
        )}
        {record.replaced.length > 0 ? (
          <span className="muted">
            {' '}
            (replaces {record.replaced.map((item) => item.chainTxId.slice(0, 12)).join(', ')})
          </span>
        ) : null}
      </dd>
      {record.block !== null ? (
        <>
          <dt>Block</dt>
          <dd>
            {record.block.height} <Hash value={record.block.hash} />
          </dd>
        </>
      ) : null}
      <dt>Requested by</dt>
      <dd>
        <Who by={`${record.requestedBy.mspId}:${record.requestedBy.identityId}`} /> at{' '}
        <Time ms={record.requestedAt} />
      </dd>
      <dt>Expires</dt>
      <dd>
        <Time ms={record.expiresAt} />
      </dd>
      {record.memo !== null ? (
        <>
          <dt>Memo</dt>
          <dd>{record.memo}</dd>
        </>
      ) : null}
      <dt>Idempotency key</dt>
      <dd>
        <code>{record.idempotencyKey}</code>
      </dd>
      <dt>Id (request tx)</dt>
      <dd>
        <CopyText text={record.id} label="withdrawal id" />
      </dd>
      {record.ended !== null ? (
        <>
          <dt>Ended</dt>
          <dd>
            by <Who by={record.ended.by} /> at <Time ms={record.ended.time} />
            {record.ended.reason === null ? null : `: ${record.ended.reason}`}
          </dd>
        </>
      ) : null}
    </dl>
  );
}

function Signatures({ record }: { record: WithdrawalRecord }) {
  const digests = record.digests ?? [];
  if (digests.length === 0)
    return (
      <Empty>Nothing to sign yet: the chain worker builds the transaction once approved.</Empty>
    );
  const rows = [
    { key: 'service', label: 'Service key', signatures: record.serviceSignatures },
    { key: 'platform', label: 'Platform key (HSM)', signatures: record.platformSignatures },
  ];
  return (
    <>
      <p>
        {record.digests?.length === 1 ? 'One digest' : `${digests.length} digests`} to sign, 2 of 3
        keys (the offline key stays offline).
      </p>
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Collected</th>
              <th scope="col">Signatures</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.key}>
                <th scope="row">{row.label}</th>
                <td>
                  {row.signatures === null ? (
                    <span className="badge wait">0 of {digests.length}</span>
                  ) : (
                    <span className="badge ok">
                      {row.signatures.length} of {digests.length}
                    </span>
                  )}
                </td>
                <td>
                  {(row.signatures ?? []).map((signature) => (
                    <Hash key={signature} value={signature} />
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h3>Digests</h3>
      <ul className="plain">
        {digests.map((digest) => (
          <li key={digest}>
            <Hash value={digest} length={24} />
          </li>
        ))}
      </ul>
    </>
  );
}

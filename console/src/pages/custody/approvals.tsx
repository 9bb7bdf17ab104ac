// What waits for admins: withdrawals over a limit (Approve / Reject, each a transaction signed in
// this page) and policy changes awaiting their quorum. MSP admins see the node's queue; a
// service sees what of its own wallets waits, with the buttons off and the reason given.
import { Hash, Section, Show, Time, useLoad } from '../../components/ui.js';
import { href } from '../../router.js';
import * as data from './data.js';
import {
  approvalsText,
  describePolicyChange,
  policyChangeTitle,
  stateWords,
  whoText,
  type ApprovalParams,
  type PolicyChangeRecord,
  type WithdrawalRecord,
} from './model.js';
import {
  Amount,
  ApprovePolicy,
  ApproveWithdrawal,
  Empty,
  RejectPolicy,
  RejectWithdrawal,
  Who,
  useApprovalParams,
  useViewer,
} from './parts.js';

/** The queue is read again this often (others approve at the same time). */
export const approvalsRefreshMs = 4_000;

function ApprovalList({ approvals }: { approvals: WithdrawalRecord['approvals'] }) {
  const viewer = useViewer();
  if (approvals.length === 0) return null;
  return (
    <ul className="plain small">
      {approvals.map((approval) => (
        <li key={approval.txId}>{whoText(`${approval.mspId}:${approval.identityId}`, viewer)}</li>
      ))}
    </ul>
  );
}

function NotAdminNote() {
  const viewer = useViewer();
  if (viewer.isAdmin) return null;
  return (
    <div className="note" role="note">
      <strong>Approvals are for MSP admins.</strong> You are signed in as a{' '}
      {viewer.role ?? 'member'} identity of {viewer.mspId}, so the buttons below are off. This lists
      what of your own wallets waits for admins; an admin of a member organisation approves it in
      this console (or with POST /v1/custody/withdrawals/:id/approve).
    </div>
  );
}

function WithdrawalQueue({
  withdrawals,
  params,
  reload,
}: {
  withdrawals: readonly WithdrawalRecord[];
  params: ApprovalParams | undefined;
  reload: () => void;
}) {
  if (withdrawals.length === 0) {
    return (
      <Empty>
        No withdrawal waits for approval. Withdrawals over a wallet&apos;s limits appear here as
        soon as they are requested.
      </Empty>
    );
  }
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Requested</th>
            <th scope="col">Amount</th>
            <th scope="col">Destination</th>
            <th scope="col">Over</th>
            <th scope="col">Approvals</th>
            <th scope="col">Expires</th>
            <th scope="col">Decide</th>
          </tr>
        </thead>
        <tbody>
          {withdrawals.map((record) => (
            <tr key={record.id} data-withdrawal={record.id}>
              <td>
                <a
                  href={href('custody', 'withdrawal', record.id)}
                  aria-label={`Withdrawal ${record.id}`}
                >
                  <Time ms={record.requestedAt} />
                </a>
                <br />
                <span className="muted">
                  by <Who by={`${record.requestedBy.mspId}:${record.requestedBy.identityId}`} />
                </span>
              </td>
              <td>
                <Amount amount={record.amount} asset={record.asset} />
                <br />
                <a href={href('custody', 'wallets', record.walletId)} className="muted">
                  wallet <Hash value={record.walletId} length={8} />
                </a>
              </td>
              <td>
                <Hash value={record.destination} length={20} />
              </td>
              <td>{record.overLimit.map(stateWords).join(', ')}</td>
              <td>
                <strong className="approvals-count">
                  {approvalsText(record.approvals.length, record.approvalsRequired)}
                </strong>
                <ApprovalList approvals={record.approvals} />
              </td>
              <td>
                <Time ms={record.expiresAt} />
              </td>
              <td>
                <div className="actions">
                  <ApproveWithdrawal record={record} params={params} onDone={reload} />
                  <RejectWithdrawal record={record} params={params} onDone={reload} />
                </div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function PolicyChangeQueue({
  changes,
  params,
  reload,
}: {
  changes: readonly PolicyChangeRecord[];
  params: ApprovalParams | undefined;
  reload: () => void;
}) {
  if (changes.length === 0) {
    return (
      <Empty>
        No policy change awaits its quorum. The wallet&apos;s service or an admin proposes one (POST
        /v1/custody/wallets/:id/policy-changes); it applies once enough admins approve.
      </Empty>
    );
  }
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Proposed</th>
            <th scope="col">Change</th>
            <th scope="col">Approvals</th>
            <th scope="col">Expires</th>
            <th scope="col">Decide</th>
          </tr>
        </thead>
        <tbody>
          {changes.map((change) => (
            <tr key={change.id} data-policy-change={change.id}>
              <td>
                <Time ms={change.proposedAt} />
                <br />
                <span className="muted">
                  by <Who by={`${change.proposedBy.mspId}:${change.proposedBy.identityId}`} />
                </span>
              </td>
              <td>
                <strong>{policyChangeTitle(change.change.kind)}</strong>
                <br />
                {describePolicyChange(change.change)}
                <br />
                <a href={href('custody', 'wallets', change.walletId)} className="muted">
                  wallet <Hash value={change.walletId} length={8} />
                </a>{' '}
                ·{' '}
                <a href={href('custody', 'history', 'policy', change.id)} className="muted">
                  history
                </a>
              </td>
              <td>
                <strong className="approvals-count">
                  {approvalsText(change.approvals.length, change.quorum)}
                </strong>
                <ApprovalList approvals={change.approvals} />
              </td>
              <td>
                <Time ms={change.expiresAt} />
              </td>
              <td>
                <div className="actions">
                  <ApprovePolicy change={change} params={params} onDone={reload} />
                  <RejectPolicy change={change} params={params} onDone={reload} />
                </div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ApprovalsPage() {
  const viewer = useViewer();
  const params = useApprovalParams();
  const loaded = useLoad(
    () => data.pendingApprovals(viewer),
    `approvals/${viewer.identityId}`,
    approvalsRefreshMs,
  );
  return (
    <>
      <h1>Pending approvals</h1>
      <NotAdminNote />
      <Show loaded={loaded}>
        {(pending) => (
          <>
            <Section title={`Withdrawals waiting for admins (${pending.withdrawals.length})`}>
              <WithdrawalQueue
                withdrawals={pending.withdrawals}
                params={params}
                reload={loaded.reload}
              />
            </Section>
            <Section
              title={`Policy changes awaiting quorum (${pending.policyChanges.length})`}
              actions={<a href={href('custody', 'policy')}>Policy changes</a>}
            >
              <PolicyChangeQueue
                changes={pending.policyChanges}
                params={params}
                reload={loaded.reload}
              />
            </Section>
          </>
        )}
      </Show>
    </>
  );
}

export function PolicyPage() {
  const viewer = useViewer();
  const params = useApprovalParams();
  const loaded = useLoad(
    () => data.pendingApprovals(viewer),
    `approvals/${viewer.identityId}`,
    approvalsRefreshMs,
  );
  return (
    <>
      <h1>Policy changes awaiting quorum</h1>
      <p className="muted">
        Whitelist additions and removals, limits, approvals required and freezes apply once{' '}
        {params === undefined ? 'the quorum of' : params.policyQuorum} admins other than the
        proposer approve
        {params?.approvalRule === 'distinct-orgs' ? ' (one per organisation)' : ''}. Each approval
        is a transaction signed in this page.
      </p>
      <NotAdminNote />
      <Show loaded={loaded}>
        {(pending) => (
          <section className="card" aria-label="Pending policy changes">
            <PolicyChangeQueue
              changes={pending.policyChanges}
              params={params}
              reload={loaded.reload}
            />
          </section>
        )}
      </Show>
    </>
  );
}

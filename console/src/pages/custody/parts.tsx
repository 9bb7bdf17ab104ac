// Small pieces the custody pages share: the area's navigation, who did something, amounts,
// copyable text, a deposit address's QR code, and the approve/reject buttons that say why they
// are off.
import { useEffect, useId, useState, type ReactNode } from 'react';
import QRCode from 'qrcode';
import { Badge, SignButton } from '../../components/ui.js';
import type { Caller } from '../../lib/api.js';
import { href } from '../../router.js';
import { useSession } from '../../session.js';
import { approvalParams } from './data.js';
import {
  formatAmount,
  policyApproveBlocker,
  policyRejectBlocker,
  qrOptions,
  qrText,
  stateWords,
  whoText,
  withdrawalApproveBlocker,
  withdrawalRejectBlocker,
  type ApprovalParams,
  type PolicyChangeRecord,
  type Viewer,
  type WithdrawalRecord,
} from './model.js';

const tabs = [
  { page: 'wallets', label: 'Wallets', path: ['custody', 'wallets'] },
  { page: 'withdrawals', label: 'Withdrawals', path: ['custody', 'withdrawals'] },
  { page: 'approvals', label: 'Pending approvals', path: ['custody', 'approvals'] },
  { page: 'policy', label: 'Policy changes', path: ['custody', 'policy'] },
] as const;

const tabOf: Readonly<Record<string, string>> = {
  wallet: 'wallets',
  withdrawal: 'withdrawals',
};

export function CustodyNav({ page }: { page: string }) {
  const current = tabOf[page] ?? page;
  return (
    <nav aria-label="Custody" className="custody-tabs">
      <ul>
        {tabs.map((tab) => (
          <li key={tab.page}>
            <a href={href(...tab.path)} aria-current={current === tab.page ? 'page' : undefined}>
              {tab.label}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

/** The signed-in caller (the area is shown only once there is one). */
export function useViewer(): Viewer {
  const { caller } = useSession();
  return caller ?? noCaller;
}

const noCaller: Caller = { mspId: '', identityId: '', role: null, isAdmin: false };

let paramsPromise: Promise<ApprovalParams> | undefined;

/** The custody parameters (who approves, the rule), read once per page load. */
export function useApprovalParams(): ApprovalParams | undefined {
  const [params, setParams] = useState<ApprovalParams | undefined>(undefined);
  useEffect(() => {
    let live = true;
    paramsPromise ??= approvalParams().catch((error: unknown) => {
      paramsPromise = undefined;
      throw error;
    });
    paramsPromise.then(
      (value) => {
        if (live) setParams(value);
      },
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, []);
  return params;
}

export function Who({ by }: { by: string }) {
  const viewer = useViewer();
  return <span title={by}>{whoText(by, viewer)}</span>;
}

export function Amount({ amount, asset }: { amount: string; asset: string }) {
  return (
    <span className="amount">
      {formatAmount(amount)} <span className="asset">{asset}</span>
    </span>
  );
}

export function State({ state }: { state: string }) {
  return <Badge state={stateWords(state)} />;
}

/** Text in full (wrapping) with a button that copies it. */
export function CopyText({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState<'yes' | 'no' | undefined>(undefined);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied('yes');
    } catch {
      setCopied('no');
    }
  };
  return (
    <span className="copy-text">
      <code>{text}</code>
      <button
        type="button"
        className="secondary small"
        aria-label={`Copy ${label}`}
        onClick={() => void copy()}
      >
        Copy
      </button>
      <span role="status" className="muted">
        {copied === 'yes' ? 'Copied' : copied === 'no' ? 'Copy failed: select the text' : ''}
      </span>
    </span>
  );
}

/** A deposit address as a scannable QR code, with the address as text and a copy button. */
export function AddressQr({ address }: { address: string }) {
  const [svg, setSvg] = useState<{ address: string; svg: string } | undefined>(undefined);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let live = true;
    QRCode.toString(qrText(address), qrOptions).then(
      (value) => {
        if (live) setSvg({ address, svg: value });
      },
      () => {
        if (live) setFailed(true);
      },
    );
    return () => {
      live = false;
    };
  }, [address]);
  return (
    <figure className="qr">
      {svg?.address === address ? (
        <img
          src={`data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg.svg)}`}
          width={qrOptions.width}
          height={qrOptions.width}
          alt={`QR code of deposit address ${address}`}
        />
      ) : (
        <div className="qr-placeholder" aria-busy={!failed}>
          {failed ? 'No QR code: copy the address' : 'Drawing QR code…'}
        </div>
      )}
      <figcaption>
        <CopyText text={address} label="deposit address" />
      </figcaption>
    </figure>
  );
}

/** The clock for expiry checks, read on mount and every 10 s. */
function useNow(): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 10_000);
    return () => clearInterval(timer);
  }, []);
  return now;
}

/** A disabled button with the reason next to it, or the live control. */
function Guarded({
  label,
  blocker,
  children,
}: {
  label: string;
  blocker: string | undefined;
  children: ReactNode;
}) {
  const id = useId();
  if (blocker === undefined) return <>{children}</>;
  return (
    <span className="guarded">
      <button type="button" className="secondary" disabled aria-describedby={id}>
        {label}
      </button>
      <span id={id} className="reason">
        {blocker}
      </span>
    </span>
  );
}

export function ApproveWithdrawal({
  record,
  params,
  onDone,
}: {
  record: WithdrawalRecord;
  params: ApprovalParams | undefined;
  onDone: () => void;
}) {
  const viewer = useViewer();
  const now = useNow();
  return (
    <Guarded label="Approve" blocker={withdrawalApproveBlocker(record, viewer, params, now)}>
      <SignButton
        label="Approve"
        app="custody"
        action="approve"
        args={() => ({ withdrawalId: record.id })}
        onDone={onDone}
      />
    </Guarded>
  );
}

export function RejectWithdrawal({
  record,
  params,
  onDone,
  reason,
}: {
  record: WithdrawalRecord;
  params: ApprovalParams | undefined;
  onDone: () => void;
  reason?: string;
}) {
  const viewer = useViewer();
  const cancel =
    viewer.mspId === record.requestedBy.mspId &&
    viewer.identityId === record.requestedBy.identityId;
  const label = cancel ? 'Cancel' : 'Reject';
  return (
    <Guarded label={label} blocker={withdrawalRejectBlocker(record, viewer, params)}>
      <SignButton
        label={label}
        kind="danger"
        app="custody"
        action="reject"
        confirm={`${label} the withdrawal of ${formatAmount(record.amount)} ${record.asset} to ${record.destination}? Its amount is released and this cannot be undone.`}
        args={() => ({
          withdrawalId: record.id,
          ...(reason === undefined || reason.trim() === '' ? {} : { reason: reason.trim() }),
        })}
        onDone={onDone}
      />
    </Guarded>
  );
}

export function ApprovePolicy({
  change,
  params,
  onDone,
}: {
  change: PolicyChangeRecord;
  params: ApprovalParams | undefined;
  onDone: () => void;
}) {
  const viewer = useViewer();
  const now = useNow();
  return (
    <Guarded label="Approve" blocker={policyApproveBlocker(change, viewer, params, now)}>
      <SignButton
        label="Approve"
        app="custody"
        action="approve_policy"
        args={() => ({ changeId: change.id })}
        onDone={onDone}
      />
    </Guarded>
  );
}

export function RejectPolicy({
  change,
  params,
  onDone,
}: {
  change: PolicyChangeRecord;
  params: ApprovalParams | undefined;
  onDone: () => void;
}) {
  const viewer = useViewer();
  return (
    <Guarded label="Reject" blocker={policyRejectBlocker(change, viewer, params)}>
      <SignButton
        label="Reject"
        kind="danger"
        app="custody"
        action="reject_policy"
        confirm="Reject this policy change? It ends here; a new proposal starts over."
        args={() => ({ changeId: change.id })}
        onDone={onDone}
      />
    </Guarded>
  );
}

/** What to do when a list is empty. */
export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

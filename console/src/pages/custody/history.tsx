// The audit history of a custody object (wallet, withdrawal, deposit, policy change): every
// step as the transaction that made it, oldest first, each with its receipt.
import { useId, useState } from 'react';
import { ReceiptPanel } from '../../components/receipt.js';
import { Hash, Section, Show, Time, useLoad } from '../../components/ui.js';
import { href } from '../../router.js';
import * as data from './data.js';
import { approvalsText, describePolicyChange, stateWords, type HistoryKind } from './model.js';
import { Amount, Empty, State, Who } from './parts.js';

const kindWords: Readonly<Record<HistoryKind, string>> = {
  wallet: 'wallet',
  withdrawal: 'withdrawal',
  deposit: 'deposit',
  policy: 'policy change',
};

/** What the object is, in a line, with a link to its own page where there is one. */
function Subject({ kind, id }: { kind: HistoryKind; id: string }) {
  const loaded = useLoad(async () => {
    switch (kind) {
      case 'policy': {
        const change = await data.policyChange(id);
        return (
          <p>
            {describePolicyChange(change.change)} · <State state={change.state} /> ·{' '}
            {approvalsText(change.approvals.length, change.quorum)} approvals ·{' '}
            <a href={href('custody', 'wallets', change.walletId)}>its wallet</a>
          </p>
        );
      }
      case 'withdrawal': {
        const record = await data.withdrawal(id);
        return (
          <p>
            <Amount amount={record.amount} asset={record.asset} /> to{' '}
            <code>{record.destination}</code> · <State state={record.state} /> ·{' '}
            <a href={href('custody', 'withdrawal', id)}>the withdrawal</a>
          </p>
        );
      }
      case 'wallet': {
        const wallet = await data.wallet(id);
        return (
          <p>
            {wallet.label ?? 'Unlabelled'} {wallet.chain} wallet ·{' '}
            <a href={href('custody', 'wallets', id)}>the wallet</a>
          </p>
        );
      }
      case 'deposit': {
        const record = await data.deposit(id);
        return (
          <p>
            <Amount amount={record.amount} asset={record.asset} /> to <code>{record.address}</code>{' '}
            · <State state={record.state} /> · {record.confirmations} of{' '}
            {record.confirmationsRequired} confirmations ·{' '}
            <a href={href('custody', 'wallets', record.walletId)}>its wallet</a>
          </p>
        );
      }
    }
  }, `subject/${kind}/${id}`);
  return <Show loaded={loaded}>{(node) => node}</Show>;
}

/** Columns of the steps table (the receipt row spans them all). */
const stepColumns = 7;

/** One step, and under it, once asked for, its receipt to download and verify. */
function HistoryRow({
  entry,
  index,
  open,
  toggle,
}: {
  entry: data.HistoryStep;
  index: number;
  open: boolean;
  toggle: () => void;
}) {
  const panel = useId();
  return (
    <>
      <tr className={open ? 'opened' : undefined}>
        <td>{index + 1}</td>
        <td>{stateWords(entry.action)}</td>
        <td>
          <State state={entry.state} />
        </td>
        <td>
          <Time ms={entry.time} />
        </td>
        <td>
          <Who by={entry.by} />
        </td>
        <td>
          <Hash value={entry.txId} />
        </td>
        <td>
          <button
            type="button"
            className="secondary small"
            aria-expanded={open}
            aria-controls={open ? panel : undefined}
            aria-label={`Receipt of step ${index + 1} (${stateWords(entry.action)})`}
            onClick={toggle}
          >
            {open ? 'Hide receipt' : 'Receipt'}
          </button>
        </td>
      </tr>
      {open ? (
        <tr className="receipt-row">
          <td colSpan={stepColumns} id={panel}>
            <ReceiptPanel txId={entry.txId} />
          </td>
        </tr>
      ) : null}
    </>
  );
}

export function HistoryPage({ kind, id }: { kind: HistoryKind; id: string }) {
  const [opened, setOpened] = useState<ReadonlySet<number>>(new Set());
  const toggle = (index: number) =>
    setOpened((previous) => {
      const next = new Set(previous);
      if (!next.delete(index)) next.add(index);
      return next;
    });
  const [pages, setPages] = useState<{ key: string; count: number }>({ key: '', count: 1 });
  const key = `${kind}/${id}`;
  const count = pages.key === key ? pages.count : 1;
  const loaded = useLoad(
    async () => {
      const entries: data.HistoryStep[] = [];
      let cursor: number | undefined;
      let next: number | null = null;
      for (let page = 0; page < count; page += 1) {
        const answer = await data.history(kind, id, cursor);
        entries.push(...answer.entries);
        next = answer.next;
        if (next === null) break;
        cursor = next;
      }
      return { entries, next };
    },
    `history/${key}/${count}`,
    10_000,
  );
  return (
    <>
      <h1>
        Audit history of {kindWords[kind]} <Hash value={id} length={16} />
      </h1>
      <Subject kind={kind} id={id} />
      <Section title="Steps, oldest first">
        <p className="muted">
          Each step is a ledger transaction. Its receipt proves it to anyone holding the
          organisations&apos; CA certificates: check it offline with{' '}
          <code className="command">coffer receipt verify</code>.
        </p>
        <Show loaded={loaded}>
          {({ entries, next }) =>
            entries.length === 0 ? (
              <Empty>No steps recorded.</Empty>
            ) : (
              <>
                <div className="table-wrap">
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">#</th>
                        <th scope="col">Action</th>
                        <th scope="col">State after</th>
                        <th scope="col">Time</th>
                        <th scope="col">By</th>
                        <th scope="col">Transaction</th>
                        <th scope="col">Receipt</th>
                      </tr>
                    </thead>
                    <tbody>
                      {entries.map((entry, index) => (
                        <HistoryRow
                          key={`${entry.txId}/${index}`}
                          entry={entry}
                          index={index}
                          open={opened.has(index)}
                          toggle={() => toggle(index)}
                        />
                      ))}
                    </tbody>
                  </table>
                </div>
                {next !== null ? (
                  <button
                    type="button"
                    className="secondary"
                    onClick={() => setPages({ key, count: count + 1 })}
                  >
                    Load more
                  </button>
                ) : null}
              </>
            )
          }
        </Show>
      </Section>
    </>
  );
}

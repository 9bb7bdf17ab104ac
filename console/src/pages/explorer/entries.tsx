// Ledger entries as a table: transactions (outcome, code and reason when invalid, signer,
// batch) and signature entries (tree size, root, node). On a phone each row becomes a card.
import { Badge, Hash } from '../../components/ui.js';
import { href } from '../../router.js';
import type { EntrySummary } from './types.js';

/** A time as the clock shows it, the full date on hover and for machines. */
export function Clock({ ms }: { ms: number | undefined }) {
  if (ms === undefined) return <span className="muted">—</span>;
  const date = new Date(ms);
  return (
    <time dateTime={date.toISOString()} title={date.toLocaleString()}>
      {date.toLocaleTimeString()}
    </time>
  );
}

function What({ entry }: { entry: EntrySummary }) {
  if (entry.kind === 'genesis') return <strong>Genesis</strong>;
  if (entry.kind === 'signature') return <strong>Signature entry</strong>;
  return (
    <>
      {entry.txId === undefined ? (
        <span className="muted">unreadable envelope</span>
      ) : (
        <a
          href={href('explorer', 'tx', entry.txId)}
          aria-label={`${entry.txId.slice(0, 12)}… (transaction ${entry.txId})`}
        >
          <Hash value={entry.txId} />
        </a>
      )}
      <br />
      <span className="app-action">
        {entry.app ?? '?'} · {entry.action ?? '?'}
      </span>
    </>
  );
}

function State({ entry }: { entry: EntrySummary }) {
  if (entry.kind === 'tx') return <Badge state={entry.status ?? 'Invalid'} />;
  return <span className="badge info">{entry.kind === 'genesis' ? 'Genesis' : 'Signed root'}</span>;
}

function Details({ entry }: { entry: EntrySummary }) {
  if (entry.kind === 'genesis') {
    return <span>{entry.writes ?? 0} writes: the consortium&rsquo;s first configuration</span>;
  }
  if (entry.kind === 'signature') {
    return (
      <span>
        Tree size {entry.treeSize ?? '?'}, root{' '}
        {entry.root === undefined ? '?' : <Hash value={entry.root} />}
        {entry.nodeId === undefined ? null : (
          <>
            <br />
            by node <strong>{entry.nodeId}</strong> ({entry.mspId})
          </>
        )}
      </span>
    );
  }
  if (entry.status === 'Invalid') {
    return (
      <span className="reason">
        <strong>{entry.code ?? 'no code'}</strong>
        {entry.message === undefined ? null : <>: {entry.message}</>}
      </span>
    );
  }
  const writes = entry.writes ?? 0;
  if (writes === 0 && entry.privateWrites === true) {
    return <span>Private writes only (encrypted)</span>;
  }
  return (
    <span>
      {writes} public {writes === 1 ? 'write' : 'writes'}
      {entry.privateWrites === true ? ', private writes (encrypted)' : ''}
    </span>
  );
}

function Signer({ entry }: { entry: EntrySummary }) {
  if (entry.kind !== 'tx') return entry.kind === 'signature' ? <span>{entry.mspId}</span> : null;
  if (entry.signer === undefined) return <span className="muted">not verified</span>;
  return (
    <span>
      {entry.signer.mspId}
      <br />
      <Hash value={entry.signer.certId} length={10} />
    </span>
  );
}

export function EntryTable({
  entries,
  caption,
}: {
  entries: readonly EntrySummary[];
  caption: string;
}) {
  return (
    <div className="table-wrap">
      <table className="entries cards">
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Entry</th>
            <th scope="col">State</th>
            <th scope="col">What</th>
            <th scope="col">Details</th>
            <th scope="col">Signer</th>
            <th scope="col">Batch</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((entry) => (
            <tr key={entry.seqno} className={entry.status === 'Invalid' ? 'invalid' : undefined}>
              <td data-label="Entry">
                <div>#{entry.seqno}</div>
              </td>
              <td data-label="State">
                <div>
                  <State entry={entry} />
                </div>
              </td>
              <td data-label="What">
                <div>
                  <What entry={entry} />
                </div>
              </td>
              <td data-label="Details">
                <div>
                  <Details entry={entry} />
                </div>
              </td>
              <td data-label="Signer">
                <div>
                  <Signer entry={entry} />
                </div>
              </td>
              <td data-label="Batch">
                {entry.logPosition === undefined ? (
                  <div className="muted">—</div>
                ) : (
                  <div>
                    #{entry.logPosition}, <Clock ms={entry.time ?? entry.signedAt} />
                  </div>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

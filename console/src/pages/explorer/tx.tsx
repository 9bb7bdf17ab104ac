// One transaction: its outcome (status, app and action, signer, batch, error when invalid), the
// public writes its ledger entry holds, and its receipt, downloaded or verified in the page.
import { useCallback, useState } from 'react';
import { ReceiptPanel } from '../../components/receipt.js';
import { Badge, Hash, Section, Show, useLoad } from '../../components/ui.js';
import { api, ApiError } from '../../lib/api.js';
import { fromBase64 } from '../../lib/bytes.js';
import { decodeLedgerEntry } from '../../lib/receipt.js';
import { href } from '../../router.js';
import { Clock } from './entries.js';
import { SearchForm } from './search-form.js';
import type { EntrySummary, SearchAnswer } from './types.js';

/** Public writes listed (a transaction may write many); characters of a value shown. */
export const writesShownMax = 50;
export const valueCharsShown = 160;
/** A pending receipt (no signature entry yet) is asked again this often, this many times. */
const receiptRetryMs = 1000;
const receiptTriesMax = 10;
/** A pending transaction's status is read again this often. */
const pendingRefreshMs = 2000;

type TxStatus = {
  readonly txId: string;
  readonly status: 'Unknown' | 'Pending' | 'Committed' | 'Invalid';
  readonly seqno?: number;
  readonly code?: string;
  readonly message?: string;
  readonly result?: unknown;
};

type Loaded = { readonly status: TxStatus; readonly summary: EntrySummary | undefined };

async function loadTx(txId: string): Promise<Loaded> {
  const status = await api<TxStatus>('GET', `/v1/tx/${txId}`);
  if (status.status !== 'Committed' && status.status !== 'Invalid') {
    return { status, summary: undefined };
  }
  const found = await api<SearchAnswer>('GET', `/v1/explorer/search?q=${txId}&limit=1`);
  return { status, summary: found.kind === 'tx' ? found.results[0] : undefined };
}

type Write = readonly [map: string, key: string, value: string];

async function loadWrites(
  txId: string,
): Promise<{ writes: readonly Write[]; privateBytes: number }> {
  for (let tries = 1; ; tries += 1) {
    try {
      const receipt = await api<{ entry?: unknown }>('GET', `/v1/tx/${txId}/receipt`);
      if (typeof receipt.entry !== 'string') throw new Error('the receipt carries no entry');
      const decoded = decodeLedgerEntry(fromBase64(receipt.entry));
      if (!decoded.ok) throw new Error(decoded.message);
      if (decoded.entry.kind !== 'tx') throw new Error('the entry is not a transaction');
      return {
        writes: decoded.entry.publicWrites,
        privateBytes: decoded.entry.privateWritesBytes,
      };
    } catch (error) {
      const pending = error instanceof ApiError && error.code === 'NODE_E_RECEIPT_PENDING';
      if (!pending || tries >= receiptTriesMax) throw error;
      await new Promise((resolve) => setTimeout(resolve, receiptRetryMs));
    }
  }
}

function Writes({ txId, summary }: { txId: string; summary: EntrySummary | undefined }) {
  const load = useCallback(() => loadWrites(txId), [txId]);
  const loaded = useLoad(load, `writes:${txId}`);
  return (
    <Section title="Writes">
      <Show loaded={loaded}>
        {({ writes, privateBytes }) => (
          <>
            {writes.length === 0 ? (
              <p>
                No public writes
                {summary?.status === 'Invalid' ? ': an invalid transaction writes nothing.' : '.'}
              </p>
            ) : (
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Map</th>
                      <th scope="col">Key</th>
                      <th scope="col">Value</th>
                    </tr>
                  </thead>
                  <tbody>
                    {writes.slice(0, writesShownMax).map(([map, key, value]) => (
                      <tr key={`${map}/${key}`}>
                        <td>
                          <code>{map}</code>
                        </td>
                        <td>
                          <a href={href('explorer', 'search', `${map}/${key}`)}>
                            <code>{key}</code>
                          </a>
                        </td>
                        <td>
                          <code
                            className="value"
                            title={value.length > valueCharsShown ? value : undefined}
                          >
                            {value.length > valueCharsShown
                              ? `${value.slice(0, valueCharsShown)}…`
                              : value}
                          </code>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
            {writes.length > writesShownMax ? (
              <p className="muted">
                The first {writesShownMax} of {writes.length} public writes; the receipt holds them
                all.
              </p>
            ) : null}
            {privateBytes > 0 && summary?.privateWrites !== false ? (
              <p className="muted">
                It also wrote private maps: encrypted in the ledger ({privateBytes} bytes), readable
                only through the app that owns them.
              </p>
            ) : null}
          </>
        )}
      </Show>
    </Section>
  );
}

function Outcome({ status, summary }: Loaded) {
  const signer = summary?.signer;
  return (
    <Section title="Outcome">
      <dl className="facts">
        <dt>Status</dt>
        <dd>
          <Badge state={status.status} />
        </dd>
        <dt>Transaction id</dt>
        <dd>
          <code className="txid">{status.txId}</code>
        </dd>
        {status.seqno === undefined ? null : (
          <>
            <dt>Ledger entry</dt>
            <dd>
              #{status.seqno}{' '}
              <a href={href('explorer', 'entries', String(status.seqno + 1))}>(in the listing)</a>
            </dd>
          </>
        )}
        <dt>App · action</dt>
        <dd>
          {summary?.app ?? '?'} · {summary?.action ?? '?'}
        </dd>
        <dt>Signer</dt>
        <dd>
          {signer === undefined ? (
            <span className="muted">not verified (the transaction failed before the check)</span>
          ) : (
            <>
              {signer.mspId}, certId <Hash value={signer.certId} />{' '}
              <a href={href('explorer', 'search', `${signer.mspId}:${signer.certId}`)}>
                (their recent transactions)
              </a>
            </>
          )}
        </dd>
        <dt>Batch</dt>
        <dd>
          {summary?.logPosition === undefined ? (
            <span className="muted">not known (executed before this node started)</span>
          ) : (
            <>
              #{summary.logPosition}, <Clock ms={summary.time} />
            </>
          )}
        </dd>
        <dt>Writes</dt>
        <dd>
          {summary?.writes ?? 0} public
          {summary?.privateWrites === true ? ', and private writes (encrypted)' : ''}
        </dd>
      </dl>
      {status.status === 'Invalid' ? (
        <div className="tx-error">
          <strong>{status.code ?? summary?.code ?? 'no code'}</strong>:{' '}
          {status.message ?? summary?.message ?? 'no reason recorded'}
          <p className="muted">
            An invalid transaction stays in the ledger with its reason; it changed no state.
          </p>
        </div>
      ) : null}
      {status.result === undefined || status.result === null ? null : (
        <>
          <h3>Result</h3>
          <pre className="result">{JSON.stringify(status.result, null, 2)}</pre>
        </>
      )}
    </Section>
  );
}

export function TxPage({ txId }: { txId: string }) {
  const load = useCallback(() => loadTx(txId), [txId]);
  // A pending transaction is followed until it executes.
  const [follow, setFollow] = useState(false);
  const loaded = useLoad(load, `tx:${txId}`, follow ? pendingRefreshMs : undefined);
  const pending = loaded.data?.status.status === 'Pending';
  if (pending !== follow) setFollow(pending);
  return (
    <>
      <nav aria-label="Breadcrumb" className="crumbs">
        <a href={href('explorer')}>Ledger explorer</a> › Transaction
      </nav>
      <h1>
        Transaction <Hash value={txId} />
      </h1>
      <Show loaded={loaded}>
        {(data) =>
          data.status.status === 'Unknown' ? (
            <div className="card">
              <p>
                This node does not know transaction <code>{txId}</code>. Check the id, or search for
                it on the node it was submitted to.
              </p>
              <SearchForm />
            </div>
          ) : data.status.status === 'Pending' ? (
            <div className="card" role="status">
              <p>
                <strong>Pending</strong>: accepted, not executed yet. This page follows it.
              </p>
            </div>
          ) : (
            <>
              <Outcome status={data.status} summary={data.summary} />
              <Writes txId={txId} summary={data.summary} />
              <Section title="Receipt">
                <ReceiptPanel txId={txId} />
              </Section>
            </>
          )
        }
      </Show>
    </>
  );
}

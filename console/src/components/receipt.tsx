// A transaction's receipt: download it, verify it in this page (lib/receipt.ts) against the
// CA certificates of the consortium's MSPs as this node publishes them, or verify a receipt
// file chosen from disk (one downloaded earlier, or from another node).
import { useEffect, useId, useRef, useState } from 'react';
import { api, ApiError } from '../lib/api.js';
import {
  receiptTextCharsMax,
  signedRootsMax,
  trustAnchorsFromConsortium,
  verifyReceiptInBrowser,
  type ReceiptVerification,
  type TrustAnchors,
  type VerifiedReceiptInBrowser,
} from '../lib/receipt.js';
import { receiptAdvice } from '../pages/explorer/format.js';
import { ErrorNote, Hash } from './ui.js';
import '../pages/explorer/explorer.css';

/** Where the consortium's MSP definitions are published (decision 0017). */
const mspsRoute = `/v1/state/${encodeURIComponent('public:gov.config')}/msps`;
/** A download's object URL is released after this long (the browser has copied it by then). */
const objectUrlLifeMs = 60_000;

type Verdict =
  | { readonly source: string; readonly result: ReceiptVerification }
  | { readonly source: string; readonly error: unknown };

async function fetchReceipt(txId: string): Promise<unknown> {
  return api<unknown>('GET', `/v1/tx/${txId}/receipt`);
}

async function fetchAnchors(): Promise<TrustAnchors> {
  const published = await api<unknown>('GET', mspsRoute);
  const anchors = trustAnchorsFromConsortium(published);
  if (!anchors.ok) {
    throw new ApiError(
      anchors.code,
      anchors.message,
      'The MSP definitions this node publishes cannot serve as trust anchors: verify the downloaded receipt with coffer receipt verify and your own MSP folders.',
      0,
    );
  }
  return anchors.anchors;
}

function Verified({
  verified,
  source,
  txId,
}: {
  verified: VerifiedReceiptInBrowser;
  source: string;
  txId: string;
}) {
  const nodes = verified.signers.length;
  return (
    <div className="verdict ok">
      <h3>
        <span aria-hidden="true">✓ </span>Receipt verified
      </h3>
      <p>
        {source}: transaction <code className="txid">{verified.txId}</code> is entry #
        {verified.seqno} of the ledger&rsquo;s first {verified.treeSize} entries, whose root{' '}
        {nodes === 1 ? 'one node' : `${nodes} nodes`} of {verified.organisations.join(', ')} signed.
      </p>
      {verified.txId === txId ? null : (
        <p className="warn">
          This receipt is for another transaction than the one on this page (
          <Hash value={txId} />
          ).
        </p>
      )}
      <dl className="facts">
        <dt>Transaction id</dt>
        <dd>
          <code>{verified.txId}</code>
        </dd>
        <dt>Ledger entry</dt>
        <dd>#{verified.seqno}</dd>
        <dt>Tree size</dt>
        <dd>{verified.treeSize}</dd>
        <dt>Merkle root</dt>
        <dd>
          <code>{verified.root}</code>
        </dd>
        <dt>Organisations</dt>
        <dd>{verified.organisations.join(', ')}</dd>
      </dl>
      <div className="table-wrap">
        <table>
          <caption>Nodes that signed the root</caption>
          <thead>
            <tr>
              <th scope="col">Node</th>
              <th scope="col">Organisation</th>
              <th scope="col">Role</th>
              <th scope="col">Signed at</th>
            </tr>
          </thead>
          <tbody>
            {verified.signers.map((signer) => (
              <tr key={signer.nodeId}>
                <td>{signer.nodeId}</td>
                <td>{signer.mspId}</td>
                <td>{signer.role ?? '—'}</td>
                <td>{new Date(signer.signedAt).toLocaleString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="muted">
        Checked in this page against the CA certificates of the consortium&rsquo;s MSPs as this node
        publishes them. If you must not trust this node, verify the downloaded file with{' '}
        <code>coffer receipt verify</code> and your own copy of the MSPs.
      </p>
    </div>
  );
}

function VerdictView({ verdict, txId }: { verdict: Verdict; txId: string }) {
  if ('error' in verdict) {
    return (
      <div className="verdict bad">
        <h3>Could not verify</h3>
        <p>{verdict.source}.</p>
        <ErrorNote error={verdict.error} />
      </div>
    );
  }
  const { result } = verdict;
  if (result.ok) return <Verified verified={result.verified} source={verdict.source} txId={txId} />;
  return (
    <div className="verdict bad">
      <h3>
        <span aria-hidden="true">✗ </span>Receipt did not verify
      </h3>
      <p>
        {verdict.source}: <strong className="code">{result.code}</strong>: {result.message}
        {result.field === undefined ? null : (
          <>
            {' '}
            (field <code>{result.field}</code>)
          </>
        )}
      </p>
      <p className="fix">{receiptAdvice(result.code)}</p>
    </div>
  );
}

export function ReceiptPanel({ txId }: { txId: string }) {
  const [busy, setBusy] = useState(false);
  const [downloadError, setDownloadError] = useState<unknown>(undefined);
  const [verdict, setVerdict] = useState<Verdict | undefined>(undefined);
  const [minOrganisations, setMinOrganisations] = useState(1);
  const ids = useId();
  const urls = useRef<string[]>([]);
  useEffect(
    () => () => {
      for (const url of urls.current) URL.revokeObjectURL(url);
    },
    [],
  );

  const download = async () => {
    setDownloadError(undefined);
    try {
      const receipt = await fetchReceipt(txId);
      const url = URL.createObjectURL(
        new Blob([JSON.stringify(receipt, null, 2)], { type: 'application/json' }),
      );
      urls.current.push(url);
      setTimeout(() => URL.revokeObjectURL(url), objectUrlLifeMs);
      const link = document.createElement('a');
      link.href = url;
      link.download = `receipt-${txId}.json`;
      link.click();
    } catch (caught) {
      setDownloadError(caught);
    }
  };

  const verify = async (source: string, read: () => Promise<unknown>) => {
    setBusy(true);
    setVerdict(undefined);
    try {
      const [receipt, anchors] = await Promise.all([read(), fetchAnchors()]);
      setVerdict({
        source,
        result: await verifyReceiptInBrowser(receipt, anchors, { minOrganisations }),
      });
    } catch (caught) {
      setVerdict({ source, error: caught });
    } finally {
      setBusy(false);
    }
  };

  const verifyFile = (file: File | undefined) => {
    if (file === undefined) return;
    const source = `The file ${file.name}`;
    if (file.size > receiptTextCharsMax) {
      setVerdict({
        source,
        result: {
          ok: false,
          code: 'RECEIPT_E_MALFORMED',
          message: `the file is ${file.size} bytes; a receipt is at most ${receiptTextCharsMax}`,
        },
      });
      return;
    }
    void verify(source, () => file.text());
  };

  return (
    <div className="receipt">
      <p>
        The receipt proves this transaction is in the ledger: its entry, a Merkle path to a root,
        and the nodes&rsquo; signatures of that root.
      </p>
      <div className="receipt-actions">
        <button type="button" className="secondary" onClick={() => void download()}>
          Download receipt
        </button>
        <button
          type="button"
          className="primary"
          disabled={busy}
          aria-busy={busy}
          onClick={() => void verify('The receipt from this node', () => fetchReceipt(txId))}
        >
          {busy ? 'Verifying…' : 'Verify in this page'}
        </button>
      </div>
      <div className="options">
        <div className="option">
          <label>
            Organisations that must have signed
            <input
              type="number"
              min={1}
              max={signedRootsMax}
              value={minOrganisations}
              aria-describedby={`${ids}-orgs`}
              onChange={(event) => {
                const value = Number(event.target.value);
                if (Number.isSafeInteger(value) && value >= 1 && value <= signedRootsMax) {
                  setMinOrganisations(value);
                }
              }}
            />
          </label>
          <p id={`${ids}-orgs`} className="muted hint">
            A receipt verifies only when nodes of at least this many organisations signed its root.
          </p>
        </div>
        <div className="option">
          <label>
            Verify a receipt file
            <input
              type="file"
              accept=".json,application/json"
              disabled={busy}
              aria-describedby={`${ids}-file`}
              onChange={(event) => {
                verifyFile(event.target.files?.[0]);
                event.target.value = '';
              }}
            />
          </label>
          <p id={`${ids}-file`} className="muted hint">
            A receipt downloaded earlier, or from another node: it is checked in this page.
          </p>
        </div>
      </div>
      <ErrorNote error={downloadError} />
      <div role="status" aria-live="polite" className="verdict-region">
        {busy ? <p aria-busy="true">Verifying…</p> : null}
        {verdict === undefined ? null : <VerdictView verdict={verdict} txId={txId} />}
      </div>
    </div>
  );
}

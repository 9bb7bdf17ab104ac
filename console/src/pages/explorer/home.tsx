// The explorer's home: live throughput and commit latency charts, the newest batches and the
// ledger's entries (newest first, live; older pages by cursor in the route).
import { useCallback } from 'react';
import { api } from '../../lib/api.js';
import { Section, Show, useLoad } from '../../components/ui.js';
import { href } from '../../router.js';
import { LineChart } from './chart.js';
import {
  aggregate,
  chartModel,
  completeSeconds,
  formatMs,
  formatNumber,
  formatSeconds,
  latencySummary,
  throughputSummary,
  type MetricsRow,
} from './charts.js';
import { Clock, EntryTable } from './entries.js';
import { entriesPageSize, newerCursor } from './format.js';
import { SearchForm } from './search-form.js';
import type { BatchesAnswer, EntriesAnswer, MetricsAnswer, MetricsPoint } from './types.js';

/** Live data is read again this often. */
export const explorerRefreshMs = 3000;
/** The charts' window (the node keeps 600 s). */
export const chartSeconds = 300;
/** Seconds per row of the charts' tables. */
export const tableRowSeconds = 30;
export const batchesShown = 8;

function MetricsTable({
  rows,
  kind,
}: {
  rows: readonly MetricsRow[];
  kind: 'throughput' | 'latency';
}) {
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Seconds</th>
            {kind === 'throughput' ? (
              <>
                <th scope="col">Committed</th>
                <th scope="col">Invalid</th>
                <th scope="col">tx/s</th>
              </>
            ) : (
              <>
                <th scope="col">Highest p50</th>
                <th scope="col">Highest p99</th>
              </>
            )}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.from}>
              <td>
                <Clock ms={row.from * 1000} /> – <Clock ms={row.to * 1000 + 999} />
              </td>
              {kind === 'throughput' ? (
                <>
                  <td>{row.committed}</td>
                  <td>{row.invalid}</td>
                  <td>{formatNumber(row.perSecond)}</td>
                </>
              ) : (
                <>
                  <td>{row.p50MaxMs === null ? '—' : formatMs(row.p50MaxMs)}</td>
                  <td>{row.p99MaxMs === null ? '—' : formatMs(row.p99MaxMs)}</td>
                </>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Charts({ points }: { points: readonly MetricsPoint[] }) {
  const whole = completeSeconds(points);
  const times = whole.map((point) => point.t);
  const rows = aggregate(whole, tableRowSeconds);
  const throughput = chartModel({
    times,
    floor: 1,
    format: formatNumber,
    series: [
      {
        key: 'committed',
        label: 'Committed',
        dash: 'solid',
        tone: 'accent',
        values: whole.map((point) => point.committed),
      },
      {
        key: 'invalid',
        label: 'Invalid',
        dash: 'dashed',
        tone: 'bad',
        values: whole.map((point) => point.invalid),
      },
    ],
  });
  const latency = chartModel({
    times,
    floor: 1,
    format: formatNumber,
    series: [
      {
        key: 'p50',
        label: 'p50 (median)',
        dash: 'solid',
        tone: 'accent',
        values: whole.map((point) => point.commitLatencyP50Ms),
      },
      {
        key: 'p99',
        label: 'p99',
        dash: 'dashed',
        tone: 'wait',
        values: whole.map((point) => point.commitLatencyP99Ms),
      },
    ],
  });
  const span = formatSeconds(whole.length);
  return (
    <div className="grid charts">
      <Section title="Throughput">
        <LineChart
          title={`Transactions per second, committed and invalid, over the last ${span}`}
          summary={throughputSummary(whole)}
          model={throughput}
          yLabel="tx/s"
          table={<MetricsTable rows={rows} kind="throughput" />}
        />
      </Section>
      <Section title="Commit latency">
        <LineChart
          title={`Commit latency p50 and p99 in milliseconds over the last ${span}`}
          summary={latencySummary(whole)}
          model={latency}
          yLabel="ms"
          table={<MetricsTable rows={rows} kind="latency" />}
        />
        <p className="muted note">
          From this node accepting a submission to executing it, for transactions submitted to this
          node.
        </p>
      </Section>
    </div>
  );
}

function Batches() {
  const load = useCallback(
    () => api<BatchesAnswer>('GET', `/v1/explorer/batches?limit=${batchesShown}`),
    [],
  );
  const loaded = useLoad(load, 'batches', explorerRefreshMs);
  return (
    <Section title="Recent batches">
      <Show loaded={loaded}>
        {({ batches }) =>
          batches.length === 0 ? (
            <p>
              This node has executed no batch with transactions since it started. Submit a
              transaction and it appears here within seconds.
            </p>
          ) : (
            <div className="table-wrap">
              <table className="cards">
                <thead>
                  <tr>
                    <th scope="col">Batch</th>
                    <th scope="col">Time</th>
                    <th scope="col">Entries</th>
                    <th scope="col">Transactions</th>
                    <th scope="col">Invalid</th>
                  </tr>
                </thead>
                <tbody>
                  {batches.map((batch) => (
                    <tr
                      key={batch.logPosition}
                      className={batch.invalid > 0 ? 'invalid' : undefined}
                    >
                      <td data-label="Batch">
                        <div>#{batch.logPosition}</div>
                      </td>
                      <td data-label="Time">
                        <div>
                          <Clock ms={batch.time} />
                        </div>
                      </td>
                      <td data-label="Entries">
                        <div>
                          <a
                            href={href('explorer', 'entries', String(batch.lastSeqno + 1))}
                            aria-label={`Entries ${batch.firstSeqno} to ${batch.lastSeqno}`}
                          >
                            #{batch.firstSeqno}
                            {batch.lastSeqno === batch.firstSeqno ? '' : `–#${batch.lastSeqno}`}
                          </a>
                        </div>
                      </td>
                      <td data-label="Transactions">
                        <div>{batch.transactions}</div>
                      </td>
                      <td data-label="Invalid">
                        <div className={batch.invalid > 0 ? 'bad' : undefined}>{batch.invalid}</div>
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

function Entries({ before }: { before: number | undefined }) {
  const load = useCallback(
    () =>
      api<EntriesAnswer>(
        'GET',
        `/v1/explorer/entries?limit=${entriesPageSize}${before === undefined ? '' : `&before=${before}`}`,
      ),
    [before],
  );
  // The newest page follows the ledger; an older page stays still.
  const loaded = useLoad(
    load,
    `entries:${before ?? 'newest'}`,
    before === undefined ? explorerRefreshMs : undefined,
  );
  const title = before === undefined ? 'Recent entries' : `Entries before #${before}`;
  return (
    <Section title={title}>
      <Show loaded={loaded}>
        {({ entries, next }) => (
          <>
            {entries.length === 0 ? (
              <p>No entries here. The ledger starts at entry #1.</p>
            ) : (
              <EntryTable entries={entries} caption={title} />
            )}
            <nav className="pager" aria-label="Entry pages">
              {before === undefined ? null : (
                <>
                  <a href={href('explorer')}>Newest</a>
                  <a
                    href={href('explorer', 'entries', String(newerCursor(before, entriesPageSize)))}
                  >
                    ← Newer
                  </a>
                </>
              )}
              {next === null ? (
                <span className="muted">This is the start of the ledger.</span>
              ) : (
                <a href={href('explorer', 'entries', String(next))}>Older →</a>
              )}
            </nav>
          </>
        )}
      </Show>
    </Section>
  );
}

function Metrics() {
  const load = useCallback(
    () => api<MetricsAnswer>('GET', `/v1/explorer/metrics?seconds=${chartSeconds + 1}`),
    [],
  );
  const loaded = useLoad(load, 'metrics', explorerRefreshMs);
  return <Show loaded={loaded}>{({ points }) => <Charts points={points} />}</Show>;
}

export function ExplorerHome({ before }: { before: number | undefined }) {
  return (
    <>
      <h1>Ledger explorer</h1>
      <SearchForm />
      {before === undefined ? (
        <>
          <p className="muted live">
            This node&rsquo;s view, read again every {explorerRefreshMs / 1000} seconds.
          </p>
          <Metrics />
          <Batches />
        </>
      ) : null}
      <Entries before={before} />
    </>
  );
}

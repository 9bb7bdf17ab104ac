// Search results: a transaction found by id (any age), or the transactions of an identity or
// that wrote a key among the entries this node keeps, saying how far back it looked.
import { useCallback } from 'react';
import { api } from '../../lib/api.js';
import { Section, Show, useLoad } from '../../components/ui.js';
import { href } from '../../router.js';
import { EntryTable } from './entries.js';
import { entryLine, resultsHeading, searchPageSize, searchScope } from './format.js';
import { SearchForm } from './search-form.js';
import type { SearchAnswer } from './types.js';

function Results({ q, answer }: { q: string; answer: SearchAnswer }) {
  const found = answer.results[0];
  if (answer.kind === 'tx') {
    return (
      <Section title={resultsHeading(answer)}>
        {answer.pending === true || found?.txId === undefined ? (
          <p>
            {searchScope(answer)} <a href={href('explorer', 'tx', q)}>Follow the transaction</a>
          </p>
        ) : (
          <>
            <p>
              Entry #{found.seqno}: {entryLine(found)}.{' '}
              <a className="open" href={href('explorer', 'tx', found.txId)}>
                Open transaction {found.txId.slice(0, 12)}…
              </a>
            </p>
            <EntryTable entries={answer.results} caption="The transaction found" />
            <p className="muted">{searchScope(answer)}</p>
          </>
        )}
      </Section>
    );
  }
  return (
    <Section title={resultsHeading(answer)}>
      <p className="scope">{searchScope(answer)}</p>
      {answer.results.length === 0 ? (
        <p>
          Nothing found. Check the spelling; an MSP ID is case-sensitive (<code>Org1MSP</code>), a
          key is searched as the whole <code>public:map/key</code>.
        </p>
      ) : (
        <EntryTable entries={answer.results} caption={`Results for ${q}`} />
      )}
      {answer.next === null ? null : (
        <nav className="pager" aria-label="Result pages">
          <a href={href('explorer', 'search', q, String(answer.next))}>Older results →</a>
        </nav>
      )}
    </Section>
  );
}

export function SearchPage({ q, before }: { q: string; before: number | undefined }) {
  const load = useCallback(
    () =>
      api<SearchAnswer>(
        'GET',
        `/v1/explorer/search?q=${encodeURIComponent(q)}&limit=${searchPageSize}${before === undefined ? '' : `&before=${before}`}`,
      ),
    [q, before],
  );
  const loaded = useLoad(load, `search:${q}:${before ?? ''}`);
  return (
    <>
      <h1>Search</h1>
      <SearchForm key={q} initial={q} />
      <Show loaded={loaded}>{(answer) => <Results q={q} answer={answer} />}</Show>
    </>
  );
}

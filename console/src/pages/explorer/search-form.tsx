// The explorer's search box: a transaction id, an identity or a public key; checked in the
// page first (checkQuery) so a person learns what is searchable before a round trip.
import { useId, useState, type SyntheticEvent } from 'react';
import { navigate } from '../../router.js';
import { checkQuery } from './format.js';

export function SearchForm({ initial = '' }: { initial?: string }) {
  const [text, setText] = useState(initial);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const hint = useId();
  const submit = (event: SyntheticEvent) => {
    event.preventDefault();
    const checked = checkQuery(text);
    if (!checked.ok) {
      setProblem(checked.why);
      return;
    }
    setProblem(undefined);
    navigate('explorer', 'search', checked.q);
  };
  return (
    <form role="search" className="card explorer-search" onSubmit={submit}>
      <div className="search-row">
        <label>
          Search the ledger
          <input
            type="search"
            value={text}
            spellCheck={false}
            autoComplete="off"
            aria-describedby={hint}
            aria-invalid={problem === undefined ? undefined : true}
            onChange={(event) => setText(event.target.value)}
          />
        </label>
        <button type="submit" className="primary">
          Search
        </button>
      </div>
      <p id={hint} className="muted hint">
        A transaction id (64 hex digits); an identity: an MSP ID such as <code>Org1MSP</code>, a
        certId, or <code>MSPID:certId</code>; or a key of a public map as{' '}
        <code>public:map/key</code>.
      </p>
      {problem === undefined ? null : (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
    </form>
  );
}

// The ledger explorer (decision 0026): #/explorer (charts, batches, newest entries),
// #/explorer/entries/<before> (older entries), #/explorer/search/<q>[/<before>] and
// #/explorer/tx/<txId> (a transaction and its receipt).
import { href } from '../../router.js';
import { cursorOf, txIdOf } from './format.js';
import { ExplorerHome } from './home.js';
import { SearchPage } from './search.js';
import { TxPage } from './tx.js';
import './explorer.css';

function NotFound({ route }: { route: string[] }) {
  return (
    <>
      <h1>Ledger explorer</h1>
      <div className="card">
        <p>
          There is no explorer page at <code>#/explorer/{route.join('/')}</code>.{' '}
          <a href={href('explorer')}>Open the explorer&rsquo;s home</a> to search the ledger.
        </p>
      </div>
    </>
  );
}

function Page({ route }: { route: string[] }) {
  const [page, first, second] = route;
  if (page === undefined) return <ExplorerHome before={undefined} />;
  if (page === 'entries' && cursorOf(first) !== undefined && second === undefined) {
    return <ExplorerHome before={cursorOf(first)} />;
  }
  if (page === 'search' && first !== undefined && first.trim() !== '') {
    const before = cursorOf(second);
    if (second === undefined || before !== undefined) {
      return <SearchPage q={first} before={before} />;
    }
  }
  const txId = txIdOf(first);
  if (page === 'tx' && txId !== undefined && second === undefined) return <TxPage txId={txId} />;
  return <NotFound route={route} />;
}

export function ExplorerArea({ route }: { route: string[] }) {
  return (
    <div className="explorer">
      <Page route={route} />
    </div>
  );
}

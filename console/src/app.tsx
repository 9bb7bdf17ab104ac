// The console's shell: a header with the areas and the signed-in identity, then the area the
// hash route names. Areas: custody, governance, explorer (pages/<area>/index.tsx).
import { useSession } from './session.js';
import { href, useRoute } from './router.js';
import { SignIn } from './pages/sign-in.js';
import { CustodyArea } from './pages/custody/index.js';
import { GovernanceArea } from './pages/governance/index.js';
import { ExplorerArea } from './pages/explorer/index.js';

const areas = [
  { path: 'custody', label: 'Custody' },
  { path: 'governance', label: 'Governance' },
  { path: 'explorer', label: 'Ledger explorer' },
] as const;

function Header() {
  const session = useSession();
  const [area] = useRoute();
  return (
    <header className="top">
      <a className="brand" href={href('custody')}>
        Coffer
      </a>
      <nav aria-label="Areas">
        <ul>
          {areas.map((item) => (
            <li key={item.path}>
              <a
                href={href(item.path)}
                aria-current={(area ?? 'custody') === item.path ? 'page' : undefined}
              >
                {item.label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      {session.caller !== null ? (
        <div className="who" aria-label="Signed in as">
          <span>
            {session.caller.mspId} ·{' '}
            {session.caller.isAdmin ? 'admin' : (session.caller.role ?? 'member')} ·{' '}
            <code title={session.caller.identityId}>{session.caller.identityId.slice(0, 8)}</code>
          </span>
          <span className={session.identity === undefined ? 'badge wait' : 'badge ok'}>
            {session.identity === undefined ? 'read-only' : 'can sign'}
          </span>
          <button type="button" className="secondary" onClick={() => void session.signOut()}>
            Sign out
          </button>
        </div>
      ) : null}
    </header>
  );
}

export function App() {
  const session = useSession();
  const route = useRoute();
  const [area = 'custody', ...rest] = route;
  let body;
  if (!session.ready) body = <p aria-busy="true">Loading…</p>;
  else if (session.caller === null) body = <SignIn />;
  else if (area === 'governance') body = <GovernanceArea route={rest} />;
  else if (area === 'explorer') body = <ExplorerArea route={rest} />;
  else body = <CustodyArea route={rest} />;
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <Header />
      {session.ready && session.caller !== null && session.identity === undefined ? (
        <aside className="unlock" aria-label="Unlock to sign">
          <p>You can read. To approve, vote or propose, unlock your key store:</p>
          <SignIn compact />
        </aside>
      ) : null}
      <main id="main" tabIndex={-1}>
        {body}
      </main>
    </>
  );
}

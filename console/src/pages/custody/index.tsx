// The custody area (`#/custody/...`): wallets, withdrawals, the approval queue, policy changes
// awaiting quorum and the audit history of any custody object. Routes: model.ts.
import { href } from '../../router.js';
import { ApprovalsPage, PolicyPage } from './approvals.js';
import { HistoryPage } from './history.js';
import { parseCustodyRoute } from './model.js';
import { CustodyNav, Empty } from './parts.js';
import { WalletPage, WalletsPage } from './wallets.js';
import { WithdrawalPage, WithdrawalsPage } from './withdrawals.js';
import './custody.css';

export function CustodyArea({ route }: { route: string[] }) {
  const parsed = parseCustodyRoute(route);
  let page;
  switch (parsed.page) {
    case 'wallets':
      page = <WalletsPage />;
      break;
    case 'wallet':
      page = <WalletPage key={parsed.id} id={parsed.id} />;
      break;
    case 'withdrawals':
      page = <WithdrawalsPage wallet={parsed.wallet} state={parsed.state} />;
      break;
    case 'withdrawal':
      page = <WithdrawalPage key={parsed.id} id={parsed.id} />;
      break;
    case 'approvals':
      page = <ApprovalsPage />;
      break;
    case 'policy':
      page = <PolicyPage />;
      break;
    case 'history':
      page = <HistoryPage key={`${parsed.kind}/${parsed.id}`} kind={parsed.kind} id={parsed.id} />;
      break;
    case 'unknown':
      page = (
        <>
          <h1>Not a custody page</h1>
          <Empty>
            Nothing lives at custody/{parsed.path}. Go to the{' '}
            <a href={href('custody', 'wallets')}>wallets</a> or the{' '}
            <a href={href('custody', 'approvals')}>pending approvals</a>.
          </Empty>
        </>
      );
      break;
  }
  return (
    <div className="custody">
      <CustodyNav page={parsed.page} />
      {page}
    </div>
  );
}

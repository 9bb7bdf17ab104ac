// The governance area (`#/governance/...`): proposals (open ones first, with the constitution's
// verdict now), one proposal with its votes, writing a proposal, the organisations' MSPs and
// the nodes. Routes:
//   #/governance, #/governance/proposals       the proposals
//   #/governance/proposals/<id>                 one proposal; vote or withdraw
//   #/governance/propose[/msp/<MSPID>|/admit/<node>]  write a proposal (a form preset)
//   #/governance/organisations                  each organisation's MSP
//   #/governance/nodes                          nodes, attestation, join requests
import { href } from '../../router.js';
import { NodesPage } from './nodes.js';
import { OrganisationsPage } from './organisations.js';
import { GovNav } from './parts.js';
import { ProposalPage } from './proposal.js';
import { ProposalsPage } from './proposals.js';
import { ProposePage, type ProposePreset } from './propose.js';
import { govRouteOf } from './route.js';
import './governance.css';

function presetOf(kind: string | undefined, value: string | undefined): ProposePreset {
  if (kind === 'msp' && value !== undefined) return { builder: 'msp', mspId: value };
  if (kind === 'admit' && value !== undefined) return { builder: 'membership', admitNode: value };
  return undefined;
}

export function GovernanceArea({ route }: { route: string[] }) {
  const parsed = govRouteOf(route);
  let page;
  switch (parsed.page) {
    case 'proposals':
      page = <ProposalsPage />;
      break;
    case 'proposal':
      page = <ProposalPage key={parsed.id} id={parsed.id} />;
      break;
    case 'propose':
      page = (
        <ProposePage
          key={route.join('/')}
          preset={presetOf(parsed.preset?.kind, parsed.preset?.value)}
        />
      );
      break;
    case 'organisations':
      page = <OrganisationsPage />;
      break;
    case 'nodes':
      page = <NodesPage />;
      break;
    case 'unknown':
      page = (
        <>
          <h1>Not a governance page</h1>
          <div className="card">
            <p>
              There is no governance page at <code>#/governance/{route.join('/')}</code>.{' '}
              <a href={href('governance', 'proposals')}>See the proposals</a>.
            </p>
          </div>
        </>
      );
      break;
  }
  return (
    <div className="governance">
      <GovNav page={parsed.page === 'proposal' ? 'proposals' : parsed.page} />
      {page}
    </div>
  );
}

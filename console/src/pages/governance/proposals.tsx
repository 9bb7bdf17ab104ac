// #/governance/proposals: open proposals first, each with its actions in words, proposer, every
// member's ballot and the constitution's verdict now (the `verdicts` query); then recently
// closed ones.
import { Hash, Section, Show, Time, useLoad } from '../../components/ui.js';
import { href } from '../../router.js';
import {
  ballotRows,
  ballotTone,
  constitutionText,
  orderProposals,
  verdictText,
  type BallotRow,
} from './describe.js';
import { gov, refreshMs, type GovConfig, type Proposal, type Verdicts } from './model.js';
import { ActionWords, Empty, ToneBadge, useNow } from './parts.js';

/** Closed proposals the list shows (the query returns the most recent first). */
const closedShownMax = 25;

type Loaded = { proposals: Proposal[]; verdicts: Verdicts; config: GovConfig };

async function load(): Promise<Loaded> {
  const [proposals, verdicts, config] = await Promise.all([
    gov.proposals(),
    gov.verdicts(),
    gov.config(),
  ]);
  return { proposals, verdicts, config };
}

export function BallotList({ rows }: { rows: readonly BallotRow[] }) {
  return (
    <ul className="gov-ballots" aria-label="Votes">
      {rows.map((row) => (
        <li key={row.mspId}>
          <span>{row.mspId}</span> <ToneBadge tone={ballotTone(row.ballot)}>{row.ballot}</ToneBadge>
          {row.member ? null : <span className="muted"> (no longer a member: not counted)</span>}
        </li>
      ))}
    </ul>
  );
}

function OpenProposal({ proposal, data, now }: { proposal: Proposal; data: Loaded; now: number }) {
  const verdict = data.verdicts.verdicts.find((item) => item.proposalId === proposal.id);
  const words = verdictText(proposal, verdict, now, data.verdicts.constitution);
  const titleId = `proposal-${proposal.id}`;
  return (
    <li className="gov-proposal" aria-labelledby={titleId}>
      <div className="gov-proposal-head">
        <h3 id={titleId}>
          <a href={href('governance', 'proposals', proposal.id)}>
            Proposal {proposal.id.slice(0, 12)}…
          </a>
        </h3>
        <ToneBadge tone={words.tone}>{words.state}</ToneBadge>
        <span className="gov-verdict">{words.detail}</span>
      </div>
      <ActionWords actions={proposal.actions} config={data.config} />
      <BallotList rows={ballotRows(proposal, data.config.members)} />
      <p className="muted gov-small">
        Proposed by {proposal.proposer.mspId} on <Time ms={proposal.createdAt} />; expires{' '}
        <Time ms={proposal.expiresAt} />.{' '}
        <a href={href('governance', 'proposals', proposal.id)}>Review and vote</a>
      </p>
    </li>
  );
}

function ClosedTable({ proposals, data }: { proposals: Proposal[]; data: Loaded }) {
  return (
    <div className="table-wrap">
      <table className="gov-stack">
        <caption className="visually-hidden">Closed proposals, most recently closed first</caption>
        <thead>
          <tr>
            <th scope="col">Proposal</th>
            <th scope="col">Actions</th>
            <th scope="col">Proposer</th>
            <th scope="col">Votes</th>
            <th scope="col">Outcome</th>
            <th scope="col">Closed</th>
          </tr>
        </thead>
        <tbody>
          {proposals.map((proposal) => {
            const words = verdictText(proposal, undefined, 0);
            return (
              <tr key={proposal.id}>
                <td data-label="Proposal">
                  <a href={href('governance', 'proposals', proposal.id)}>
                    <Hash value={proposal.id} length={10} />
                  </a>
                </td>
                <td data-label="Actions">
                  <ActionWords actions={proposal.actions} />
                </td>
                <td data-label="Proposer">{proposal.proposer.mspId}</td>
                <td data-label="Votes">
                  <BallotList rows={ballotRows(proposal, data.config.members)} />
                </td>
                <td data-label="Outcome">
                  <ToneBadge tone={words.tone}>{words.state}</ToneBadge>
                  {proposal.state === 'Failed' ? (
                    <div className="gov-small">{words.detail}</div>
                  ) : null}
                </td>
                <td data-label="Closed">
                  <Time ms={proposal.closedAt} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export function ProposalsPage() {
  const loaded = useLoad(load, 'gov-proposals', refreshMs);
  const now = useNow();
  return (
    <>
      <h1>Governance proposals</h1>
      <Show loaded={loaded}>
        {(data) => {
          const ordered = orderProposals(data.proposals);
          const open = ordered.filter((proposal) => proposal.state === 'Open');
          const closed = ordered.filter((proposal) => proposal.state !== 'Open');
          return (
            <>
              <p className="gov-lead">
                The constitution in force:{' '}
                <strong>{constitutionText(data.verdicts.constitution)}</strong>. Members whose
                admins vote: {data.config.members.join(', ')}.
              </p>
              <Section
                title={`Open proposals (${open.length})`}
                actions={
                  <a className="gov-button-link" href={href('governance', 'propose')}>
                    New proposal
                  </a>
                }
              >
                {open.length === 0 ? (
                  <Empty>
                    No proposal is open. To change the consortium&rsquo;s configuration (settings,
                    an organisation&rsquo;s MSP, custody parameters…),{' '}
                    <a href={href('governance', 'propose')}>write a proposal</a>.
                  </Empty>
                ) : (
                  <ul className="gov-proposal-list">
                    {open.map((proposal) => (
                      <OpenProposal key={proposal.id} proposal={proposal} data={data} now={now} />
                    ))}
                  </ul>
                )}
              </Section>
              <Section title="Recently closed">
                {closed.length === 0 ? (
                  <Empty>No proposal has closed yet.</Empty>
                ) : (
                  <ClosedTable proposals={closed.slice(0, closedShownMax)} data={data} />
                )}
              </Section>
            </>
          );
        }}
      </Show>
    </>
  );
}

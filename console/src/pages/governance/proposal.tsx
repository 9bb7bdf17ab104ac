// #/governance/proposals/<id>: one proposal: the constitution's verdict now, its actions in
// words (and as JSON), every member's ballot, its timeline; Vote yes/no for member admins and
// Withdraw for the proposer's organisation, signed in the page.
import { useCallback, useState } from 'react';
import { Hash, Section, Show, SignButton, Time, useLoad } from '../../components/ui.js';
import { href } from '../../router.js';
import { useSession } from '../../session.js';
import {
  ballotRows,
  ballotTone,
  constitutionText,
  proposalRights,
  verdictText,
} from './describe.js';
import { gov, type GovConfig, type Proposal, type Verdicts } from './model.js';
import { ActionWords, Facts, ToneBadge, useNow } from './parts.js';

/** An open proposal is re-read this often (ballots arrive from other organisations). */
const openRefreshMs = 3000;

type Loaded = { proposal: Proposal; verdicts: Verdicts; config: GovConfig };

function TxLink({ txId }: { txId: string }) {
  return (
    <a href={href('explorer', 'tx', txId)} title="Open the transaction in the ledger explorer">
      <Hash value={txId} length={10} />
    </a>
  );
}

function Votes({ data }: { data: Loaded }) {
  const rows = ballotRows(data.proposal, data.config.members);
  return (
    <div className="table-wrap">
      <table>
        <caption className="visually-hidden">One ballot per member organisation</caption>
        <thead>
          <tr>
            <th scope="col">Organisation</th>
            <th scope="col">Ballot</th>
            <th scope="col">Cast by (identity)</th>
            <th scope="col">When</th>
            <th scope="col">Transaction</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.mspId}>
              <th scope="row">
                {row.mspId}
                {row.member ? null : (
                  <div className="muted gov-small">not a member: not counted</div>
                )}
              </th>
              <td>
                <ToneBadge tone={ballotTone(row.ballot)}>{row.ballot}</ToneBadge>
              </td>
              <td>{row.identityId === undefined ? '—' : <Hash value={row.identityId} />}</td>
              <td>
                <Time ms={row.time} />
              </td>
              <td>{row.txId === undefined ? '—' : <TxLink txId={row.txId} />}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Timeline({ proposal }: { proposal: Proposal }) {
  const ballots = Object.entries(proposal.ballots)
    .map(([mspId, ballot]) => ({ mspId, ...ballot }))
    .filter((ballot) => ballot.txId !== proposal.id)
    .sort((a, b) => a.time - b.time);
  return (
    <ol className="timeline">
      <li>
        Proposed by {proposal.proposer.mspId} (its yes) · <Time ms={proposal.createdAt} />
      </li>
      {ballots.map((ballot) => (
        <li key={ballot.txId}>
          {ballot.mspId} voted {ballot.ballot} · <Time ms={ballot.time} />
        </li>
      ))}
      {proposal.state === 'Open' ? (
        <li className="future">
          Expires · <Time ms={proposal.expiresAt} />
        </li>
      ) : (
        <li>
          {proposal.state} · <Time ms={proposal.closedAt} />
        </li>
      )}
    </ol>
  );
}

function YourVote({ data, now, reload }: { data: Loaded; now: number; reload: () => void }) {
  const session = useSession();
  const { proposal } = data;
  const rights = proposalRights(proposal, session.caller, data.config.members, now);
  if (proposal.state !== 'Open') return null;
  const mine = session.caller === null ? undefined : proposal.ballots[session.caller.mspId];
  const verdict = data.verdicts.verdicts[0];
  const decides =
    session.caller !== null &&
    mine === undefined &&
    verdict?.acceptedByYesOf?.includes(session.caller.mspId) === true;
  return (
    <Section title="Your vote">
      {rights.why === undefined ? (
        <p>
          You vote for {session.caller?.mspId}
          {mine === undefined
            ? ': it has not voted yet.'
            : `: it voted ${mine.ballot}; a new ballot replaces it.`}
          {decides ? ' Your yes accepts the proposal and applies it at once.' : null}
        </p>
      ) : (
        <p className="gov-note">{rights.why}</p>
      )}
      <div className="gov-buttons">
        {rights.vote ? (
          <>
            <SignButton
              label="Vote yes"
              app="gov"
              action="vote"
              args={() => ({ proposalId: proposal.id, ballot: 'yes' })}
              onDone={reload}
            />
            <SignButton
              label="Vote no"
              kind="secondary"
              app="gov"
              action="vote"
              args={() => ({ proposalId: proposal.id, ballot: 'no' })}
              onDone={reload}
            />
          </>
        ) : null}
        {rights.withdraw ? (
          <SignButton
            label="Withdraw proposal"
            kind="danger"
            app="gov"
            action="withdraw"
            confirm="Withdraw this proposal? It closes for good; a new proposal starts again."
            args={() => ({ proposalId: proposal.id })}
            onDone={reload}
          />
        ) : null}
      </div>
    </Section>
  );
}

export function ProposalPage({ id }: { id: string }) {
  // A closed proposal never changes again: stop re-reading it.
  const [closed, setClosed] = useState(false);
  const load = useCallback(async (): Promise<Loaded> => {
    const [proposal, verdicts, config] = await Promise.all([
      gov.proposal(id),
      gov.verdicts([id]),
      gov.config(),
    ]);
    if (proposal.state !== 'Open') setClosed(true);
    return { proposal, verdicts, config };
  }, [id]);
  const loaded = useLoad(load, `gov-proposal/${id}`, closed ? undefined : openRefreshMs);
  const now = useNow(2000);
  return (
    <>
      <h1 className="gov-title">
        Proposal <Hash value={id} length={12} />
      </h1>
      <Show loaded={loaded}>
        {(data) => {
          const { proposal } = data;
          const words = verdictText(
            proposal,
            data.verdicts.verdicts[0],
            now,
            data.verdicts.constitution,
          );
          return (
            <>
              <p className="gov-verdict-line" role="status" aria-live="polite">
                <ToneBadge tone={words.tone}>{words.state}</ToneBadge> {words.detail}.
              </p>
              <YourVote data={data} now={now} reload={loaded.reload} />
              <Section title="What it changes">
                <ActionWords
                  actions={proposal.actions}
                  config={proposal.state === 'Open' ? data.config : undefined}
                  showArgs
                />
              </Section>
              <div className="grid">
                <Section title="Votes">
                  <Votes data={data} />
                  <p className="muted gov-small">
                    The constitution in force: {constitutionText(data.verdicts.constitution)}. One
                    ballot per member organisation; proposing counts as the proposer&rsquo;s yes.
                  </p>
                </Section>
                <Section title="Timeline">
                  <Timeline proposal={proposal} />
                </Section>
              </div>
              <Section title="Details">
                <Facts
                  items={[
                    ['Proposal id', <Hash key="id" value={proposal.id} length={64} />],
                    [
                      'Proposer',
                      <span key="p">
                        {proposal.proposer.mspId}, identity{' '}
                        <Hash value={proposal.proposer.identityId} />
                      </span>,
                    ],
                    ['Proposed', <Time key="c" ms={proposal.createdAt} />],
                    ['Expires', <Time key="e" ms={proposal.expiresAt} />],
                    ...(proposal.closedAt === undefined
                      ? []
                      : [['Closed', <Time key="x" ms={proposal.closedAt} />] as const]),
                    ...(proposal.failure === undefined
                      ? []
                      : [
                          [
                            'Failure',
                            <span key="f">
                              <code>{proposal.failure.code}</code>: {proposal.failure.message}
                            </span>,
                          ] as const,
                        ]),
                    ['Transaction', <TxLink key="t" txId={proposal.id} />],
                  ]}
                />
                <p>
                  <a href={href('governance', 'proposals')}>Back to all proposals</a>
                </p>
              </Section>
            </>
          );
        }}
      </Show>
    </>
  );
}

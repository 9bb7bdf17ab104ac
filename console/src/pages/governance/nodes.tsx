// #/governance/nodes: the nodes of the configuration in force (organisation, URL, admitted or
// retired, code id and whether it is still allowed, attestation type as the node reported it),
// how this node sees its peers, this node's own attestation and admission (GET /v1/status),
// the allowed code ids and the join requests waiting for admission.
import { Hash, Section, Show, Time, useLoad } from '../../components/ui.js';
import { href } from '../../router.js';
import { nodeRows, type NodeRow } from './nodes-model.js';
import { gov, refreshMs, type GovConfig, type JoinRequest, type NodeStatus } from './model.js';
import { Empty, Facts, ToneBadge } from './parts.js';

type Loaded = { config: GovConfig; joins: JoinRequest[]; status: NodeStatus };

async function load(): Promise<Loaded> {
  const [config, joins, status] = await Promise.all([gov.config(), gov.joins(), gov.status()]);
  return { config, joins, status };
}

function NodesTable({ rows }: { rows: readonly NodeRow[] }) {
  return (
    <div className="table-wrap">
      <table>
        <caption className="visually-hidden">Nodes of the consortium</caption>
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">Organisation</th>
            <th scope="col">URL</th>
            <th scope="col">Status</th>
            <th scope="col">Code id</th>
            <th scope="col">Attestation</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.nodeId}>
              <th scope="row">
                {row.nodeId}
                {row.self ? <div className="muted gov-small">this node</div> : null}
              </th>
              <td>{row.mspId}</td>
              <td>
                {row.url === undefined ? (
                  <span className="muted">from peers’ config</span>
                ) : (
                  <code>{row.url}</code>
                )}
              </td>
              <td>
                <ToneBadge tone={row.status.tone}>{row.status.word}</ToneBadge>
                {row.view === undefined ? null : (
                  <div className="gov-small">
                    <ToneBadge tone={row.view.tone}>{row.view.word}</ToneBadge>
                    {row.view.detail === undefined ? null : (
                      <span className="muted"> {row.view.detail}</span>
                    )}
                  </div>
                )}
              </td>
              <td>
                <Hash value={row.codeId} />
                <div>
                  <ToneBadge tone={row.codeAllowed ? 'ok' : 'bad'}>
                    {row.codeAllowed ? 'allowed' : 'not allowed'}
                  </ToneBadge>
                </div>
              </td>
              <td>
                {row.attestation === undefined ? (
                  <span className="muted">not reported</span>
                ) : (
                  <>
                    <code>{row.attestation.provider}</code>
                    <div className="muted gov-small">{row.attestation.source}</div>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ThisNode({ status }: { status: NodeStatus }) {
  const attestation = status.attestation;
  const admission = status.admission;
  return (
    <Section title={`This node: ${status.nodeId}`}>
      <Facts
        items={[
          [
            'Admission',
            admission === undefined ? (
              'not reported'
            ) : (
              <span key="a">
                <ToneBadge tone={admission.admitted ? 'ok' : 'bad'}>
                  {admission.admitted ? 'admitted' : 'not admitted'}
                </ToneBadge>{' '}
                {admission.reason}
              </span>
            ),
          ],
          [
            'Attestation',
            attestation === undefined ? (
              'not reported'
            ) : (
              <code key="p">{attestation.provider}</code>
            ),
          ],
          [
            'Code id',
            attestation === undefined ? (
              '—'
            ) : (
              <Hash key="c" value={attestation.codeId} length={64} />
            ),
          ],
          ['What it proves', attestation?.note ?? '—'],
        ]}
      />
    </Section>
  );
}

function Joins({ joins, config }: { joins: readonly JoinRequest[]; config: GovConfig }) {
  const waiting = joins.filter((join) => !join.admitted);
  if (waiting.length === 0)
    return (
      <Empty>
        No node is waiting. A new node sends a join request on start (signed by its peer identity);
        admins then propose <code>admit_node</code> for it.
      </Empty>
    );
  return (
    <div className="table-wrap">
      <table>
        <caption className="visually-hidden">Join requests not yet admitted</caption>
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">Organisation</th>
            <th scope="col">Code id</th>
            <th scope="col">Attestation</th>
            <th scope="col">Requested</th>
            <th scope="col">Next step</th>
          </tr>
        </thead>
        <tbody>
          {waiting.map((join) => (
            <tr key={join.nodeId}>
              <th scope="row">
                {join.nodeId}
                {join.url === undefined ? null : (
                  <div className="gov-small">
                    <code>{join.url}</code>
                  </div>
                )}
              </th>
              <td>
                {join.mspId}
                {config.members.includes(join.mspId) ? null : (
                  <div className="muted gov-small">not a member</div>
                )}
              </td>
              <td>
                <Hash value={join.codeId} />{' '}
                <ToneBadge tone={join.codeAllowed ? 'ok' : 'wait'}>
                  {join.codeAllowed ? 'allowed' : 'not allowed yet'}
                </ToneBadge>
              </td>
              <td>
                <code>{join.provider}</code>
              </td>
              <td>
                <Time ms={join.requestedAt} />
              </td>
              <td>
                <a href={href('governance', 'propose', 'admit', join.nodeId)}>Propose admission</a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function NodesPage() {
  const loaded = useLoad(load, 'gov-nodes', refreshMs);
  return (
    <>
      <h1>Nodes</h1>
      <Show loaded={loaded}>
        {(data) => {
          const rows = nodeRows(data.config, data.joins, data.status);
          return (
            <>
              <Section title={`Nodes (${rows.length})`}>
                {rows.length === 0 ? (
                  <Empty>
                    No node is in the configuration: this ledger has no governance genesis.
                  </Empty>
                ) : (
                  <NodesTable rows={rows} />
                )}
                <p className="muted gov-small">
                  Status is the configuration in force; the second line is how this node sees the
                  peer (its signed Merkle roots agree, diverge, or it is unreachable). Attestation
                  is what the node reported: its own status for this node, its join request for the
                  others.
                </p>
              </Section>
              <ThisNode status={data.status} />
              <div className="grid">
                <Section title={`Allowed code ids (${data.config.codes.length})`}>
                  {data.config.codes.length === 0 ? (
                    <Empty>No code id is allowed: no node can be admitted.</Empty>
                  ) : (
                    <ul className="gov-codes">
                      {data.config.codes.map((code) => (
                        <li key={code}>
                          <Hash value={code} length={64} />
                        </li>
                      ))}
                    </ul>
                  )}
                </Section>
                <Section title="Join requests">
                  <Joins joins={data.joins} config={data.config} />
                </Section>
              </div>
            </>
          );
        }}
      </Show>
    </>
  );
}

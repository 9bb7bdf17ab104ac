// #/governance/organisations: each organisation's MSP as the configuration in force holds it:
// root and intermediate CAs, CRLs, admins, NodeOUs, OU identifiers, TLS CAs; whether it is a
// member; and a link to propose a change to it.
import { Section, Show, useLoad } from '../../components/ui.js';
import { href } from '../../router.js';
import { CertTable, CrlTable } from './cert-views.js';
import { certInfo, commonName } from './certs.js';
import { gov, type GovConfig, type MspJson, type OuJson } from './model.js';
import { Empty, ToneBadge, useNow } from './parts.js';

/** The configuration changes only by governance: re-read now and then. */
const configRefreshMs = 15_000;

function ouCertificate(ou: OuJson): string {
  if (ou.certificate === undefined) return 'any CA of the MSP';
  const info = certInfo(ou.certificate);
  return info.kind === 'cert' ? commonName(info.subject) : 'an unreadable certificate';
}

function NodeOus({ msp }: { msp: MspJson }) {
  const nodeOus = msp.nodeOus;
  if (nodeOus?.enable !== true)
    return (
      <Empty>
        NodeOUs are not enabled: roles come from the admin certificates listed above; every other
        valid identity is a member.
      </Empty>
    );
  const roles = [
    ['Client', nodeOus.clientOuIdentifier],
    ['Peer', nodeOus.peerOuIdentifier],
    ['Admin', nodeOus.adminOuIdentifier],
    ['Orderer', nodeOus.ordererOuIdentifier],
  ] as const;
  return (
    <div className="table-wrap">
      <table>
        <caption className="visually-hidden">NodeOUs of {msp.mspId}</caption>
        <thead>
          <tr>
            <th scope="col">Role</th>
            <th scope="col">OU identifier</th>
            <th scope="col">Issued by</th>
          </tr>
        </thead>
        <tbody>
          {roles.map(([role, ou]) => (
            <tr key={role}>
              <th scope="row">{role}</th>
              <td>
                {ou === undefined ? (
                  <span className="muted">not set</span>
                ) : (
                  <code>{ou.organizationalUnitIdentifier}</code>
                )}
              </td>
              <td>{ou === undefined ? '—' : ouCertificate(ou)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Organisation({ msp, config, now }: { msp: MspJson; config: GovConfig; now: number }) {
  const member = config.members.includes(msp.mspId);
  const nodes = Object.values(config.nodes).filter((node) => node.mspId === msp.mspId);
  const admitted = nodes.filter((node) => node.status === 'admitted').length;
  const list = (value: readonly string[] | undefined) => value ?? [];
  const ous = msp.organizationalUnitIdentifiers ?? [];
  return (
    <Section
      title={msp.mspId}
      actions={
        <span className="gov-buttons">
          <ToneBadge tone={member ? 'ok' : 'wait'}>{member ? 'member' : 'not a member'}</ToneBadge>
          <a className="gov-button-link" href={href('governance', 'propose', 'msp', msp.mspId)}>
            Propose a change
          </a>
        </span>
      }
    >
      <p className="muted gov-small">
        {member
          ? 'Its admins vote on proposals. '
          : 'Its identities are known; its admins do not vote. '}
        {nodes.length === 0
          ? 'No nodes.'
          : `${admitted} admitted node${admitted === 1 ? '' : 's'} of ${nodes.length}.`}{' '}
        <a href={href('governance', 'nodes')}>See nodes</a>
      </p>
      <h3>Root CAs ({list(msp.rootCerts).length})</h3>
      <CertTable
        pems={list(msp.rootCerts)}
        caption={`Root CAs of ${msp.mspId}`}
        now={now}
        showIssuer={false}
      />
      <h3>Intermediate CAs ({list(msp.intermediateCerts).length})</h3>
      {list(msp.intermediateCerts).length === 0 ? (
        <Empty>None: identities are issued by the root CAs directly.</Empty>
      ) : (
        <CertTable
          pems={list(msp.intermediateCerts)}
          caption={`Intermediate CAs of ${msp.mspId}`}
          now={now}
        />
      )}
      <h3>CRLs ({list(msp.revocationList).length})</h3>
      {list(msp.revocationList).length === 0 ? (
        <Empty>No CRL: no certificate of this organisation is revoked.</Empty>
      ) : (
        <CrlTable pems={list(msp.revocationList)} now={now} />
      )}
      <h3>Admins ({list(msp.admins).length})</h3>
      {list(msp.admins).length === 0 ? (
        <Empty>
          No admin certificates listed
          {msp.nodeOus?.enable === true
            ? ': with NodeOUs, an admin is any identity whose certificate carries the admin OU.'
            : '.'}
        </Empty>
      ) : (
        <CertTable pems={list(msp.admins)} caption={`Admins of ${msp.mspId}`} now={now} />
      )}
      <h3>NodeOUs</h3>
      <NodeOus msp={msp} />
      {ous.length > 0 ? (
        <>
          <h3>OU identifiers ({ous.length})</h3>
          <ul>
            {ous.map((ou, index) => (
              <li key={index}>
                <code>{ou.organizationalUnitIdentifier}</code> issued by {ouCertificate(ou)}
              </li>
            ))}
          </ul>
        </>
      ) : null}
      <details>
        <summary>
          TLS CAs ({list(msp.tlsRootCerts).length} root, {list(msp.tlsIntermediateCerts).length}{' '}
          intermediate)
        </summary>
        {list(msp.tlsRootCerts).length > 0 ? (
          <CertTable
            pems={list(msp.tlsRootCerts)}
            caption={`TLS root CAs of ${msp.mspId}`}
            now={now}
            showIssuer={false}
          />
        ) : (
          <Empty>No TLS root CA.</Empty>
        )}
        {list(msp.tlsIntermediateCerts).length > 0 ? (
          <CertTable
            pems={list(msp.tlsIntermediateCerts)}
            caption={`TLS intermediate CAs of ${msp.mspId}`}
            now={now}
          />
        ) : null}
      </details>
    </Section>
  );
}

export function OrganisationsPage() {
  const loaded = useLoad(gov.config, 'gov-config', configRefreshMs);
  const now = useNow(60_000);
  return (
    <>
      <h1>Organisations</h1>
      <Show loaded={loaded}>
        {(config) => {
          const msps = Object.values(config.msps).sort((a, b) =>
            a.mspId < b.mspId ? -1 : a.mspId > b.mspId ? 1 : 0,
          );
          return (
            <>
              <p className="gov-lead">
                {msps.length} organisation{msps.length === 1 ? '' : 's'} with an MSP in the
                configuration in force; members: {config.members.join(', ')}. Identities are checked
                against these CAs and CRLs on every node; a change takes effect from the batch after
                the proposal is accepted.
              </p>
              {msps.map((msp) => (
                <Organisation key={msp.mspId} msp={msp} config={config} now={now} />
              ))}
            </>
          );
        }}
      </Show>
    </>
  );
}

// Certificates and CRLs as tables: subject, issuer, SHA-256 fingerprint, validity; CRLs with
// their issuer, this/next update and revoked serials. Shared by the organisations page and the
// MSP form.
import type { ReactNode } from 'react';
import { Time } from '../../components/ui.js';
import {
  certInfo,
  certValidity,
  commonName,
  crlFreshness,
  crlInfo,
  type CertInfo,
  type CrlInfo,
  type Unreadable,
} from './certs.js';
import { ToneBadge } from './parts.js';

function Fingerprint({ value }: { value: string }) {
  return (
    <code className="hash gov-fingerprint" title={`SHA-256 ${value}`}>
      {value}
    </code>
  );
}

function UnreadableNote({ info }: { info: Unreadable }) {
  return <span className="bad">Unreadable: {info.error}</span>;
}

export function CertTable({
  pems,
  caption,
  now,
  showIssuer = true,
  action,
}: {
  pems: readonly string[];
  caption: string;
  now: number;
  showIssuer?: boolean;
  /** An extra cell per row (e.g. a Remove button). */
  action?: (index: number, info: CertInfo | Unreadable) => ReactNode;
}) {
  return (
    <div className="table-wrap">
      <table className="gov-certs">
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Subject</th>
            {showIssuer ? <th scope="col">Issuer</th> : null}
            <th scope="col">SHA-256 fingerprint</th>
            <th scope="col">Valid</th>
            {action === undefined ? null : (
              <th scope="col">
                <span className="visually-hidden">Change</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {pems.map((pem, index) => {
            const info = certInfo(pem);
            if (info.kind === 'unreadable')
              return (
                <tr key={index}>
                  <td colSpan={showIssuer ? 4 : 3}>
                    <UnreadableNote info={info} />
                  </td>
                  {action === undefined ? null : <td>{action(index, info)}</td>}
                </tr>
              );
            const validity = certValidity(info, now);
            return (
              <tr key={index}>
                <td>
                  <strong>{commonName(info.subject)}</strong>
                  <div className="muted gov-small gov-dn">{info.subject}</div>
                </td>
                {showIssuer ? (
                  <td>
                    {info.issuer === info.subject ? (
                      <span className="muted">self-signed</span>
                    ) : (
                      <span title={info.issuer}>{commonName(info.issuer)}</span>
                    )}
                  </td>
                ) : null}
                <td>
                  <Fingerprint value={info.fingerprint} />
                </td>
                <td className="gov-nowrap">
                  <ToneBadge tone={validity.tone}>{validity.word}</ToneBadge>
                  <div className="gov-small">
                    <Time ms={info.notBefore} /> to
                    <br />
                    <Time ms={info.notAfter} />
                  </div>
                </td>
                {action === undefined ? null : <td>{action(index, info)}</td>}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export function CrlTable({
  pems,
  now,
  action,
}: {
  pems: readonly string[];
  now: number;
  action?: (index: number, info: CrlInfo | Unreadable) => ReactNode;
}) {
  return (
    <div className="table-wrap">
      <table className="gov-certs">
        <caption className="visually-hidden">Certificate revocation lists</caption>
        <thead>
          <tr>
            <th scope="col">Issuer</th>
            <th scope="col">This update</th>
            <th scope="col">Next update</th>
            <th scope="col">Revoked serials</th>
            {action === undefined ? null : (
              <th scope="col">
                <span className="visually-hidden">Change</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {pems.map((pem, index) => {
            const info = crlInfo(pem);
            if (info.kind === 'unreadable')
              return (
                <tr key={index}>
                  <td colSpan={4}>
                    <UnreadableNote info={info} />
                  </td>
                  {action === undefined ? null : <td>{action(index, info)}</td>}
                </tr>
              );
            const fresh = crlFreshness(info, now);
            return (
              <tr key={index}>
                <td>
                  <strong>{commonName(info.issuer)}</strong>
                  <div className="muted gov-small">
                    SHA-256 <Fingerprint value={info.fingerprint} />
                  </div>
                </td>
                <td>
                  <Time ms={info.thisUpdate} />
                </td>
                <td>
                  <Time ms={info.nextUpdate} />{' '}
                  <ToneBadge tone={fresh.tone}>{fresh.word}</ToneBadge>
                </td>
                <td>{info.revoked}</td>
                {action === undefined ? null : <td>{action(index, info)}</td>}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

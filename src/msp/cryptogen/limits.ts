// Limits of the crypto-material generator (STYLE.md 5): every list, count and string the
// crypto-config file controls is bounded, so a config cannot make us write without end.
// Typed `number` (not literals) so the relations asserted below are real checks.

/** Largest crypto-config file we read. Real ones are a few KiB. */
export const configBytesMax: number = 1_048_576;
/** YAML aliases allowed in a config (guards against alias expansion bombs). */
export const yamlAliasesMax: number = 64;
/** Organisations in one config, PeerOrgs and OrdererOrgs together. */
export const orgsMax: number = 64;
/** Nodes (peers or orderers) of one organisation: Specs plus Template.Count. */
export const nodesPerOrgMax: number = 256;
/** Users of one organisation besides Admin (Users.Count). */
export const usersPerOrgMax: number = 1024;
/** Identities (nodes, users and Admins) in one config; each costs two key pairs. */
export const identitiesMax: number = 4096;
/** Subject alternative names of one node, the two implicit ones included. */
export const sansPerNodeMax: number = 64;
/** Largest Template.Start, so that indexes stay readable host names. */
export const templateStartMax: number = 1_000_000;
/** A host name, domain or common name (the length limit of a DNS name). */
export const nameCharsMax: number = 253;
/** A subject field of the CA block (ub-locality-name and ub-state-name of X.520). */
export const subjectFieldCharsMax: number = 128;
/** Certificates are valid this long (as cryptogen: about ten years). */
export const certValidityDays: number = 3650;
/** notBefore is set this far in the past, to tolerate clock skew (as cryptogen). */
export const certBackdateMinutes: number = 5;
/**
 * A CRL is valid this long. cryptogen has no CRLs; a CRL is only re-signed when a certificate is
 * revoked, so it lives as long as the certificates it covers.
 */
export const crlValidityDays: number = certValidityDays;
/** Entries one CRL may hold: every identity of the largest organisation, twice (sign + TLS). */
export const crlEntriesMax: number = 2 * (nodesPerOrgMax + usersPerOrgMax + 1);
/** Largest certificate or CRL file we read while revoking. */
export const pemBytesMax: number = 1_048_576;

// Relations between the limits, checked when the module loads.
assertLimit(nodesPerOrgMax + usersPerOrgMax + 1 <= identitiesMax, 'one org fits in identitiesMax');
assertLimit(orgsMax >= 1 && nodesPerOrgMax >= 1, 'limits allow at least one org and one node');
assertLimit(sansPerNodeMax >= 2, 'the two implicit SANs (CommonName, Hostname) fit');
assertLimit(crlValidityDays <= certValidityDays, 'a CRL does not outlive its CA');
assertLimit(certBackdateMinutes < 60, 'backdating stays small');

function assertLimit(condition: boolean, what: string): void {
  if (!condition) throw new Error(`cryptogen limits are inconsistent: ${what}`);
}

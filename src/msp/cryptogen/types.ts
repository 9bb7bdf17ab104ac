// Types of the crypto-material generator. A CryptoConfig is a crypto-config.yaml after
// validation and after cryptogen's defaults and templates are applied: every name is final.
import type { NodeOuRole } from '../types.js';

export type { NodeOuRole };

/** Which half of cryptogen's config an organisation came from. */
export type OrgKind = 'peer' | 'orderer';

/** Subject fields shared by the CA and every certificate it issues (cryptogen's CA block). */
export type CaSubject = {
  readonly country: string;
  readonly province: string;
  readonly locality: string;
  readonly organizationalUnit?: string;
  readonly streetAddress?: string;
  readonly postalCode?: string;
};

export type CaSpec = {
  /** `CA.Hostname`, default `ca`. */
  readonly hostname: string;
  /** Common name of the identity CA, default `ca.<domain>`; also its file name stem. */
  readonly commonName: string;
  /** Common name of the TLS CA: `tls` + commonName, as cryptogen. */
  readonly tlsCommonName: string;
  readonly subject: CaSubject;
};

/** A peer or orderer, from `Specs` or from `Template`. */
export type NodeSpec = {
  readonly hostname: string;
  /** Also the node's folder name under peers/ or orderers/. */
  readonly commonName: string;
  /** TLS subject alternative names: CommonName, Hostname, then the rendered SANS. */
  readonly sans: readonly string[];
  /** Where in the config the node came from, for messages. */
  readonly source: string;
};

export type UserSpec = {
  /** `User<n>@<domain>` or `Admin@<domain>`; also the folder name under users/. */
  readonly commonName: string;
  readonly admin: boolean;
};

export type OrgSpec = {
  readonly kind: OrgKind;
  /** `Name` of the config; cryptogen does not use it for files. */
  readonly name: string;
  readonly domain: string;
  readonly enableNodeOUs: boolean;
  readonly ca: CaSpec;
  readonly nodes: readonly NodeSpec[];
  /** User1..UserN (peer organisations only, as cryptogen), then Admin. */
  readonly users: readonly UserSpec[];
  /** `PeerOrgs[0]` or `OrdererOrgs[1]`. */
  readonly configPath: string;
};

export type CryptoConfig = {
  readonly peerOrgs: readonly OrgSpec[];
  readonly ordererOrgs: readonly OrgSpec[];
};

export type GenerateOptions = {
  /** crypto-config.yaml text, or the result of parseCryptoConfig. */
  readonly config: string | CryptoConfig;
  /** Folder that receives peerOrganizations/ and ordererOrganizations/. */
  readonly outputDir: string;
  /** Clock for notBefore/notAfter; the current time when absent. */
  readonly now?: Date;
};

export type GeneratedOrg = {
  readonly kind: OrgKind;
  readonly domain: string;
  /** Absolute path of `peerOrganizations/<domain>` or `ordererOrganizations/<domain>`. */
  readonly dir: string;
  readonly nodes: readonly string[];
  readonly users: readonly string[];
};

export type GenerateResult = {
  readonly outputDir: string;
  readonly organizations: readonly GeneratedOrg[];
  /** Number of files written. */
  readonly files: number;
};

export type RevokeOptions = {
  /** An organisation folder written by generateCryptoMaterial (holds ca/ and tlsca/). */
  readonly orgDir: string;
  /** PEM of the certificate to revoke. */
  readonly certPem: string;
  /** Clock for the revocation date and the CRL's thisUpdate; the current time when absent. */
  readonly now?: Date;
};

export type RevokeResult = {
  /** Serial number of the revoked certificate, lower-case hex. */
  readonly serial: string;
  /** Which CA issued it: the identity CA (`ca`) or the TLS CA (`tlsca`). */
  readonly caDir: 'ca' | 'tlsca';
  /** Common name of the issuing CA. */
  readonly caName: string;
  /** CRL number of the CRL now in force, decimal. */
  readonly crlNumber: string;
  /** Serial numbers the CRL now holds. */
  readonly revokedCount: number;
  /** True when the certificate was already revoked (nothing was re-signed). */
  readonly alreadyRevoked: boolean;
  /** Absolute path of the CA's CRL (`<orgDir>/ca/crl.crl` or `<orgDir>/tlsca/crl.crl`). */
  readonly crlFile: string;
  /** Absolute paths of the copies in `crls/` of every MSP folder of the organisation. */
  readonly copiedTo: readonly string[];
};

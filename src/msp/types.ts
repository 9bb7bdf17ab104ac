// Types of the MSP domain. They mirror Fabric's msp protos (FabricMSPConfig, MSPPrincipal, ...)
// in JSON-friendly form, so a consortium configuration can store an MSP definition as data.

/** MSP versions whose semantics differ (Fabric `msp.MSPVersion`). */
export type MspVersion = '1.0' | '1.1' | '1.3' | '1.4.3' | '3.0';
export const mspVersions: readonly MspVersion[] = ['1.0', '1.1', '1.3', '1.4.3', '3.0'];
export const defaultMspVersion: MspVersion = '3.0';

/** One PEM file (or in-memory PEM text) and where it came from, for error messages. */
export type PemSource = {
  /** Path relative to the MSP folder (e.g. `cacerts/ca.pem`), or a field path for definitions. */
  readonly source: string;
  readonly pem: string;
};

export type OuIdentifier = {
  /** The CA that certifies the OU (a root or intermediate of the MSP); absent: any chain. */
  readonly certificate?: PemSource;
  readonly organizationalUnitIdentifier: string;
};

export type NodeOus = {
  readonly enable: boolean;
  readonly clientOuIdentifier?: OuIdentifier;
  readonly peerOuIdentifier?: OuIdentifier;
  readonly adminOuIdentifier?: OuIdentifier;
  readonly ordererOuIdentifier?: OuIdentifier;
};

/**
 * The verifying part of an MSP (Fabric's FabricMSPConfig without the signing identity):
 * what a consortium configuration stores for each organisation.
 */
export type MspDefinition = {
  readonly mspId: string;
  readonly rootCerts: readonly PemSource[];
  readonly intermediateCerts: readonly PemSource[];
  readonly admins: readonly PemSource[];
  readonly revocationList: readonly PemSource[];
  readonly organizationalUnitIdentifiers: readonly OuIdentifier[];
  readonly nodeOus?: NodeOus;
  readonly tlsRootCerts: readonly PemSource[];
  readonly tlsIntermediateCerts: readonly PemSource[];
};

/** The signing part of a local MSP: the first signcert and the keystore's key files. */
export type SigningMaterial = {
  readonly signCert: PemSource;
  readonly keystore: readonly PemSource[];
};

export type NodeOuRole = 'client' | 'peer' | 'admin' | 'orderer';

/** Fabric MSPRole.MSPRoleType. Numbers other than these are an error, as in Fabric. */
export type MspRoleName = 'MEMBER' | 'ADMIN' | 'CLIENT' | 'PEER' | 'ORDERER';

/** Fabric MSPPrincipal, by classification. A number stands for an unknown enum value. */
export type Principal =
  | { readonly type: 'ROLE'; readonly mspId: string; readonly role: MspRoleName | number }
  | {
      readonly type: 'ORGANIZATION_UNIT';
      readonly mspId: string;
      readonly ou: string;
      /** Hex; null means none given (which never matches, as in Fabric). */
      readonly certifiersIdentifier: string | null;
    }
  | { readonly type: 'IDENTITY'; readonly mspId: string; readonly certPem: string }
  | { readonly type: 'ANONYMITY'; readonly anonymity: 'NOMINAL' | 'ANONYMOUS' | number }
  | { readonly type: 'COMBINED'; readonly principals: readonly Principal[] }
  | { readonly type: number };

/** Outcome of checking an identity against a principal. */
export type PrincipalCheck =
  | { readonly satisfied: true }
  | { readonly satisfied: false; readonly code: string; readonly reason: string };

// cryptogen's folder layout (fabric cmd/cryptogen generatePeerOrg/generateOrdererOrg and
// internal/cryptogen/msp GenerateLocalMSP/GenerateVerifyingMSP), as a pure list of folders and
// files relative to the organisation folder; files.ts writes them.
import { stringify } from 'yaml';
import type { NodeOuRole } from '../types.js';
import type { CaMaterial, LeafMaterial } from './certificates.js';
import type { NodeSpec, OrgKind, OrgSpec, UserSpec } from './types.js';

export type LayoutEntry =
  | { readonly kind: 'dir'; readonly path: string }
  | {
      readonly kind: 'file';
      readonly path: string;
      readonly contents: string;
      /** True for private keys (written 0600). */
      readonly secret: boolean;
    };

export type IdentityMaterial = {
  readonly sign: LeafMaterial;
  readonly tls: LeafMaterial;
};

export type OrgMaterial = {
  readonly spec: OrgSpec;
  readonly ca: CaMaterial;
  readonly tlsCa: CaMaterial;
  readonly nodes: readonly (IdentityMaterial & { readonly spec: NodeSpec })[];
  readonly users: readonly (IdentityMaterial & { readonly spec: UserSpec })[];
};

/** `peerOrganizations` or `ordererOrganizations`. */
export function orgKindDir(kind: OrgKind): string {
  return kind === 'peer' ? 'peerOrganizations' : 'ordererOrganizations';
}

/** `peers` or `orderers`. */
export function nodesDir(kind: OrgKind): string {
  return kind === 'peer' ? 'peers' : 'orderers';
}

/** The NodeOU a node's or user's signing certificate carries when NodeOUs are enabled. */
export function nodeOuRole(kind: OrgKind, user: UserSpec | undefined): NodeOuRole {
  if (user === undefined) return kind;
  return user.admin ? 'admin' : 'client';
}

export function certFileName(name: string): string {
  return `${name}-cert.pem`;
}

/** Every folder and file of one organisation, in the order cryptogen makes them. */
export function orgLayout(material: OrgMaterial): LayoutEntry[] {
  const { spec, ca, tlsCa } = material;
  const entries: LayoutEntry[] = [];
  const dir = (path: string): void => {
    assertRelative(path);
    entries.push({ kind: 'dir', path });
  };
  const file = (path: string, contents: string, secret = false): void => {
    assertRelative(path);
    entries.push({ kind: 'file', path, contents, secret });
  };
  const caCertFile = certFileName(spec.ca.commonName);
  const tlsCaCertFile = certFileName(spec.ca.tlsCommonName);
  const admin = material.users.find((user) => user.spec.admin);
  if (admin === undefined) throw new Error(`orgLayout: ${spec.domain} has no Admin user`);

  dir('ca');
  file(`ca/${caCertFile}`, ca.certificatePem);
  file('ca/priv_sk', ca.keys.privateKeyPem, true);
  dir('tlsca');
  file(`tlsca/${tlsCaCertFile}`, tlsCa.certificatePem);
  file('tlsca/priv_sk', tlsCa.keys.privateKeyPem, true);

  // The organisation's verifying MSP. cryptogen always makes admincerts/; without NodeOUs it
  // ends up holding the Admin certificate (copyAdminCert).
  const msp = (base: string): void => {
    dir(`${base}/admincerts`);
    dir(`${base}/cacerts`);
    dir(`${base}/tlscacerts`);
    file(`${base}/cacerts/${caCertFile}`, ca.certificatePem);
    file(`${base}/tlscacerts/${tlsCaCertFile}`, tlsCa.certificatePem);
    if (spec.enableNodeOUs) file(`${base}/config.yaml`, nodeOusConfig(`cacerts/${caCertFile}`));
  };
  msp('msp');
  if (!spec.enableNodeOUs) {
    file(`msp/admincerts/${certFileName(admin.spec.commonName)}`, admin.sign.certificatePem);
  }

  const local = (
    base: string,
    commonName: string,
    identity: IdentityMaterial,
    adminCert: { readonly name: string; readonly pem: string },
    tlsPrefix: 'server' | 'client',
  ): void => {
    msp(`${base}/msp`);
    dir(`${base}/msp/keystore`);
    dir(`${base}/msp/signcerts`);
    file(`${base}/msp/keystore/priv_sk`, identity.sign.keys.privateKeyPem, true);
    file(`${base}/msp/signcerts/${certFileName(commonName)}`, identity.sign.certificatePem);
    if (!spec.enableNodeOUs) {
      file(`${base}/msp/admincerts/${certFileName(adminCert.name)}`, adminCert.pem);
    }
    dir(`${base}/tls`);
    file(`${base}/tls/ca.crt`, tlsCa.certificatePem);
    file(`${base}/tls/${tlsPrefix}.crt`, identity.tls.certificatePem);
    file(`${base}/tls/${tlsPrefix}.key`, identity.tls.keys.privateKeyPem, true);
  };

  // Nodes get the Admin certificate in admincerts (copyAdminCert); users keep their own, since
  // cryptogen's GenerateLocalMSP puts the signing identity there and nothing replaces it.
  const adminCert = { name: admin.spec.commonName, pem: admin.sign.certificatePem };
  const nodes = nodesDir(spec.kind);
  dir(nodes);
  for (const node of material.nodes) {
    const name = node.spec.commonName;
    local(`${nodes}/${name}`, name, node, adminCert, 'server');
  }
  dir('users');
  for (const user of material.users) {
    const name = user.spec.commonName;
    const own = { name, pem: user.sign.certificatePem };
    local(`users/${name}`, name, user, own, 'client');
  }
  return entries;
}

/** msp/config.yaml with every NodeOU pinned to the identity CA, as cryptogen's exportConfig. */
export function nodeOusConfig(caCertPath: string): string {
  const identifier = (ou: NodeOuRole) => ({
    Certificate: caCertPath,
    OrganizationalUnitIdentifier: ou,
  });
  return stringify({
    NodeOUs: {
      Enable: true,
      ClientOUIdentifier: identifier('client'),
      PeerOUIdentifier: identifier('peer'),
      AdminOUIdentifier: identifier('admin'),
      OrdererOUIdentifier: identifier('orderer'),
    },
  });
}

// Names were checked by parseCryptoConfig; a path leaving the organisation folder is our bug.
function assertRelative(path: string): void {
  const parts = path.split('/');
  if (path.startsWith('/') || parts.some((part) => part === '' || part === '.' || part === '..')) {
    throw new Error(`orgLayout: unsafe path ${JSON.stringify(path)}`);
  }
}

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { isCofferError } from '../../../src/errors/index.js';
import {
  generateCryptoMaterial,
  parseCryptoConfig,
  type GenerateResult,
} from '../../../src/msp/cryptogen/index.js';
import {
  akiOf,
  fileMode,
  isLowS,
  keyMatchesCert,
  listTree,
  makeTempDir,
  opensslVerify,
  publicKeyDer,
  readCert,
  readNodeCert,
  removeTempDir,
  skiOf,
  skiOfPublicKey,
  x509,
} from './helpers.js';

// Two peer organisations (NodeOUs on and off) and one orderer organisation.
const configText = `
OrdererOrgs:
  - Name: Orderer
    Domain: example.com
    EnableNodeOUs: true
    Specs:
      - Hostname: orderer
        SANS: [localhost, 127.0.0.1, "::1"]
PeerOrgs:
  - Name: Org1
    Domain: org1.example.com
    EnableNodeOUs: true
    CA:
      OrganizationalUnit: Hyperledger Fabric
    Template:
      Count: 2
      SANS: ["{{.Hostname}}.alt.{{.Domain}}"]
    Users:
      Count: 1
  - Name: Org2
    Domain: org2.example.com
    EnableNodeOUs: false
    Template:
      Count: 1
    Users:
      Count: 1
`;

type OrgShape = {
  readonly base: string;
  readonly domain: string;
  readonly nodesDir: 'peers' | 'orderers';
  readonly nodes: readonly string[];
  readonly users: readonly string[];
  readonly nodeOus: boolean;
};

const org1: OrgShape = {
  base: 'peerOrganizations/org1.example.com',
  domain: 'org1.example.com',
  nodesDir: 'peers',
  nodes: ['peer0.org1.example.com', 'peer1.org1.example.com'],
  users: ['Admin@org1.example.com', 'User1@org1.example.com'],
  nodeOus: true,
};
const org2: OrgShape = {
  base: 'peerOrganizations/org2.example.com',
  domain: 'org2.example.com',
  nodesDir: 'peers',
  nodes: ['peer0.org2.example.com'],
  users: ['Admin@org2.example.com', 'User1@org2.example.com'],
  nodeOus: false,
};
const orderer: OrgShape = {
  base: 'ordererOrganizations/example.com',
  domain: 'example.com',
  nodesDir: 'orderers',
  nodes: ['orderer.example.com'],
  users: ['Admin@example.com'],
  nodeOus: true,
};
const orgs = [org1, org2, orderer];

/** cryptogen's layout for one organisation, written out by hand from Fabric's output. */
function expectedTree(org: OrgShape): string[] {
  const { base, domain } = org;
  const caCert = `ca.${domain}-cert.pem`;
  const tlsCaCert = `tlsca.${domain}-cert.pem`;
  const admin = `Admin@${domain}`;
  const paths = [
    `${base}/`,
    `${base}/ca/`,
    `${base}/ca/${caCert}`,
    `${base}/ca/priv_sk`,
    `${base}/tlsca/`,
    `${base}/tlsca/${tlsCaCert}`,
    `${base}/tlsca/priv_sk`,
    `${base}/${org.nodesDir}/`,
    `${base}/users/`,
  ];
  const msp = (dir: string, adminCert: string | undefined): void => {
    paths.push(
      `${dir}/`,
      `${dir}/admincerts/`,
      `${dir}/cacerts/`,
      `${dir}/cacerts/${caCert}`,
      `${dir}/tlscacerts/`,
      `${dir}/tlscacerts/${tlsCaCert}`,
    );
    if (org.nodeOus) paths.push(`${dir}/config.yaml`);
    else if (adminCert !== undefined) paths.push(`${dir}/admincerts/${adminCert}-cert.pem`);
  };
  msp(`${base}/msp`, admin);
  const local = (dir: string, name: string, adminCert: string, tls: 'server' | 'client'): void => {
    paths.push(`${dir}/`);
    msp(`${dir}/msp`, adminCert);
    paths.push(
      `${dir}/msp/keystore/`,
      `${dir}/msp/keystore/priv_sk`,
      `${dir}/msp/signcerts/`,
      `${dir}/msp/signcerts/${name}-cert.pem`,
      `${dir}/tls/`,
      `${dir}/tls/ca.crt`,
      `${dir}/tls/${tls}.crt`,
      `${dir}/tls/${tls}.key`,
    );
  };
  for (const node of org.nodes) local(`${base}/${org.nodesDir}/${node}`, node, admin, 'server');
  // cryptogen leaves each user's own certificate in its admincerts.
  for (const user of org.users) local(`${base}/users/${user}`, user, user, 'client');
  return paths;
}

/** Every local MSP/TLS identity of an organisation: [name, folder, tls file prefix]. */
function identities(org: OrgShape): [string, string, 'server' | 'client'][] {
  return [
    ...org.nodes.map((node): [string, string, 'server'] => [
      node,
      `${org.base}/${org.nodesDir}/${node}`,
      'server',
    ]),
    ...org.users.map((user): [string, string, 'client'] => [
      user,
      `${org.base}/users/${user}`,
      'client',
    ]),
  ];
}

describe('generateCryptoMaterial: two peer organisations and one orderer organisation', () => {
  let out = '';
  let result: GenerateResult | undefined;

  beforeAll(async () => {
    out = await makeTempDir();
    result = await generateCryptoMaterial({ config: configText, outputDir: out });
  });
  afterAll(async () => {
    await removeTempDir(out);
  });

  it('reports every organisation, node and user', () => {
    expect(
      result?.organizations.map((org) => [org.kind, org.domain, org.nodes, org.users]),
    ).toEqual([
      [
        'peer',
        'org1.example.com',
        org1.nodes,
        ['User1@org1.example.com', 'Admin@org1.example.com'],
      ],
      [
        'peer',
        'org2.example.com',
        org2.nodes,
        ['User1@org2.example.com', 'Admin@org2.example.com'],
      ],
      ['orderer', 'example.com', orderer.nodes, ['Admin@example.com']],
    ]);
    expect(result?.organizations[0]?.dir).toBe(join(out, org1.base));
  });

  it("writes exactly cryptogen's layout, nothing more", async () => {
    const expected = [
      'ordererOrganizations/',
      'peerOrganizations/',
      ...orgs.flatMap(expectedTree),
    ].sort();
    expect(await listTree(out)).toEqual(expected);
    const fileCount = expected.filter((path) => !path.endsWith('/')).length;
    expect(result?.files).toBe(fileCount);
  });

  it('writes config.yaml with every NodeOU pinned to the identity CA when NodeOUs are on', async () => {
    for (const dir of [
      `${org1.base}/msp`,
      `${org1.base}/peers/peer0.org1.example.com/msp`,
      `${org1.base}/users/Admin@org1.example.com/msp`,
      `${orderer.base}/orderers/orderer.example.com/msp`,
    ]) {
      const domain = dir.startsWith(org1.base) ? org1.domain : orderer.domain;
      const certificate = `cacerts/ca.${domain}-cert.pem`;
      const config: unknown = parseYaml(await readFile(join(out, dir, 'config.yaml'), 'utf8'));
      expect(config).toEqual({
        NodeOUs: {
          Enable: true,
          ClientOUIdentifier: { Certificate: certificate, OrganizationalUnitIdentifier: 'client' },
          PeerOUIdentifier: { Certificate: certificate, OrganizationalUnitIdentifier: 'peer' },
          AdminOUIdentifier: { Certificate: certificate, OrganizationalUnitIdentifier: 'admin' },
          OrdererOUIdentifier: {
            Certificate: certificate,
            OrganizationalUnitIdentifier: 'orderer',
          },
        },
      });
    }
  });

  it('puts the Admin certificate into admincerts when NodeOUs are off', async () => {
    const admin = await readFile(
      join(
        out,
        org2.base,
        'users/Admin@org2.example.com/msp/signcerts/Admin@org2.example.com-cert.pem',
      ),
    );
    for (const dir of ['msp', 'peers/peer0.org2.example.com/msp']) {
      const copy = await readFile(
        join(out, org2.base, dir, 'admincerts/Admin@org2.example.com-cert.pem'),
      );
      expect(copy.equals(admin)).toBe(true);
    }
  });

  it('makes CA certificates self-signed CAs with the extensions Fabric requires', async () => {
    for (const org of orgs) {
      for (const [dir, name] of [
        ['ca', `ca.${org.domain}`],
        ['tlsca', `tlsca.${org.domain}`],
      ] as const) {
        const path = join(out, org.base, dir, `${name}-cert.pem`);
        const cert = await readCert(path);
        const nodeCert = await readNodeCert(path);
        expect(nodeCert.ca).toBe(true);
        expect(nodeCert.checkIssued(nodeCert)).toBe(true);
        expect(nodeCert.verify(nodeCert.publicKey)).toBe(true);
        const basic = cert.getExtension(x509.BasicConstraintsExtension);
        expect(basic?.ca).toBe(true);
        expect(basic?.critical).toBe(true);
        const usage = cert.getExtension(x509.KeyUsagesExtension);
        expect(usage?.usages).toBe(
          x509.KeyUsageFlags.digitalSignature |
            x509.KeyUsageFlags.keyEncipherment |
            x509.KeyUsageFlags.keyCertSign |
            x509.KeyUsageFlags.cRLSign,
        );
        expect(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([
          x509.ExtendedKeyUsage.clientAuth,
          x509.ExtendedKeyUsage.serverAuth,
        ]);
        // SKI = SHA-256 of the uncompressed public point, as cryptogen's computeSKI.
        expect(skiOf(cert)).toBe(skiOfPublicKey(nodeCert));
        expect(cert.subjectName.getField('CN')).toEqual([name]);
        expect(cert.subjectName.getField('O')).toEqual([org.domain]);
        expect(cert.subjectName.getField('C')).toEqual(['US']);
        expect(cert.subjectName.getField('ST')).toEqual(['California']);
        expect(cert.subjectName.getField('L')).toEqual(['San Francisco']);
        expect(isLowS(cert.signature)).toBe(true);
      }
    }
  });

  it('uses separate key pairs for the identity CA and the TLS CA', async () => {
    for (const org of orgs) {
      const ca = await readNodeCert(join(out, org.base, `ca/ca.${org.domain}-cert.pem`));
      const tlsCa = await readNodeCert(join(out, org.base, `tlsca/tlsca.${org.domain}-cert.pem`));
      expect(publicKeyDer(ca).equals(publicKeyDer(tlsCa))).toBe(false);
      const caKey = await readFile(join(out, org.base, 'ca/priv_sk'));
      const tlsCaKey = await readFile(join(out, org.base, 'tlsca/priv_sk'));
      expect(caKey.equals(tlsCaKey)).toBe(false);
      expect(await keyMatchesCert(join(out, org.base, 'ca/priv_sk'), ca)).toBe(true);
      expect(await keyMatchesCert(join(out, org.base, 'tlsca/priv_sk'), tlsCa)).toBe(true);
    }
  });

  it('issues signing certificates with digitalSignature only, AKI = CA SKI and the NodeOU', async () => {
    for (const org of orgs) {
      const ca = await readCert(join(out, org.base, `ca/ca.${org.domain}-cert.pem`));
      for (const [name, dir] of identities(org)) {
        const path = join(out, dir, `msp/signcerts/${name}-cert.pem`);
        const cert = await readCert(path);
        expect(akiOf(cert)).toBe(skiOf(ca));
        expect(await cert.verify({ publicKey: ca, signatureOnly: true })).toBe(true);
        expect(cert.getExtension(x509.KeyUsagesExtension)?.usages).toBe(
          x509.KeyUsageFlags.digitalSignature,
        );
        expect(cert.getExtension(x509.ExtendedKeyUsageExtension)).toBeNull();
        expect(cert.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
        expect(cert.subjectName.getField('CN')).toEqual([name]);
        // cryptogen's leaves carry the CA's C/ST/L/OU but no O.
        expect(cert.subjectName.getField('O')).toEqual([]);
        const role = org.nodes.includes(name)
          ? org.nodesDir === 'peers'
            ? 'peer'
            : 'orderer'
          : name.startsWith('Admin@')
            ? 'admin'
            : 'client';
        const caOu = org === org1 ? ['Hyperledger Fabric'] : [];
        expect(cert.subjectName.getField('OU')).toEqual(org.nodeOus ? [...caOu, role] : caOu);
        expect(isLowS(cert.signature)).toBe(true);
        const [status, output] = opensslVerify([
          '-CAfile',
          join(out, org.base, `ca/ca.${org.domain}-cert.pem`),
          path,
        ]);
        expect(output).toContain('OK');
        expect(status).toBe(0);
      }
    }
  });

  it('issues TLS certificates from the TLS CA with server+client auth and the SANs', async () => {
    for (const org of orgs) {
      const tlsCa = await readCert(join(out, org.base, `tlsca/tlsca.${org.domain}-cert.pem`));
      for (const [name, dir, prefix] of identities(org)) {
        const path = join(out, dir, `tls/${prefix}.crt`);
        const cert = await readCert(path);
        expect(akiOf(cert)).toBe(skiOf(tlsCa));
        expect(await cert.verify({ publicKey: tlsCa, signatureOnly: true })).toBe(true);
        expect(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]);
        expect(cert.getExtension(x509.KeyUsagesExtension)?.usages).toBe(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        );
        expect(cert.subjectName.getField('CN')).toEqual([name]);
        expect(isLowS(cert.signature)).toBe(true);
        const caCopy = await readFile(join(out, dir, 'tls/ca.crt'));
        const tlsCaFile = await readFile(join(out, org.base, `tlsca/tlsca.${org.domain}-cert.pem`));
        expect(caCopy.equals(tlsCaFile)).toBe(true);
        const [status] = opensslVerify(['-CAfile', join(out, dir, 'tls/ca.crt'), path]);
        expect(status).toBe(0);
      }
    }
    const sans = async (path: string): Promise<string | undefined> =>
      (await readNodeCert(join(out, path))).subjectAltName;
    expect(await sans(`${org1.base}/peers/peer0.org1.example.com/tls/server.crt`)).toBe(
      'DNS:peer0.org1.example.com, DNS:peer0, DNS:peer0.alt.org1.example.com',
    );
    expect(await sans(`${orderer.base}/orderers/orderer.example.com/tls/server.crt`)).toBe(
      'DNS:orderer.example.com, DNS:orderer, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    // cryptogen gives users no SANs.
    expect(await sans(`${org1.base}/users/User1@org1.example.com/tls/client.crt`)).toBeUndefined();
  });

  it('writes private keys 0600 that match their certificates', async () => {
    for (const org of orgs) {
      for (const [name, dir, prefix] of identities(org)) {
        const keystore = join(out, dir, 'msp/keystore/priv_sk');
        const tlsKey = join(out, dir, `tls/${prefix}.key`);
        expect(await fileMode(keystore)).toBe(0o600);
        expect(await fileMode(tlsKey)).toBe(0o600);
        const sign = await readNodeCert(join(out, dir, `msp/signcerts/${name}-cert.pem`));
        const tls = await readNodeCert(join(out, dir, `tls/${prefix}.crt`));
        expect(await keyMatchesCert(keystore, sign)).toBe(true);
        expect(await keyMatchesCert(tlsKey, tls)).toBe(true);
        expect((await readFile(keystore, 'utf8')).startsWith('-----BEGIN PRIVATE KEY-----\n')).toBe(
          true,
        );
      }
      expect(await fileMode(join(out, org.base, 'ca/priv_sk'))).toBe(0o600);
      expect(await fileMode(join(out, org.base, 'tlsca/priv_sk'))).toBe(0o600);
      expect(await fileMode(join(out, org.base, `ca/ca.${org.domain}-cert.pem`))).toBe(0o644);
    }
  });

  it('refuses to overwrite an existing organisation and writes nothing', async () => {
    const before = await listTree(out);
    let caught: unknown;
    try {
      await generateCryptoMaterial({ config: configText, outputDir: out });
    } catch (error) {
      caught = error;
    }
    expect(isCofferError(caught, 'CRYPTOGEN_E_OUTPUT')).toBe(true);
    expect((caught as Error).message).toContain('already exists (PeerOrgs[0])');
    expect(await listTree(out)).toEqual(before);
  });
});

describe('generateCryptoMaterial: inputs and output folder', () => {
  it('accepts a parsed config and a clock, and sets validity as cryptogen', async () => {
    const out = await makeTempDir();
    try {
      const config = parseCryptoConfig('PeerOrgs:\n  - Domain: a.example\n');
      const now = new Date('2030-01-02T03:04:40Z');
      await generateCryptoMaterial({ config, outputDir: out, now });
      const cert = await readCert(
        join(out, 'peerOrganizations/a.example/ca/ca.a.example-cert.pem'),
      );
      // Rounded to the minute (03:05), backdated 5 minutes; valid 3650 days.
      expect(cert.notBefore.toISOString()).toBe('2030-01-02T03:00:00.000Z');
      expect(cert.notAfter.toISOString()).toBe('2039-12-31T03:00:00.000Z');
      expect(await listTree(join(out, 'peerOrganizations/a.example/peers'))).toEqual([]);
    } finally {
      await removeTempDir(out);
    }
  });

  it('reports an unwritable output folder as CRYPTOGEN_E_OUTPUT', async () => {
    const dir = await makeTempDir();
    try {
      // A file where the output folder should be.
      const blocked = join(dir, 'blocked');
      await writeFile(blocked, 'not a folder');
      let caught: unknown;
      try {
        await generateCryptoMaterial({
          config: 'PeerOrgs:\n  - Domain: a.example\n',
          outputDir: blocked,
        });
      } catch (error) {
        caught = error;
      }
      expect(isCofferError(caught, 'CRYPTOGEN_E_OUTPUT')).toBe(true);
      expect(await listTree(dir)).toEqual(['blocked']);
    } finally {
      await removeTempDir(dir);
    }
  });
});

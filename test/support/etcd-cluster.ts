// A real N-organisation etcd network for tests (no vitest imports: e2e tests and scripts reuse
// it). Each organisation gets, from the repository's cryptogen, an etcd member certificate
// (`etcd.orgN.example.com`, IP SAN 127.0.0.1) and a Coffer node certificate (`peer0`), both
// issued by the organisation's TLS CA; etcd trusts a bundle of every organisation's TLS CA.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateCryptoMaterial } from '../../src/msp/cryptogen/index.js';
import {
  launchEtcdCluster,
  type EtcdCluster,
  type EtcdLaunchOptions,
} from '../../src/ordering/etcd-launch.js';

/** TLS material a Coffer node gives openEtcdLog. */
export type NodeTls = { readonly caPem: string; readonly certPem: string; readonly keyPem: string };

export type EtcdTestNetwork = {
  readonly cluster: EtcdCluster;
  /** Folder holding crypto/, ca-bundle.pem and the etcd data and logs. */
  readonly dir: string;
  readonly caBundleFile: string;
  /** Per organisation: the Coffer node's TLS identity (peer0's server.crt, client auth too). */
  readonly nodes: readonly { readonly nodeId: string; readonly tls: NodeTls }[];
  /** A certificate and key from an organisation that is not in the bundle. */
  readonly outsider: NodeTls;
  /** Member names, index i for organisation i + 1. */
  readonly memberNames: readonly string[];
  /** Each organisation's etcd member certificate and key files (to launch more members). */
  readonly memberTls: readonly { readonly certFile: string; readonly keyFile: string }[];
};

/** cryptogen config: N organisations, each with an etcd member and a Coffer node on 127.0.0.1. */
export function etcdCryptoConfig(orgs: number, firstOrg = 1): string {
  const lines = ['PeerOrgs:'];
  for (let i = firstOrg; i < firstOrg + orgs; i += 1) {
    lines.push(
      `  - Name: Org${i}`,
      `    Domain: org${i}.example.com`,
      '    EnableNodeOUs: true',
      '    Specs:',
      '      - Hostname: etcd',
      '        SANS: [127.0.0.1, localhost]',
      '    Template: { Count: 1, SANS: [127.0.0.1, localhost] }',
      '    Users: { Count: 1 }',
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Generates the material under `dir`, starts an `orgs`-member cluster and waits until healthy. */
export async function startEtcdTestNetwork(
  dir: string,
  orgs = 3,
  launch: Partial<Omit<EtcdLaunchOptions, 'dir' | 'members' | 'caFile'>> = {},
): Promise<EtcdTestNetwork> {
  const cryptoDir = path.join(dir, 'crypto');
  // One more organisation than the cluster: its certificates are well formed but not trusted.
  await generateCryptoMaterial({ config: etcdCryptoConfig(orgs + 1), outputDir: cryptoDir });
  const org = (i: number) => path.join(cryptoDir, 'peerOrganizations', `org${i}.example.com`);
  const tlsOf = (i: number, host: string) =>
    path.join(org(i), 'peers', `${host}.org${i}.example.com`, 'tls');
  const caPems: string[] = [];
  for (let i = 1; i <= orgs; i += 1) {
    caPems.push(await readFile(path.join(tlsOf(i, 'etcd'), 'ca.crt'), 'utf8'));
  }
  const caPem = caPems.join('');
  const caBundleFile = path.join(dir, 'ca-bundle.pem');
  await writeFile(caBundleFile, caPem, { mode: 0o644 });
  const memberNames = Array.from({ length: orgs }, (_, i) => `etcd${i + 1}`);
  const memberTls = memberNames.map((_, i): { certFile: string; keyFile: string } => ({
    certFile: path.join(tlsOf(i + 1, 'etcd'), 'server.crt'),
    keyFile: path.join(tlsOf(i + 1, 'etcd'), 'server.key'),
  }));
  const cluster = await launchEtcdCluster({
    ...launch,
    dir: path.join(dir, 'etcd'),
    caFile: caBundleFile,
    members: memberTls.map((files, i) => ({ name: memberNames[i] ?? `etcd${i + 1}`, ...files })),
  });
  const nodeTls = async (i: number, ca: string): Promise<NodeTls> => ({
    caPem: ca,
    certPem: await readFile(path.join(tlsOf(i, 'peer0'), 'server.crt'), 'utf8'),
    keyPem: await readFile(path.join(tlsOf(i, 'peer0'), 'server.key'), 'utf8'),
  });
  const nodes = [];
  for (let i = 1; i <= orgs; i += 1)
    nodes.push({ nodeId: `node${i}`, tls: await nodeTls(i, caPem) });
  return {
    cluster,
    dir,
    caBundleFile,
    nodes,
    outsider: await nodeTls(orgs + 1, caPem),
    memberNames,
    memberTls,
  };
}

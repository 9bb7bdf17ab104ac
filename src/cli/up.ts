// `coffer up`: a local consortium on embedded defaults. It creates (once) the organisations'
// crypto material with cryptogen's layout, checks every MSP and identity, then runs a ledger
// node on the embedded log in the foreground and writes a client profile (credentials of
// Org1's User1) that `coffer tx`/`coffer query` and the SDK use. Ctrl-C stops it cleanly.
import { access, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cofferError } from '../errors/index.js';
import { generateCryptoMaterial } from '../msp/cryptogen/index.js';
import { loadMspFolder } from '../msp/index.js';
import type { Command, CommandIo } from './main.js';
import { verifyPoolLimits } from '../crypto/index.js';
import { buildGenesis } from './genesis.js';
import {
  nodeConfigDefaults,
  readWebhooksFile,
  verifyThreadsDefault,
  type NodeConfig,
} from '../node/index.js';
import { cliLogger, runInForeground } from './node.js';
import type { ClientProfile } from './profile.js';

/** Organisations `coffer up` creates by default, and the most it accepts. */
export const defaultOrgCount = 3;
export const upOrgsMax = 16;

export const defaultPort = 7443;

const upUsage = `Usage: coffer up [--dir DIR] [--orgs N] [--host H] [--port P] [--console-port C]
                 [--check] [--json] [--verify-threads T] [--webhooks FILE]

Creates (once) a local consortium in DIR (default ./.coffer): N organisations (default
${defaultOrgCount}) with Fabric-layout crypto material; checks every MSP and identity; then runs
Org1's node on 127.0.0.1:P (default ${defaultPort}; 0 picks a free port) in the foreground.
  --console-port C  the web console's listener (default P + 1, or a free port when P is 0):
                    https://H:C/console/, signing in with \`coffer console keystore\` files
  --check   only create and check the consortium, then exit (0 when all is well)
  --json    print machine-readable lines (the check report; the running node's profile)
  --verify-threads T  worker threads verifying signatures (default one per core; 0: none)
  --webhooks FILE     custody webhook endpoints: a JSON list of {url, secretFile, events?,
                      caFile?} as in a node config's "webhooks" (paths relative to FILE)`;

/**
 * Cryptogen config of a demo consortium: N organisations, one peer and one user each; `sans`
 * are added to the peers' TLS certificates (a network reaches its nodes at 127.0.0.1).
 */
/** cryptogen config of organisations first..last (OrgI, orgI.coffer.local), NodeOUs on. */
export function organisationsCryptoConfig(
  first: number,
  last: number,
  sans: readonly string[],
): string {
  const lines = ['PeerOrgs:'];
  for (let i = first; i <= last; i += 1) {
    lines.push(
      `  - Name: Org${i}`,
      `    Domain: org${i}.coffer.local`,
      '    EnableNodeOUs: true',
      '    Template:',
      '      Count: 1',
      ...(sans.length === 0 ? [] : [`      SANS: ${JSON.stringify(sans)}`]),
      '    Users:',
      '      Count: 1',
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * DIR/crypto-config.yaml and the crypto material in DIR/crypto, each created once (an existing
 * config or folder is kept, so a consortium survives restarts); returns the crypto folder.
 */
export async function ensureConsortiumCrypto(
  dir: string,
  orgs: number,
  io: CommandIo,
  sans: readonly string[] = [],
): Promise<string> {
  const cryptoDir = path.join(dir, 'crypto');
  const configFile = path.join(dir, 'crypto-config.yaml');
  await mkdir(dir, { recursive: true });
  if (!(await exists(configFile))) {
    await writeFile(configFile, organisationsCryptoConfig(1, orgs, sans));
  }
  if (!(await exists(cryptoDir))) {
    await generateCryptoMaterial({
      config: await readFile(configFile, 'utf8'),
      outputDir: cryptoDir,
    });
    io.stderr(`created crypto material in ${cryptoDir}`);
  }
  return cryptoDir;
}

export async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

type OrgReport = {
  mspId: string;
  domain: string;
  /** 'ok', or the error that stopped the organisation MSP from loading. */
  msp: string;
  identities: { name: string; role: string | null; valid: boolean; signs: boolean }[];
};

export const upCommand: Command = async (args, io) => {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: {
        dir: { type: 'string', default: '.coffer' },
        orgs: { type: 'string', default: String(defaultOrgCount) },
        json: { type: 'boolean', default: false },
        check: { type: 'boolean', default: false },
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: String(defaultPort) },
        'console-port': { type: 'string' },
        'log-level': { type: 'string', default: 'info' },
        'verify-threads': { type: 'string' },
        webhooks: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    throw cofferError('CLI_E_USAGE', `${(error as Error).message}\n\n${upUsage}`);
  }
  const { values } = parsed;
  if (values.help) {
    io.stdout(upUsage);
    return 0;
  }
  const orgs = Number(values.orgs);
  if (!Number.isInteger(orgs) || orgs < 1 || orgs > upOrgsMax) {
    throw cofferError('CLI_E_USAGE', `--orgs must be an integer from 1 to ${upOrgsMax}`);
  }
  const dir = path.resolve(values.dir);
  const cryptoDir = await ensureConsortiumCrypto(dir, orgs, io);

  const reports: OrgReport[] = [];
  const peerOrgsDir = path.join(cryptoDir, 'peerOrganizations');
  for (const domain of (await readdir(peerOrgsDir)).sort()) {
    const orgDir = path.join(peerOrgsDir, domain);
    const mspId = `${domain.split('.')[0]?.replace(/^./, (c) => c.toUpperCase()) ?? domain}MSP`;
    const orgMsp = await loadMspFolder(path.join(orgDir, 'msp'), { mspId });
    const report: OrgReport = {
      mspId,
      domain,
      msp: orgMsp.ok ? 'ok' : `${orgMsp.error.code}: ${orgMsp.error.message}`,
      identities: [],
    };
    reports.push(report);
    if (!orgMsp.ok) continue;
    const locals = [
      ...(await readdir(path.join(orgDir, 'peers'))).map((name) =>
        path.join(orgDir, 'peers', name, 'msp'),
      ),
      ...(await readdir(path.join(orgDir, 'users'))).map((name) =>
        path.join(orgDir, 'users', name, 'msp'),
      ),
    ];
    for (const localDir of locals) {
      const local = await loadMspFolder(localDir, { mspId, local: true });
      const name = path.basename(path.dirname(localDir));
      const signer = local.ok ? local.msp.signingIdentity : undefined;
      const signCertPem = local.folder?.signing?.signCert.pem;
      if (signer === undefined || signCertPem === undefined) {
        report.identities.push({ name, role: null, valid: false, signs: false });
        continue;
      }
      // The organisation MSP (what the consortium stores) must accept what the node signs.
      const identity = orgMsp.msp.deserializeIdentity(mspId, signCertPem);
      if (!identity.ok) {
        report.identities.push({ name, role: null, valid: false, signs: false });
        continue;
      }
      const validation = orgMsp.msp.validate(identity.identity);
      const message = Buffer.from(`coffer up ${name}`);
      const signs = orgMsp.msp.verify(identity.identity, message, signer.sign(message)).ok;
      report.identities.push({ name, role: validation.role, valid: validation.valid, signs });
    }
  }
  const healthy = reports.every(
    (report) => report.msp === 'ok' && report.identities.every((item) => item.valid && item.signs),
  );
  if (values.json && values.check) {
    io.stdout(JSON.stringify({ dir, organizations: reports, healthy }));
  } else if (!values.json) {
    const lines = [`Coffer consortium in ${dir}`];
    for (const report of reports) {
      lines.push(`  ${report.mspId} (${report.domain}): MSP ${report.msp}`);
      for (const item of report.identities) {
        lines.push(
          `    ${item.valid && item.signs ? 'ok     ' : 'PROBLEM'} ${item.name} role=${item.role ?? '-'} valid=${item.valid} signs=${item.signs}`,
        );
      }
    }
    lines.push(
      healthy
        ? 'All organisations and identities verified.'
        : 'Some identities failed verification.',
    );
    io.stdout(lines.join('\n'));
  }
  if (values.check || !healthy) return healthy ? 0 : 1;

  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw cofferError('CLI_E_USAGE', '--port must be a port number (0 picks a free one)');
  }
  const consolePort =
    values['console-port'] === undefined
      ? port === 0
        ? 0
        : port + 1
      : Number(values['console-port']);
  if (!Number.isInteger(consolePort) || consolePort < 0 || consolePort > 65535) {
    throw cofferError('CLI_E_USAGE', '--console-port must be a port number (0 picks a free one)');
  }
  const org1 = path.join(peerOrgsDir, 'org1.coffer.local');
  const peerDir = path.join(org1, 'peers', 'peer0.org1.coffer.local');
  const userDir = path.join(org1, 'users', 'User1@org1.coffer.local');
  // The consortium's configuration lives in the ledger from genesis on (issue 6). A ledger
  // started before genesis files existed keeps its fixed configuration.
  const genesisFile = path.join(dir, 'genesis.json');
  const dataDir = path.join(dir, 'nodes', 'org1-peer0');
  if (!(await exists(genesisFile)) && !(await exists(dataDir))) {
    const genesis = await buildGenesis({
      msps: reports.map((report) => ({
        dir: path.join(peerOrgsDir, report.domain, 'msp'),
        mspId: report.mspId,
      })),
      nodes: [{ nodeId: 'org1-peer0', mspId: 'Org1MSP' }],
    });
    await writeFile(genesisFile, `${JSON.stringify(genesis, null, 2)}\n`);
  }
  const config: NodeConfig = {
    ...((await exists(genesisFile)) ? { genesisFile } : {}),
    nodeId: 'org1-peer0',
    dataDir,
    listen: { host: values.host, port },
    console: { host: values.host, port: consolePort },
    tls: {
      certFile: path.join(peerDir, 'tls', 'server.crt'),
      keyFile: path.join(peerDir, 'tls', 'server.key'),
    },
    identity: { mspId: 'Org1MSP', mspDir: path.join(peerDir, 'msp') },
    consortium: reports.map((report) => ({
      mspId: report.mspId,
      mspDir: path.join(peerOrgsDir, report.domain, 'msp'),
    })),
    ...nodeConfigDefaults,
    ordering: { kind: 'embedded' },
    verifyThreads:
      values['verify-threads'] === undefined
        ? verifyThreadsDefault()
        : Number(values['verify-threads']),
    ...(values.webhooks === undefined
      ? {}
      : { webhooks: await readWebhooksFile(path.resolve(values.webhooks)) }),
  };
  if (
    !Number.isSafeInteger(config.verifyThreads) ||
    config.verifyThreads < 0 ||
    config.verifyThreads > verifyPoolLimits.threadsMax
  ) {
    throw cofferError(
      'CLI_E_USAGE',
      `--verify-threads must be an integer from 0 to ${verifyPoolLimits.threadsMax}`,
    );
  }
  await writeFile(path.join(dir, 'node.json'), `${JSON.stringify(config, null, 2)}\n`);
  const keystore = path.join(userDir, 'msp', 'keystore');
  const [keyFile] = (await readdir(keystore)).sort();
  const profileFile = path.join(dir, 'client.json');
  return runInForeground(config, cliLogger(values['log-level']), io, async (node) => {
    const profile: ClientProfile = {
      url: node.url,
      servername: 'peer0.org1.coffer.local',
      caFile: path.join(peerDir, 'tls', 'ca.crt'),
      tlsCertFile: path.join(userDir, 'msp', 'signcerts', 'User1@org1.coffer.local-cert.pem'),
      tlsKeyFile: path.join(keystore, keyFile ?? 'priv_sk'),
      mspId: 'Org1MSP',
      mspDir: path.join(userDir, 'msp'),
    };
    await writeFile(profileFile, `${JSON.stringify(profile, null, 2)}\n`);
    if (values.json) {
      io.stdout(
        JSON.stringify({
          event: 'started',
          url: node.url,
          profile: profileFile,
          console: node.consoleUrl,
        }),
      );
      return;
    }
    io.stdout(
      [
        `Coffer node org1-peer0 is up: ${node.url}`,
        `  client profile (Org1 User1 credentials): ${profileFile}`,
        `  web console: ${node.consoleUrl ?? '(none)'} (its TLS CA: ${path.join(peerDir, 'tls', 'ca.crt')})`,
        `    sign in with a key store: bin/coffer console keystore --msp-dir ${path.join(userDir, 'msp')} --msp-id Org1MSP --out user1.keystore.json --passphrase-file FILE`,
        `  try: bin/coffer tx kv put --args '{"map":"public:kv.demo","key":"hello","value":"world"}' --wait`,
        `       bin/coffer query kv get --args '{"map":"public:kv.demo","key":"hello"}'`,
      ].join('\n'),
    );
  });
};

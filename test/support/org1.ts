// One organisation's crypto material for in-process engine tests: Org1MSP (NodeOUs on), its
// User1 as a client, and its peer as the root signer.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import type { ClientOptions } from '../../src/client/index.js';
import {
  identityFromMspFolder,
  type ClientIdentity,
  type Signer,
} from '../../src/client/signer.js';
import { builtInApps, type AppRegistry } from '../../src/contracts/index.js';
import { createApi, type ApiServer } from '../../src/node/api.js';
import { startEngine, type Engine } from '../../src/node/engine.js';
import type { Consortium } from '../../src/ledger/execute.js';
import { generateCryptoMaterial } from '../../src/msp/cryptogen/index.js';
import { loadMspFolder, type Msp } from '../../src/msp/index.js';
import type { EngineOptions } from '../../src/node/engine.js';
import type { SessionLimits } from '../../src/node/sessions.js';
import type { ApiTimeouts } from '../../src/node/http-limits.js';
import type { RawTlsTarget } from './raw-tls.js';

export type Org1 = {
  readonly consortium: Consortium;
  readonly user: { readonly identity: ClientIdentity; readonly signer: Signer };
  readonly rootSigner: EngineOptions['rootSigner'];
};

/** Generates Org1's material under `work`/crypto and loads it. */
export async function org1Material(work: string): Promise<Org1> {
  await generateCryptoMaterial({
    config:
      'PeerOrgs:\n  - Name: Org1\n    Domain: org1.example.com\n    EnableNodeOUs: true\n    Template: { Count: 1 }\n    Users: { Count: 1 }\n',
    outputDir: path.join(work, 'crypto'),
  });
  const org = path.join(work, 'crypto', 'peerOrganizations', 'org1.example.com');
  const orgMsp = await loadMspFolder(path.join(org, 'msp'), { mspId: 'Org1MSP' });
  if (!orgMsp.ok) throw orgMsp.error;
  const user = await identityFromMspFolder(
    path.join(org, 'users', 'User1@org1.example.com', 'msp'),
    'Org1MSP',
  );
  const peer = await loadMspFolder(path.join(org, 'peers', 'peer0.org1.example.com', 'msp'), {
    mspId: 'Org1MSP',
    local: true,
  });
  if (!peer.ok || peer.msp.signingIdentity === undefined || peer.folder?.signing === undefined)
    throw new Error('the peer of Org1 has no signing identity');
  const signing = peer.msp.signingIdentity;
  return {
    consortium: { msps: new Map<string, Msp>([['Org1MSP', orgMsp.msp]]) },
    user,
    rootSigner: {
      mspId: 'Org1MSP',
      certPem: peer.folder.signing.signCert.pem,
      sign: (message) => signing.sign(message),
    },
  };
}

function org1Dir(work: string): string {
  return path.join(work, 'crypto', 'peerOrganizations', 'org1.example.com');
}

/** The folder of Org1's peer (its MSP and TLS material). */
export function org1PeerDir(work: string): string {
  return path.join(org1Dir(work), 'peers', 'peer0.org1.example.com');
}

/** The peer's TLS server certificate and key: what an in-process API serves with. */
export async function org1PeerTls(work: string): Promise<{ cert: string; key: string }> {
  const tls = path.join(org1PeerDir(work), 'tls');
  return {
    cert: await readFile(path.join(tls, 'server.crt'), 'utf8'),
    key: await readFile(path.join(tls, 'server.key'), 'utf8'),
  };
}

/**
 * An engine of Org1 in this process, its data in `work`/`dir` (started again on the same
 * folder, it recovers from it), signing roots as the peer.
 */
export function startOrg1Engine(
  work: string,
  org1: Org1,
  options: {
    readonly dir: string;
    readonly nodeId: string;
    readonly apps: AppRegistry;
    readonly signatureIntervalMs: number;
    readonly openLog?: EngineOptions['openLog'];
  },
): Promise<Engine> {
  return startEngine({
    dataDir: path.join(work, options.dir),
    nodeId: options.nodeId,
    consortium: () => org1.consortium,
    apps: options.apps,
    rootSigner: org1.rootSigner,
    logger: pino({ level: 'silent' }),
    signatureIntervalTx: 1000,
    signatureIntervalMs: options.signatureIntervalMs,
    ...(options.openLog === undefined ? {} : { openLog: options.openLog }),
  });
}

/**
 * A node of Org1 in this process: an engine with the built-in apps and its data in
 * `work`/`name`, and its HTTPS API (mutual TLS, the peer's TLS pair) on 127.0.0.1:`port`
 * (0: any free port).
 */
export async function startOrg1Node(
  work: string,
  org1: Org1,
  options: {
    readonly name?: string;
    readonly port?: number;
    readonly sessions?: SessionLimits;
    readonly timeouts?: ApiTimeouts;
    /** The engine's ordering log (default: the embedded log in its folder). */
    readonly openLog?: EngineOptions['openLog'];
  } = {},
): Promise<{ readonly engine: Engine; readonly api: ApiServer; readonly url: string }> {
  const apps = builtInApps();
  const name = options.name ?? 'node';
  const engine = await startOrg1Engine(work, org1, {
    dir: name,
    nodeId: name,
    apps,
    signatureIntervalMs: 20,
    ...(options.openLog === undefined ? {} : { openLog: options.openLog }),
  });
  const api = await createApi({
    engine,
    consortium: () => org1.consortium,
    apps,
    tls: await org1PeerTls(work),
    logger: pino({ level: 'silent' }),
    ...(options.sessions === undefined ? {} : { sessions: options.sessions }),
    ...(options.timeouts === undefined ? {} : { timeouts: options.timeouts }),
  });
  return { engine, api, url: await api.listen('127.0.0.1', options.port ?? 0) };
}

/** User1's mutual-TLS options for raw connections to a listener of startOrg1Node (all but its port). */
export async function org1UserRawTls(
  work: string,
  org1: Org1,
): Promise<Omit<RawTlsTarget, 'port'>> {
  const options = await org1UserClientOptions(work, org1);
  return {
    ca: options.ca,
    cert: options.tlsCert,
    key: options.tlsKey,
    servername: options.servername,
  };
}

/** Client options of Org1's User1 for a node started by startOrg1Node (all but its URL). */
export async function org1UserClientOptions(
  work: string,
  org1: Org1,
): Promise<Omit<ClientOptions, 'url'> & { readonly ca: string; readonly servername: string }> {
  const userMsp = path.join(org1Dir(work), 'users', 'User1@org1.example.com', 'msp');
  const [keyFile] = await readdir(path.join(userMsp, 'keystore'));
  return {
    ca: await readFile(path.join(org1PeerDir(work), 'tls', 'ca.crt'), 'utf8'),
    tlsCert: org1.user.identity.certPem,
    tlsKey: await readFile(path.join(userMsp, 'keystore', String(keyFile)), 'utf8'),
    servername: 'peer0.org1.example.com',
    ...org1.user,
  };
}

// Public surface of the node: start one from its configuration.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { builtInApps, type AppRegistry } from '../contracts/index.js';
import { custodyApp } from '../custody/index.js';
import { evmApp } from '../evm/index.js';
import { evmNodeOf } from './evm-rpc.js';
import {
  checkGenesis,
  configWrites,
  consortiumOf,
  governanceApp,
  govConfigMap,
  govJoinsMap,
  type JoinRequest,
  type NodeRecord,
  readGovConfig,
} from '../governance/index.js';
import { createVerifyPool } from '../crypto/index.js';
import { cofferError } from '../errors/index.js';
import type { Consortium } from '../ledger/execute.js';
import { loadMspFolder, type Msp } from '../msp/index.js';
import {
  openEtcdLog,
  type EtcdLog,
  type OrderingLog,
  type OrderingLogger,
} from '../ordering/index.js';
import { clientTrustOf, createApi } from './api.js';
import { serveCatchUp, startCatchUp, type CatchUp } from './catchup.js';
import { peerAgent, startPeerWatch, type PeerConfig, type PeerWatch } from './peers.js';
import { lockDataDir } from './lock.js';
import { joinFromSnapshot, readJoinRecord, type JoinRecord } from './snapshot-join.js';
import { loadLedgerSecretFile } from '../ledger/secret.js';
import { every } from './every.js';
import { startWebhookDispatcher, webhookEndpointsOf, webhookSourceOf } from './webhooks.js';
import { readJsonFile, type NodeConfig } from './config.js';
import { virtualAttestation, type Attestation } from './attestation.js';
import { signEnvelope } from '../client/envelope.js';
import { clientIdentity, privateKeySigner } from '../client/signer.js';
import type { SignedRoot } from '../ledger/receipt.js';
import { startEngine, type Engine, type GovernedOptions } from './engine.js';
import {
  heapGrowthPercentDefault,
  setHeapGrowth,
  tuneMalloc,
  untunedMalloc,
  type MallocTuning,
} from './memory.js';
import { pretenuringOf, v8PoolSizeOf } from './runtime-flags.js';

export type { NodeConfig, OrderingConfig } from './config.js';
export { lockDataDir, type DataDirLock } from './lock.js';
export {
  nodeConfigDefaults,
  readNodeConfig,
  readWebhooksFile,
  verifyThreadsDefault,
} from './config.js';
export { processAlive } from './lock.js';
export type { Engine, Position, SubmitOutcome, TxStatus } from './engine.js';
export type { ApiServer } from './api.js';

export type RunningNode = {
  readonly url: string;
  /** The web console on the console listener (config `console`), when it has one. */
  readonly consoleUrl?: string;
  readonly engine: Engine;
  readonly stop: () => Promise<void>;
};

async function loadConsortium(config: NodeConfig): Promise<Consortium> {
  const msps = new Map<string, Msp>();
  for (const member of config.consortium) {
    if (msps.has(member.mspId)) {
      throw cofferError('CLI_E_USAGE', `node config: MSP ${member.mspId} is listed twice`);
    }
    const loaded = await loadMspFolder(member.mspDir, { mspId: member.mspId });
    if (!loaded.ok) throw loaded.error;
    msps.set(member.mspId, loaded.msp);
  }
  return { msps };
}

/** The keystore PEM whose key belongs to the certificate (an MSP keystore may hold several). */
function signingKeyPem(certPem: string, keystore: readonly { readonly pem: string }[]): string {
  const wanted = createPublicKey(certPem).export({ type: 'spki', format: 'der' });
  for (const { pem } of keystore) {
    try {
      const key = createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'der' });
      if (key.equals(wanted)) return pem;
    } catch {
      // not a private key this node can read: try the next
    }
  }
  throw cofferError(
    'MSP_E_CONFIG_NO_SIGNCERT',
    "the node's MSP keystore holds no private key for its signing certificate",
  );
}

/** The engine options that keep the consortium in the ledger, from a genesis file. */
async function governedOptions(file: string): Promise<GovernedOptions> {
  const config = checkGenesis(await readJsonFile(file, 'genesis'));
  return {
    genesis: { config, writes: configWrites(config) },
    configMap: govConfigMap,
    consortiumOf: (read) => {
      const current = readGovConfig(read);
      if (current === undefined) throw new Error('governed ledger without a configuration');
      return consortiumOf(current);
    },
    settingsOf: (read) => {
      const current = readGovConfig(read);
      if (current === undefined) throw new Error('governed ledger without a configuration');
      const { signatureIntervalTx, signatureIntervalMs, snapshotIntervalTx } = current.settings;
      return { signatureIntervalTx, signatureIntervalMs, snapshotIntervalTx };
    },
  };
}

export type Admission = { readonly admitted: boolean; readonly reason: string };

/** The admitted nodes and allowed code ids in force, re-read only when their values change. */
type Admissions = {
  readonly nodes: Readonly<Record<string, NodeRecord>>;
  readonly codes: readonly string[];
};

function admissionsReader(): (engine: Engine | undefined) => Admissions | undefined {
  let seen: { nodes: string; codes: string; value: Admissions } | undefined;
  return (engine) => {
    if (engine === undefined) return undefined;
    const read = engine.store().read;
    const nodes = read(govConfigMap, 'nodes');
    const codes = read(govConfigMap, 'codes');
    if (nodes === undefined || codes === undefined) return undefined;
    // Submissions ask on every request: parse the two values only when the ledger changed them.
    if (seen?.nodes !== nodes || seen.codes !== codes) {
      seen = {
        nodes,
        codes,
        value: {
          nodes: JSON.parse(nodes) as Admissions['nodes'],
          codes: JSON.parse(codes) as Admissions['codes'],
        },
      };
    }
    return seen.value;
  };
}

/**
 * Whether the configuration in force admits this node running this code: the node is admitted
 * (not retired) and the code id it runs is allowed. Upgrading is allow_code for the new id
 * and restarting; disallow_code for the old one then refuses nodes still running it.
 */
function admissionOf(config: Admissions | undefined, nodeId: string, codeId: string): Admission {
  if (config === undefined) return { admitted: false, reason: 'no configuration yet' };
  const node = config.nodes[nodeId];
  if (node === undefined) return { admitted: false, reason: `node ${nodeId} is not admitted` };
  if (node.status !== 'admitted') return { admitted: false, reason: `node ${nodeId} is retired` };
  if (!config.codes.includes(codeId)) {
    return { admitted: false, reason: `the code id it runs, ${codeId}, is not allowed` };
  }
  return { admitted: true, reason: `admitted, running allowed code id ${codeId}` };
}

/** How often a node refreshes what follows the configuration in force (TLS trust, joining). */
export const housekeepingIntervalMs = 1000;
/** A join request not yet recorded is sent again after this long. */
export const joinResendMs = 10_000;

/**
 * The node's peers: those its config names, and every other node the configuration in force
 * gives a URL (governance admits nodes with the address their peers reach them at). Retired
 * nodes stay listed (their roots no longer count); sorted by node id.
 */
export function peersOf(
  config: Pick<NodeConfig, 'nodeId' | 'peers'>,
  nodes: Readonly<Record<string, NodeRecord>> | undefined,
): PeerConfig[] {
  const byId = new Map<string, PeerConfig>();
  for (const peer of config.peers ?? []) byId.set(peer.nodeId, peer);
  for (const node of Object.values(nodes ?? {})) {
    if (node.nodeId === config.nodeId || node.url === undefined) continue;
    byId.set(node.nodeId, { nodeId: node.nodeId, url: node.url });
  }
  return [...byId.values()].sort((a, b) =>
    a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0,
  );
}

type JoinClaim = {
  readonly nodeId: string;
  readonly attestation: Attestation;
  readonly url: string;
  readonly peer: { readonly mspId: string; readonly certPem: string; readonly keyPem: string };
};

/**
 * A node the consortium has not admitted asks to join: a `gov join` transaction signed by its
 * own peer identity with its node id, code id, attestation and URL, unless the same request is
 * recorded already. Until it is (e.g. its organisation is not a member yet, or this node has
 * not caught up), it is sent again every joinResendMs. Member admins then propose admit_node.
 */
function joinRequester(engine: Engine, logger: Logger): (claim: JoinClaim) => Promise<void> {
  let sentAt = 0;
  let lastProblem = '';
  return async ({ nodeId, attestation, url, peer }) => {
    const recorded = engine.store().read(govJoinsMap, nodeId);
    if (recorded !== undefined) {
      const request = JSON.parse(recorded) as Partial<JoinRequest>;
      if (
        request.codeId === attestation.codeId &&
        request.mspId === peer.mspId &&
        request.url === url
      ) {
        return;
      }
    }
    // A node behind the log (catching up from a peer, say) waits: its view of the
    // configuration is old, and ordering would refuse the request anyway.
    if (!engine.health().ok || Date.now() - sentAt < joinResendMs) return;
    sentAt = Date.now();
    const { envelope } = await signEnvelope({
      app: governanceApp.name,
      action: 'join',
      args: {
        nodeId,
        codeId: attestation.codeId,
        provider: attestation.provider,
        url,
        ...(attestation.evidence === undefined ? {} : { evidence: attestation.evidence }),
      },
      identity: clientIdentity(peer.mspId, peer.certPem),
      signer: privateKeySigner(peer.keyPem),
    });
    const submitted = await engine.submit(envelope);
    if (submitted.ok) {
      logger.info({ nodeId, codeId: attestation.codeId, url }, 'join request sent');
      lastProblem = '';
      return;
    }
    // Said once per reason: e.g. the organisation is not a member yet, so it is retried.
    if (submitted.error.message !== lastProblem) {
      lastProblem = submitted.error.message;
      logger.warn(
        { code: submitted.error.code },
        `join request not accepted yet (sent again every ${joinResendMs} ms): ${submitted.error.message}`,
      );
    }
  };
}

/**
 * The join record of this node's data directory: the one it has, or, for a node with nothing
 * yet, the one joining from a peer's committed snapshot makes (undefined: it joins from position
 * 1). Signed roots are checked with the MSPs of the node's own configuration.
 */
async function snapshotJoin(
  config: NodeConfig,
  consortium: Consortium,
  identity: { readonly certPem: string; readonly keyPem: string },
  staticCas: readonly string[],
  logger: Logger,
): Promise<JoinRecord | undefined> {
  const recorded = await readJoinRecord(config.dataDir);
  if (recorded !== undefined || config.ledgerSecretFile === undefined) return recorded;
  const peers = peersOf(config, undefined);
  if (peers.length === 0) return undefined;
  const trust = [...staticCas, ...clientTrustOf(consortium.msps)];
  const agent = peerAgent({ cert: identity.certPem, key: identity.keyPem }, () => trust);
  // Held while joining, so that a second process on the same folder stops instead of joining
  // too (the engine takes the lock again right after).
  await mkdir(config.dataDir, { recursive: true });
  const lock = await lockDataDir(config.dataDir);
  try {
    return await joinFromSnapshot({
      dataDir: config.dataDir,
      peers,
      agent: agent.agent(),
      msps: consortium.msps,
      secret: await loadLedgerSecretFile(config.ledgerSecretFile),
      organisationsMin: Math.floor((peers.length + 1) / 2) + 1,
      logger,
    });
  } finally {
    agent.destroy();
    await lock.release();
  }
}

/**
 * After a join from a snapshot: once the engine has executed the batches installed with it, its
 * own root at the signed tree size must be the one the peers signed (else NODE_E_DIVERGED).
 */
async function checkJoinedRoot(engine: Engine, joined: JoinRecord, logger: Logger): Promise<void> {
  for (let waited = 0; engine.position().seqno < joined.treeSize; waited += 100) {
    if (waited >= 60_000) {
      logger.warn(
        { treeSize: joined.treeSize, seqno: engine.position().seqno },
        'joined from a snapshot: the batches installed with it have not executed in 60 s',
      );
      return;
    }
    // Unreferenced: a node stopped meanwhile exits without waiting for this check.
    await new Promise((resolve) => setTimeout(resolve, 100).unref());
  }
  const own = engine.rootAt(joined.treeSize);
  if (own === undefined || own === joined.root) return;
  engine.halt(
    cofferError(
      'NODE_E_DIVERGED',
      `after joining from a snapshot, this node computed root ${own} at tree size ${joined.treeSize} where ${joined.signers.join(', ')} signed ${joined.root}`,
      { treeSize: joined.treeSize, peers: [...joined.signers] },
    ),
  );
}

/** Starts a node: consortium MSPs, its own identity, the engine, then the HTTPS API. */
export async function startNode(config: NodeConfig, logger: Logger): Promise<RunningNode> {
  const consortium = await loadConsortium(config);
  const own = await loadMspFolder(config.identity.mspDir, {
    mspId: config.identity.mspId,
    local: true,
  });
  if (!own.ok) throw own.error;
  const signing = own.msp.signingIdentity;
  const certPem = own.folder?.signing?.signCert.pem;
  if (signing === undefined || certPem === undefined) {
    throw cofferError(
      'MSP_E_CONFIG_NO_SIGNCERT',
      `${config.identity.mspDir} has no signing identity`,
    );
  }
  const governed =
    config.genesisFile === undefined ? undefined : await governedOptions(config.genesisFile);
  // Webhook secrets are read before anything starts: a bad secret file stops the start.
  const webhookEndpoints = await webhookEndpointsOf(config.webhooks ?? []);
  // Every node runs the built-in apps, custody (issue 7) and, with a genesis, governance.
  const apps: AppRegistry = new Map([
    ...builtInApps(),
    [custodyApp.name, custodyApp],
    [evmApp.name, evmApp],
    ...(governed === undefined ? [] : ([[governanceApp.name, governanceApp]] as const)),
  ]);
  const attestation = await virtualAttestation().attest();
  const admissions = admissionsReader();
  const ordering = config.ordering;
  // TLS CAs peers' servers may chain to besides the consortium's (the node config's file).
  const staticCas =
    config.tlsCaFile === undefined ? [] : [await readFile(config.tlsCaFile, 'utf8')];
  // Nodes that count in the network (this one included): from the config until the peers are
  // known, then the peers that count now.
  let networkSize = (): number => (config.peers?.length ?? 0) + 1;
  // A node with nothing yet in a network joins from a peer's committed snapshot, once checked
  // against signature entries (decision 0027); none yet: it catches up from position 1.
  const joined =
    ordering.kind === 'etcd' && governed !== undefined && config.ledgerSecretFile !== undefined
      ? await snapshotJoin(
          config,
          consortium,
          { certPem, keyPem: signingKeyPem(certPem, own.folder?.signing?.keystore ?? []) },
          staticCas,
          logger,
        )
      : undefined;
  let etcdLog: EtcdLog | undefined;
  const openLog =
    ordering.kind === 'etcd'
      ? async (dir: string, orderingLogger: OrderingLogger): Promise<OrderingLog> => {
          etcdLog = await openEtcdLog({
            mirrorDir: dir,
            endpoints: ordering.endpoints,
            prefix: ordering.prefix,
            nodeId: config.nodeId,
            tls: {
              caPem: await readFile(ordering.caFile, 'utf8'),
              certPem: await readFile(ordering.certFile, 'utf8'),
              keyPem: await readFile(ordering.keyFile, 'utf8'),
            },
            logger: orderingLogger,
            ...(joined === undefined ? {} : { mirror: { firstPosition: joined.logPosition + 1 } }),
            // Whatever etcd forgets is held by a majority of the network's nodes (decision 0016).
            retentionNodesMin: () => Math.floor(networkSize() / 2) + 1,
            ...ordering.limits,
          });
          return etcdLog;
        }
      : undefined;
  // Memory, set for a long-running process (decision 0028).
  setHeapGrowth(config.heapGrowthPercent ?? heapGrowthPercentDefault);
  const malloc: MallocTuning =
    config.mallocTuning === false
      ? untunedMalloc('mallocTuning is false in the node config')
      : await tuneMalloc({ logger });
  // Set when the process started (decisions 0030, 0031): bin/coffer re-executes to set them.
  const v8PoolSize = v8PoolSizeOf(process.execArgv, process.env['NODE_OPTIONS']);
  const v8Pretenuring = pretenuringOf(process.execArgv, process.env['NODE_OPTIONS']);
  logger.info(
    { v8PoolSize, v8Pretenuring },
    `V8 thread pool: ${v8PoolSize} threads; allocation-site pretenuring ${v8Pretenuring ? 'on' : 'off'}`,
  );
  // Submissions' signatures are verified on every core (decision 0010).
  const verifyPool =
    config.verifyThreads > 0 ? createVerifyPool({ threads: config.verifyThreads }) : undefined;
  let engine: Engine;
  // Set once the engine runs (submissions come after that).
  let engineRef: Engine | undefined = undefined;
  try {
    engine = await startEngine({
      dataDir: config.dataDir,
      nodeId: config.nodeId,
      consortium: () => consortium,
      ...(governed === undefined ? {} : { governed }),
      accepts: (request) => {
        if (governed === undefined || request.app === governanceApp.name) return undefined;
        const admitted = admissionOf(admissions(engineRef), config.nodeId, attestation.codeId);
        return admitted.admitted
          ? undefined
          : cofferError(
              'NODE_E_NOT_ADMITTED',
              `this node is not admitted by the consortium (${admitted.reason}); it takes governance requests only`,
              { nodeId: config.nodeId, codeId: attestation.codeId },
            );
      },
      apps,
      rootSigner: {
        mspId: config.identity.mspId,
        certPem,
        sign: (message) => signing.sign(message),
      },
      logger,
      signatureIntervalTx: config.signatureIntervalTx,
      signatureIntervalMs: config.signatureIntervalMs,
      ...(config.snapshotIntervalTx === undefined
        ? {}
        : { snapshotIntervalTx: config.snapshotIntervalTx }),
      pendingMax: config.pendingMax,
      ...(joined === undefined ? {} : { joinedAtSeqno: joined.snapshotSeqno }),
      ...(verifyPool === undefined ? {} : { verifier: verifyPool.verify }),
      ...(openLog === undefined ? {} : { openLog }),
      ...(malloc.tuned
        ? { memoryPages: { prefault: malloc.prefault, discard: malloc.returnPages } }
        : {}),
      ...(config.ledgerSecretFile === undefined
        ? {}
        : { ledgerSecretFile: config.ledgerSecretFile }),
    });
  } catch (error) {
    malloc.stop();
    await verifyPool?.close();
    throw error;
  }
  engineRef = engine;
  const running = engine;
  if (joined !== undefined) {
    void checkJoinedRoot(engine, joined, logger).catch((error: unknown) => {
      logger.error({ error: String(error) }, 'checking the root after a snapshot join failed');
    });
  }
  // Governed: a signed root counts only from a node the consortium admits, of its MSP.
  const countsAsNode =
    governed === undefined
      ? undefined
      : (signed: SignedRoot): boolean => {
          const node = admissions(running)?.nodes[signed.nodeId];
          return node?.status === 'admitted' && node.mspId === signed.mspId;
        };
  const countsOption = countsAsNode === undefined ? {} : { countsAsNode };
  let peerWatch: PeerWatch | undefined;
  let catchUp: CatchUp | undefined;
  const servedLog = etcdLog;
  const keyPem = signingKeyPem(certPem, own.folder?.signing?.keystore ?? []);
  let api;
  try {
    api = await createApi({
      engine,
      ...(config.sessions === undefined ? {} : { sessions: config.sessions }),
      consortium: () => running.consortium(),
      apps,
      status: () => {
        const mallocHeap = malloc.heap();
        return {
          attestation,
          admission:
            governed === undefined
              ? { admitted: true, reason: 'no genesis: the consortium is fixed by the node config' }
              : admissionOf(admissions(running), config.nodeId, attestation.codeId),
          mallocTuning: {
            tuned: malloc.tuned,
            detail: malloc.detail,
            trims: malloc.trims(),
            pagesReturned: malloc.pagesReturned(),
            ...(mallocHeap === undefined ? {} : { heap: mallocHeap }),
          },
          heapGrowthPercent: config.heapGrowthPercent ?? heapGrowthPercentDefault,
          v8PoolSize,
          v8Pretenuring,
          // The node holds nothing before this snapshot (decision 0027).
          ...(joined === undefined
            ? {}
            : {
                joinedFromSnapshot: {
                  seqno: joined.snapshotSeqno,
                  peer: joined.peer,
                  at: joined.joinedAt,
                },
              }),
        };
      },
      tls: {
        cert: await readFile(config.tls.certFile, 'utf8'),
        key: await readFile(config.tls.keyFile, 'utf8'),
      },
      logger,
      nodeId: config.nodeId,
      ...(etcdLog === undefined ? {} : { orderingStatus: etcdLog.status }),
      peers: () => peerWatch?.peers() ?? [],
      peerRoots: () => peerWatch,
      ...(servedLog === undefined
        ? {}
        : {
            snapshotsDir: path.join(config.dataDir, 'snapshots'),
            catchUp: (fromPosition, treeSize, asked) =>
              serveCatchUp(engine, servedLog, fromPosition, treeSize, asked),
          }),
      // Ethereum transactions are relayed in requests this node signs (decision 0025).
      evm: evmNodeOf(engine, clientIdentity(config.identity.mspId, certPem), {
        signMessage: (message) => signing.sign(message),
      }),
    });
  } catch (error) {
    await engine.stop();
    malloc.stop();
    await verifyPool?.close();
    throw error;
  }
  const url = await api.listen(config.listen.host, config.listen.port);
  let consoleUrl: string | undefined;
  try {
    if (config.console !== undefined) {
      consoleUrl = await api.listenConsole(config.console.host, config.console.port);
    }
  } catch (error) {
    await api.close();
    await engine.stop();
    malloc.stop();
    await verifyPool?.close();
    throw error;
  }
  // Peers' servers chain to a TLS CA of the consortium in force (or of the node config's file).
  const trust = (): string[] => [...staticCas, ...clientTrustOf(running.consortium().msps)];
  // To the peer watch the node is a TLS client; to catch-up, a peer identity of its MSP (peers
  // serve catch-up to node identities only, and its TLS server certificate no MSP issued).
  const tlsAgent = peerAgent(
    {
      cert: await readFile(config.tls.certFile, 'utf8'),
      key: await readFile(config.tls.keyFile, 'utf8'),
    },
    trust,
  );
  const mspAgent = peerAgent({ cert: certPem, key: keyPem }, trust);
  const peers = (): readonly PeerConfig[] =>
    peersOf(config, governed === undefined ? undefined : admissions(running)?.nodes);
  const countingPeers = (): readonly PeerConfig[] => {
    const nodes = admissions(running)?.nodes;
    return peers().filter(
      (peer) => governed === undefined || nodes?.[peer.nodeId]?.status !== 'retired',
    );
  };
  if (governed !== undefined || (config.peers ?? []).length > 0) {
    const watch = startPeerWatch({
      ...countsOption,
      engine,
      peers,
      msps: () => running.consortium().msps,
      agent: tlsAgent.agent,
      logger,
    });
    peerWatch = watch;
    if (servedLog !== undefined) {
      catchUp = startCatchUp({
        engine,
        log: servedLog,
        peers: countingPeers,
        msps: () => running.consortium().msps,
        agent: mspAgent.agent,
        logger,
        rootsAt: watch.rootsAt,
      });
    }
  }
  networkSize = () => countingPeers().length + 1;
  // The configuration in force changes trust (TLS CAs) and, while not admitted, whether this
  // node still has to ask to join.
  const sendJoin = governed === undefined ? undefined : joinRequester(running, logger);
  const housekeepingRound = async (): Promise<void> => {
    api.refreshTrust();
    if (
      sendJoin !== undefined &&
      !admissionOf(admissions(running), config.nodeId, attestation.codeId).admitted
    ) {
      await sendJoin({
        nodeId: config.nodeId,
        attestation,
        url: config.advertiseUrl ?? url,
        peer: { mspId: config.identity.mspId, certPem, keyPem },
      });
    }
  };
  const housekeepingFailed = (error: unknown): void => {
    logger.warn({ error: String(error) }, 'housekeeping round failed');
  };
  await housekeepingRound().catch(housekeepingFailed);
  const housekeeping = every(housekeepingIntervalMs, housekeepingRound, housekeepingFailed);
  // Custody webhooks (README "Custody API"): events from committed state, through an outbox.
  const webhooks =
    webhookEndpoints.length === 0
      ? undefined
      : await startWebhookDispatcher({
          dataDir: config.dataDir,
          endpoints: webhookEndpoints,
          ...webhookSourceOf(engine),
          logger,
        });
  logger.info({ url, nodeId: config.nodeId }, `node ${config.nodeId} listening on ${url}`);
  if (consoleUrl !== undefined) {
    logger.info({ consoleUrl }, `node ${config.nodeId} serves its web console at ${consoleUrl}`);
  }
  return {
    url,
    ...(consoleUrl === undefined ? {} : { consoleUrl }),
    engine,
    stop: async () => {
      housekeeping.stop();
      await webhooks?.stop();
      peerWatch?.stop();
      catchUp?.stop();
      tlsAgent.destroy();
      mspAgent.destroy();
      await api.close();
      await engine.stop();
      malloc.stop();
      await verifyPool?.close();
    },
  };
}

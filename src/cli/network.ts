// `coffer network up|down|status`: a local consortium of N organisations, each with its own etcd
// member and Coffer node as separate processes on loopback (decision 0012). `up` starts a
// detached supervisor (`coffer network supervise`) that owns every process, waits until the
// network is ready and prints the endpoints; `down` stops the supervisor, which stops the
// nodes, then etcd. Nothing is left running: a supervisor that dies takes its children along.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { appendFile, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { cofferError } from '../errors/index.js';
import { createLedgerSecretFile } from '../ledger/secret.js';
import {
  durablePublishIntervalMs,
  findEtcdBinary,
  freePort,
  launchEtcdCluster,
  retentionIntervalMs,
  retentionWindowMs,
  type EtcdCluster,
} from '../ordering/index.js';
import {
  nodeConfigDefaults,
  processAlive,
  verifyThreadsDefault,
  type NodeConfig,
} from '../node/index.js';
import type { Command, CommandIo } from './main.js';
import type { ClientProfile } from './profile.js';
import { buildGenesis, networkInit } from './genesis.js';
import { ensureConsortiumCrypto, exists, organisationsCryptoConfig } from './up.js';
import { generateCryptoMaterial } from '../msp/cryptogen/index.js';

export const networkNodesMax = 7;
export const networkNodesDefault = 3;
/** How long `up` waits for the supervisor to report the network ready. */
export const networkStartTimeoutMs = 120_000;
/** How long `down` waits for the supervisor to stop everything before killing what is left. */
export const networkStopTimeoutMs = 30_000;
/** An etcd member found dead is started again after this long. */
export const etcdRestartDelayMs = 5000;
/** Shortest --retention-window-ms: live nodes publish their position 4 times per window. */
export const retentionWindowMsMin = 4 * durablePublishIntervalMs;
/** Key prefix of the network's batches in etcd. */
export const networkEtcdPrefix = '/coffer/network';

const networkUsage = `Usage: coffer network init --msp-dir DIR=MSPID... --node NODEID=MSPID[@URL]... [--out FILE]
       coffer network up   [--nodes N] [--dir DIR] [--json] [--log-level L]
                            [--retention-window-ms MS]
       coffer network add-org [--dir DIR] [--json]
       coffer network down [--dir DIR]
       coffer network status [--dir DIR]

up     creates (once) N organisations (default: those DIR holds, else ${networkNodesDefault}; at most
       ${networkNodesMax}) in DIR (default ./.coffer-network), then runs one etcd member and one
       Coffer node per organisation as separate processes on 127.0.0.1, in the background;
       prints the endpoints and the client profiles (DIR/client-orgI.json for User1,
       DIR/admin-orgI.json for the organisation's admin). Logs are in DIR/logs/.
       --retention-window-ms: a node away longer than this stops holding etcd's history back
       and catches up from a peer when it returns (default ${retentionWindowMs}).
add-org  makes a new organisation's crypto material, adds its TLS CA to the bundle etcd
       trusts (restarting members one at a time), adds its etcd member to the running cluster
       and starts its node, which follows the log and asks to join; prints the governance
       commands with which the members accept the organisation and admit its node.
down   stops the nodes, then etcd (the data stays in DIR; the next up continues it).
status prints DIR/network.json: processes, endpoints and whether the supervisor runs.
init   writes a genesis configuration (up writes DIR/genesis.json itself when it has none).`;

const binCoffer = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/coffer');

type NetworkNode = {
  readonly nodeId: string;
  readonly mspId: string;
  readonly url: string;
  /** The node's web console (its console listener). */
  readonly console?: string;
  readonly pid: number | undefined;
  readonly config: string;
  readonly profile: string;
  readonly log: string;
};

export type NetworkFile = {
  readonly status: 'starting' | 'ready' | 'stopping' | 'stopped' | 'failed';
  readonly supervisorPid: number;
  readonly error?: string;
  readonly etcd: readonly {
    readonly name: string;
    readonly clientUrl: string;
    readonly pid?: number;
  }[];
  readonly nodes: readonly NetworkNode[];
};

function parse(args: readonly string[], options: NonNullable<ParseArgsConfig['options']>) {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: false });
  } catch (error) {
    throw cofferError('CLI_E_USAGE', `${(error as Error).message}\n\n${networkUsage}`);
  }
}

async function readNetworkFile(dir: string): Promise<NetworkFile | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dir, 'network.json'), 'utf8')) as NetworkFile;
  } catch {
    return undefined;
  }
}

const networkFileWrites = new Map<string, Promise<void>>();

/**
 * Writes DIR/network.json whole and renames it into place, so that a reader (`coffer network
 * status`, tests polling it while the supervisor restarts a process) never finds it missing or
 * cut. Writes to one folder go one at a time, in call order: the last call's file stays.
 */
export function writeNetworkFile(dir: string, file: NetworkFile): Promise<void> {
  const target = path.join(dir, 'network.json');
  const text = `${JSON.stringify(file, null, 2)}\n`;
  const previous = networkFileWrites.get(target) ?? Promise.resolve();
  const written = previous
    .catch(() => undefined) // that write's caller was told
    .then(async () => {
      await writeFile(`${target}.tmp`, text);
      await rename(`${target}.tmp`, target);
    });
  networkFileWrites.set(target, written);
  const forget = (): void => {
    if (networkFileWrites.get(target) === written) networkFileWrites.delete(target);
  };
  written.then(forget, forget);
  return written;
}

type Org = {
  readonly index: number;
  readonly mspId: string;
  readonly domain: string;
  readonly orgDir: string;
  readonly peerDir: string;
  readonly userDir: string;
};

function orgsOf(dir: string, count: number): Org[] {
  return Array.from({ length: count }, (_, i) => {
    const index = i + 1;
    const domain = `org${index}.coffer.local`;
    const orgDir = path.join(dir, 'crypto', 'peerOrganizations', domain);
    return {
      index,
      mspId: `Org${index}MSP`,
      domain,
      orgDir,
      peerDir: path.join(orgDir, 'peers', `peer0.${domain}`),
      userDir: path.join(orgDir, 'users', `User1@${domain}`),
    };
  });
}

// ---- up -----------------------------------------------------------------------------------

async function up(args: readonly string[], io: CommandIo): Promise<number> {
  const { values } = parse(args, {
    nodes: { type: 'string' },
    dir: { type: 'string', default: '.coffer-network' },
    json: { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'info' },
    'retention-window-ms': { type: 'string', default: String(retentionWindowMs) },
    help: { type: 'boolean', default: false },
  });
  if (values['help'] === true) {
    io.stdout(networkUsage);
    return 0;
  }
  const dir = path.resolve(String(values['dir']));
  // Default: the organisations DIR holds already (add-org may have added some), else 3.
  const held = await readdir(path.join(dir, 'crypto', 'peerOrganizations')).then(
    (entries) => entries.length,
    () => undefined,
  );
  const nodes = Number(values['nodes'] ?? held ?? networkNodesDefault);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > networkNodesMax) {
    throw cofferError('CLI_E_USAGE', `--nodes must be an integer from 1 to ${networkNodesMax}`);
  }
  const window = Number(values['retention-window-ms']);
  if (!Number.isSafeInteger(window) || window < retentionWindowMsMin) {
    throw cofferError(
      'CLI_E_USAGE',
      `--retention-window-ms must be an integer of at least ${retentionWindowMsMin}`,
    );
  }
  findEtcdBinary(); // says exactly how to install etcd when it is missing
  const running = await readNetworkFile(dir);
  if (running !== undefined && processAlive(running.supervisorPid)) {
    throw cofferError(
      'NETWORK_E_RUNNING',
      `a network already runs from ${dir} (supervisor pid ${running.supervisorPid})`,
      { dir, pid: running.supervisorPid },
    );
  }
  await mkdir(path.join(dir, 'logs'), { recursive: true });
  const cryptoDir = await ensureConsortiumCrypto(dir, nodes, io, localSans);
  const existing = (await readdir(path.join(cryptoDir, 'peerOrganizations'))).length;
  if (existing !== nodes) {
    throw cofferError(
      'CLI_E_USAGE',
      `${dir} holds a network of ${existing} organisations; use --nodes ${existing} or another --dir`,
    );
  }
  await rm(path.join(dir, 'network.json'), { force: true });
  const logFile = path.join(dir, 'logs', 'supervisor.log');
  const out = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      process.execPath,
      [
        binCoffer,
        'network',
        'supervise',
        '--dir',
        dir,
        '--nodes',
        String(nodes),
        '--log-level',
        String(values['log-level']),
        '--retention-window-ms',
        String(window),
      ],
      { detached: true, stdio: ['ignore', out, out] },
    );
  } finally {
    closeSync(out);
  }
  child.unref();
  const deadline = Date.now() + networkStartTimeoutMs;
  for (;;) {
    const file = await readNetworkFile(dir);
    if (file?.status === 'ready') {
      printNetwork(io, dir, file, values['json'] === true);
      return 0;
    }
    const exited = child.exitCode !== null || child.signalCode !== null || !processAlive(child.pid);
    if (file?.status === 'failed' || exited || Date.now() > deadline) {
      if (!exited) child.kill('SIGTERM');
      const tail = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-15);
      throw cofferError(
        'NETWORK_E_START_FAILED',
        `the network did not start${file?.error === undefined ? '' : `: ${file.error}`}; ` +
          `last lines of ${logFile}:\n${tail.join('\n')}`,
        { dir, log: logFile },
      );
    }
    await sleep(200);
  }
}

function printNetwork(io: CommandIo, dir: string, file: NetworkFile, json: boolean): void {
  if (json) {
    io.stdout(JSON.stringify({ event: 'ready', dir, ...file }));
    return;
  }
  const lines = [`Coffer network in ${dir} is up (supervisor pid ${file.supervisorPid})`];
  for (const node of file.nodes) {
    lines.push(`  ${node.nodeId} (${node.mspId}): ${node.url}  profile ${node.profile}`);
    if (node.console !== undefined) lines.push(`    web console: ${node.console}`);
  }
  lines.push(`  etcd: ${file.etcd.map((member) => member.clientUrl).join(', ')}`);
  lines.push(
    `  try: bin/coffer tx kv put --profile ${file.nodes[0]?.profile ?? ''} --args '{"map":"public:kv.demo","key":"k","value":"v"}' --wait`,
    `  stop: bin/coffer network down --dir ${dir}`,
  );
  io.stdout(lines.join('\n'));
}

// ---- down and status ------------------------------------------------------------------------

/** `--dir` and the network started from it (undefined: --help was asked and answered). */
async function startedNetwork(
  args: readonly string[],
  io: CommandIo,
): Promise<{ readonly dir: string; readonly file: NetworkFile } | undefined> {
  const { values } = parse(args, {
    dir: { type: 'string', default: '.coffer-network' },
    help: { type: 'boolean', default: false },
  });
  if (values['help'] === true) {
    io.stdout(networkUsage);
    return undefined;
  }
  const dir = path.resolve(String(values['dir']));
  const file = await readNetworkFile(dir);
  if (file === undefined) {
    throw cofferError('NETWORK_E_NOT_RUNNING', `no network was started from ${dir}`, { dir });
  }
  return { dir, file };
}

async function down(args: readonly string[], io: CommandIo): Promise<number> {
  const started = await startedNetwork(args, io);
  if (started === undefined) return 0;
  const { dir, file } = started;
  if (processAlive(file.supervisorPid)) process.kill(file.supervisorPid, 'SIGTERM');
  const deadline = Date.now() + networkStopTimeoutMs;
  while (processAlive(file.supervisorPid) && Date.now() < deadline) await sleep(100);
  // Whatever is still there (a supervisor killed -9, say) is killed: nothing is left running.
  const leftovers = [
    file.supervisorPid,
    ...file.nodes.map((node) => node.pid),
    ...file.etcd.map((member) => member.pid),
  ].filter((pid): pid is number => pid !== undefined && processAlive(pid));
  for (const pid of leftovers) process.kill(pid, 'SIGKILL');
  io.stdout(
    leftovers.length === 0
      ? `network in ${dir} stopped`
      : `network in ${dir} stopped (killed ${leftovers.length} process(es) that did not stop in time)`,
  );
  return 0;
}

async function status(args: readonly string[], io: CommandIo): Promise<number> {
  const started = await startedNetwork(args, io);
  if (started === undefined) return 0;
  const { file } = started;
  io.stdout(
    JSON.stringify({
      ...file,
      supervisorRunning: processAlive(file.supervisorPid),
      nodes: file.nodes.map((node) => ({ ...node, running: processAlive(node.pid) })),
      etcd: file.etcd.map((member) => ({ ...member, running: processAlive(member.pid) })),
    }),
  );
  return 0;
}

// ---- supervise (the detached process `up` starts) -------------------------------------------

type Started = { readonly child: ChildProcess; readonly url: string };

/** `coffer node start --config FILE`; resolves with its URL once it listens. */
function startNodeProcess(config: string, log: string, logLevel: string): Promise<Started> {
  const out = openSync(log, 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      process.execPath,
      [binCoffer, 'node', 'start', '--config', config, '--log-level', logLevel],
      { stdio: ['ignore', 'pipe', out] },
    );
  } finally {
    closeSync(out);
  }
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => {
      reject(new Error(`node ${config} did not start within ${networkStartTimeoutMs} ms`));
    }, networkStartTimeoutMs);
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      buffered += chunk;
      const match = /listening on (https:\/\/\S+)/.exec(buffered);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve({ child, url: match[1] });
      }
      if (buffered.length > 64 * 1024) buffered = buffered.slice(-1024);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`node ${config} exited (${String(code ?? signal)}) before listening`));
    });
  });
}

async function stopChild(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGINT');
  if (await Promise.race([exited.then(() => true), sleep(ms).then(() => false)])) return;
  child.kill('SIGKILL');
  await exited;
}

/** Files the supervisor reads and writes for `add-org` (it owns every process). */
const addOrgRequestFile = (dir: string): string => path.join(dir, 'requests', 'add-org.json');
const addOrgResultFile = (dir: string): string => path.join(dir, 'requests', 'add-org.result.json');

type AddOrgResult =
  | { readonly ok: true; readonly mspId: string; readonly node: NetworkNode; readonly etcd: string }
  | { readonly ok: false; readonly error: string };

/** Organisation `index`'s crypto material (its own CAs), beside the others' in DIR/crypto. */
async function generateOrganisation(dir: string, index: number): Promise<void> {
  const staging = path.join(dir, 'requests', `crypto-org${String(index)}`);
  await rm(staging, { recursive: true, force: true });
  await generateCryptoMaterial({
    config: organisationsCryptoConfig(index, index, localSans),
    outputDir: staging,
  });
  const domain = `org${String(index)}.coffer.local`;
  await rename(
    path.join(staging, 'peerOrganizations', domain),
    path.join(dir, 'crypto', 'peerOrganizations', domain),
  );
  await rm(staging, { recursive: true, force: true });
}

/** DIR/etcd/ports.json: each member's ports, kept across restarts. */
type EtcdPorts = Record<string, { readonly clientPort: number; readonly peerPort: number }>;
const etcdPortsFile = (dir: string): string => path.join(dir, 'etcd', 'ports.json');

async function readEtcdPorts(dir: string): Promise<EtcdPorts> {
  try {
    return JSON.parse(await readFile(etcdPortsFile(dir), 'utf8')) as EtcdPorts;
  } catch {
    return {};
  }
}

/** Records the members' ports: a member's data folder is only valid at the same peer URL. */
async function writeEtcdPorts(dir: string, current: EtcdCluster): Promise<void> {
  const portOf = (url: string): number => Number(new URL(url).port);
  const ports: EtcdPorts = Object.fromEntries(
    current.members.map((member) => [
      member.name,
      { clientPort: portOf(member.clientUrl), peerPort: portOf(member.peerUrl) },
    ]),
  );
  await writeFile(etcdPortsFile(dir), `${JSON.stringify(ports, null, 2)}\n`);
}

/** etcd and the nodes are reached at 127.0.0.1: their TLS certificates name it. */
const localSans = ['127.0.0.1', 'localhost'] as const;

async function supervise(args: readonly string[]): Promise<number> {
  const { values } = parse(args, {
    dir: { type: 'string' },
    nodes: { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
    'retention-window-ms': { type: 'string', default: String(retentionWindowMs) },
  });
  const dir = path.resolve(String(values['dir']));
  const count = Number(values['nodes']);
  const window = Number(values['retention-window-ms']);
  const logLevel = String(values['log-level']);
  const orgs = orgsOf(dir, count);
  const children: ChildProcess[] = [];
  let cluster: EtcdCluster | undefined;
  let stopping = false;
  // A function, so that checks after an await re-read the flag (no stale narrowing).
  const stoppingNow = (): boolean => stopping;
  const base = { supervisorPid: process.pid, etcd: [], nodes: [] } as const;
  const caFile = path.join(dir, 'tls-ca-bundle.pem');
  const ledgerSecretFile = path.join(dir, 'ledger.secret');
  const genesisFile = path.join(dir, 'genesis.json');
  const nodes: NetworkNode[] = [];
  const ports = new Map<number, number>();
  let members: NetworkFile['etcd'] = [];

  const stopAll = async (): Promise<void> => {
    await Promise.all(children.map((child) => stopChild(child, 10_000)));
    await cluster?.stopAll();
  };
  const stopRequested = new Promise<void>((resolve) => {
    const onSignal = (): void => {
      stopping = true;
      resolve();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  const etcdMembers = (current: EtcdCluster): NetworkFile['etcd'] =>
    current.members.map((member) => {
      const pid = current.pid(member.name);
      return pid === undefined
        ? { name: member.name, clientUrl: member.clientUrl }
        : { name: member.name, clientUrl: member.clientUrl, pid };
    });
  const writeReady = (): Promise<void> =>
    writeNetworkFile(dir, { supervisorPid: process.pid, status: 'ready', etcd: members, nodes });

  /** The node's previous config (a restart keeps its ports), if any. */
  const previousConfig = (org: Org): Promise<NodeConfig | undefined> =>
    readFile(path.join(dir, 'nodes', `org${String(org.index)}-peer0`, 'node.json'), 'utf8')
      .then((text) => JSON.parse(text) as NodeConfig)
      .catch(() => undefined);
  /** The same port across restarts (profiles stay valid), else a free one. */
  const portOf = async (org: Org): Promise<number> =>
    (await previousConfig(org))?.listen.port ?? (await freePort());
  /** The web console's port (decision 0026), likewise kept across restarts. */
  const consolePortOf = async (org: Org): Promise<number> =>
    (await previousConfig(org))?.console?.port ?? (await freePort());
  const urlOf = (index: number): string => `https://127.0.0.1:${String(ports.get(index) ?? 0)}`;

  /** Writes org's node config (its peers: every other organisation's node) and starts it. */
  const launchNode = async (org: Org, current: EtcdCluster, all: readonly Org[]) => {
    const nodeId = `org${String(org.index)}-peer0`;
    const nodeDir = path.join(dir, 'nodes', nodeId);
    await mkdir(nodeDir, { recursive: true });
    const configFile = path.join(nodeDir, 'node.json');
    const config: NodeConfig = {
      ...nodeConfigDefaults,
      nodeId,
      dataDir: path.join(nodeDir, 'data'),
      listen: { host: '127.0.0.1', port: ports.get(org.index) ?? 0 },
      console: { host: '127.0.0.1', port: await consolePortOf(org) },
      tls: {
        certFile: path.join(org.peerDir, 'tls', 'server.crt'),
        keyFile: path.join(org.peerDir, 'tls', 'server.key'),
      },
      identity: { mspId: org.mspId, mspDir: path.join(org.peerDir, 'msp') },
      consortium: all.map((member) => ({
        mspId: member.mspId,
        mspDir: path.join(member.orgDir, 'msp'),
      })),
      // Every node verifies every signature on this machine: one thread each.
      verifyThreads: Math.max(1, Math.floor(verifyThreadsDefault() / all.length)),
      ledgerSecretFile,
      genesisFile,
      // Peers compare signed roots with this node (divergence detection).
      peers: all
        .filter((other) => other.index !== org.index)
        .map((other) => ({ nodeId: `org${String(other.index)}-peer0`, url: urlOf(other.index) })),
      tlsCaFile: caFile,
      ordering: {
        kind: 'etcd',
        endpoints: current.endpoints,
        prefix: networkEtcdPrefix,
        caFile,
        certFile: path.join(org.peerDir, 'tls', 'server.crt'),
        keyFile: path.join(org.peerDir, 'tls', 'server.key'),
        ...(window === retentionWindowMs
          ? {}
          : {
              limits: {
                retentionWindowMs: window,
                retentionIntervalMs: Math.min(retentionIntervalMs, Math.floor(window / 4)),
              },
            }),
      },
    };
    await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`);
    const log = path.join(dir, 'logs', `${nodeId}.log`);
    const started = await startNodeProcess(configFile, log, logLevel);
    children.push(started.child);
    const profileFile = path.join(dir, `client-org${String(org.index)}.json`);
    await writeProfile(profileFile, org, started.url, 'User1');
    await writeProfile(
      path.join(dir, `admin-org${String(org.index)}.json`),
      org,
      started.url,
      'Admin',
    );
    started.child.once('exit', (code, signal) => {
      if (!stopping) process.stderr.write(`node ${nodeId} exited (${String(code ?? signal)})\n`);
    });
    return {
      nodeId,
      mspId: org.mspId,
      url: started.url,
      ...(config.console === undefined
        ? {}
        : { console: `https://127.0.0.1:${String(config.console.port)}/console/` }),
      pid: started.child.pid,
      config: configFile,
      profile: profileFile,
      log,
    } satisfies NetworkNode;
  };

  /**
   * `coffer network add-org`: a new organisation's processes join the running network. Its
   * crypto material, its TLS CA in the bundle etcd reads (members restarted one at a time),
   * its etcd member (etcd's runtime reconfiguration), and its node, which follows the log and
   * asks to join. Whether the consortium accepts it is the members' vote (the result says how).
   */
  const addOrg = async (current: EtcdCluster): Promise<AddOrgResult> => {
    const index = orgs.length + 1;
    if (index > networkNodesMax) {
      return {
        ok: false,
        error: `a local network has at most ${String(networkNodesMax)} organisations`,
      };
    }
    await generateOrganisation(dir, index);
    const [org] = orgsOf(dir, index).slice(-1);
    if (org === undefined) throw new Error('no organisation made');
    const ca = await readFile(path.join(org.peerDir, 'tls', 'ca.crt'), 'utf8');
    await appendFile(caFile, `${ca.trim()}\n`);
    await current.reloadCa();
    const member = await current.addMember({
      name: `etcd-org${String(index)}`,
      certFile: path.join(org.peerDir, 'tls', 'server.crt'),
      keyFile: path.join(org.peerDir, 'tls', 'server.key'),
    });
    await writeEtcdPorts(dir, current);
    orgs.push(org);
    members = etcdMembers(current);
    ports.set(index, await portOf(org));
    const node = await launchNode(org, current, orgs);
    nodes.push(node);
    await writeReady();
    return { ok: true, mspId: org.mspId, node, etcd: member.name };
  };

  try {
    await writeNetworkFile(dir, { ...base, status: 'starting' });
    const cas = await Promise.all(
      orgs.map((org) => readFile(path.join(org.peerDir, 'tls', 'ca.crt'), 'utf8')),
    );
    await writeFile(caFile, cas.map((pem) => pem.trim()).join('\n') + '\n');
    // One ledger secret for the network: every node encrypts private writes alike, so their
    // entries and Merkle roots agree (decision 0012).
    if (!(await exists(ledgerSecretFile))) await createLedgerSecretFile(ledgerSecretFile);
    for (const org of orgs) ports.set(org.index, await portOf(org));
    // The consortium's configuration lives in the ledger from this genesis on (issue 6): every
    // organisation is a member, every node admitted with the code this build runs, at the
    // address its peers reach it.
    if (!(await exists(genesisFile))) {
      const genesis = await buildGenesis({
        msps: orgs.map((org) => ({ dir: path.join(org.orgDir, 'msp'), mspId: org.mspId })),
        nodes: orgs.map((org) => ({
          nodeId: `org${String(org.index)}-peer0`,
          mspId: org.mspId,
          url: urlOf(org.index),
        })),
      });
      await writeFile(genesisFile, `${JSON.stringify(genesis, null, 2)}\n`);
    }
    // The same ports as last time: etcd knows its members by their peer URLs.
    const etcdPorts = await readEtcdPorts(dir);
    const launched = await launchEtcdCluster({
      dir: path.join(dir, 'etcd'),
      caFile,
      members: orgs.map((org) => {
        const name = `etcd-org${String(org.index)}`;
        return {
          name,
          certFile: path.join(org.peerDir, 'tls', 'server.crt'),
          keyFile: path.join(org.peerDir, 'tls', 'server.key'),
          ...etcdPorts[name],
        };
      }),
    });
    cluster = launched;
    await writeEtcdPorts(dir, launched);
    members = etcdMembers(launched);
    for (const org of orgs) nodes.push(await launchNode(org, launched, orgs));
    await writeReady();
    process.stderr.write(`network ready: ${nodes.map((node) => node.url).join(', ')}\n`);
    // One job at a time: the etcd watchdog and add-org both change the cluster.
    let busy = false;
    const exclusive = (job: () => Promise<void>): void => {
      if (busy || stoppingNow()) return;
      busy = true;
      void job().finally(() => {
        busy = false;
      });
    };
    // An etcd member that dies is started again after etcdRestartDelayMs (its data folder and
    // ports are its own); meanwhile its node orders through the other members, or says why not.
    const deadSince = new Map<string, number>();
    const watchdog = setInterval(() => {
      exclusive(async () => {
        // `coffer network add-org` leaves a request file; the supervisor owns the processes.
        if (await exists(addOrgRequestFile(dir))) {
          let result: AddOrgResult;
          try {
            result = await addOrg(launched);
          } catch (error) {
            result = { ok: false, error: String(error) };
          }
          await rm(addOrgRequestFile(dir), { force: true });
          await writeFile(addOrgResultFile(dir), `${JSON.stringify(result, null, 2)}\n`);
          return;
        }
        for (const member of launched.members) {
          if (launched.isRunning(member.name)) {
            deadSince.delete(member.name);
            continue;
          }
          const since = deadSince.get(member.name) ?? Date.now();
          deadSince.set(member.name, since);
          if (Date.now() - since < etcdRestartDelayMs || stoppingNow()) continue;
          process.stderr.write(`etcd member ${member.name} is down: starting it again\n`);
          try {
            await launched.start(member.name);
            deadSince.delete(member.name);
          } catch (error) {
            process.stderr.write(`etcd member ${member.name} did not start: ${String(error)}\n`);
          }
        }
        members = etcdMembers(launched);
        if (!stoppingNow()) await writeReady();
      });
    }, 1000);
    await stopRequested;
    clearInterval(watchdog);
    await writeNetworkFile(dir, {
      supervisorPid: process.pid,
      status: 'stopping',
      etcd: members,
      nodes,
    });
    await stopAll();
    await writeNetworkFile(dir, {
      supervisorPid: process.pid,
      status: 'stopped',
      etcd: members,
      nodes,
    });
    return 0;
  } catch (error) {
    process.stderr.write(`network failed: ${String(error)}\n`);
    await stopAll().catch(() => undefined);
    await writeNetworkFile(dir, { ...base, status: 'failed', error: String(error) }).catch(
      () => undefined,
    );
    return 1;
  }
}

/** A client profile for org's User1 or Admin, at the node's URL. */
async function writeProfile(
  file: string,
  org: Org,
  url: string,
  user: 'User1' | 'Admin',
): Promise<void> {
  const userDir = path.join(org.orgDir, 'users', `${user}@${org.domain}`);
  const keystore = path.join(userDir, 'msp', 'keystore');
  const [keyFile] = (await readdir(keystore)).sort();
  const profile: ClientProfile = {
    url,
    servername: `peer0.${org.domain}`,
    caFile: path.join(org.peerDir, 'tls', 'ca.crt'),
    tlsCertFile: path.join(userDir, 'msp', 'signcerts', `${user}@${org.domain}-cert.pem`),
    tlsKeyFile: path.join(keystore, keyFile ?? 'priv_sk'),
    mspId: org.mspId,
    mspDir: path.join(userDir, 'msp'),
  };
  await writeFile(file, `${JSON.stringify(profile, null, 2)}\n`);
}

// ---- add-org --------------------------------------------------------------------------------

/** How long `add-org` waits for the supervisor (CA reload, etcd member, node start). */
export const networkAddOrgTimeoutMs = 180_000;

async function addOrgCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const { values } = parse(args, {
    dir: { type: 'string', default: '.coffer-network' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  });
  if (values['help'] === true) {
    io.stdout(networkUsage);
    return 0;
  }
  const dir = path.resolve(String(values['dir']));
  const file = await readNetworkFile(dir);
  if (file === undefined || !processAlive(file.supervisorPid) || file.status !== 'ready') {
    throw cofferError(
      'NETWORK_E_NOT_RUNNING',
      `no running network in ${dir}; start it with coffer network up --dir ${dir}`,
      { dir },
    );
  }
  await mkdir(path.dirname(addOrgRequestFile(dir)), { recursive: true });
  await rm(addOrgResultFile(dir), { force: true });
  await writeFile(addOrgRequestFile(dir), `${JSON.stringify({ requestedAt: Date.now() })}\n`);
  const deadline = Date.now() + networkAddOrgTimeoutMs;
  let result: AddOrgResult | undefined;
  while (result === undefined) {
    if (Date.now() > deadline || !processAlive(file.supervisorPid)) {
      throw cofferError(
        'NETWORK_E_START_FAILED',
        `the supervisor did not add the organisation within ${String(networkAddOrgTimeoutMs)} ms; see ${path.join(dir, 'logs', 'supervisor.log')}`,
        { dir },
      );
    }
    await sleep(250);
    result = await readFile(addOrgResultFile(dir), 'utf8')
      .then((text) => JSON.parse(text) as AddOrgResult)
      .catch(() => undefined);
  }
  if (!result.ok) {
    throw cofferError('NETWORK_E_START_FAILED', `the organisation was not added: ${result.error}`, {
      dir,
    });
  }
  const index = /^org(\d+)-/.exec(result.node.nodeId)?.[1] ?? '?';
  const mspDir = path.join(dir, 'crypto', 'peerOrganizations', `org${index}.coffer.local`, 'msp');
  const steps = [
    `bin/coffer gov propose --set-msp ${result.mspId}=${mspDir} --add-member ${result.mspId} --profile ${path.join(dir, 'admin-org1.json')}`,
    `bin/coffer gov vote <proposal id> yes --profile ${path.join(dir, 'admin-org2.json')}   # until a majority`,
    `bin/coffer query gov joins --profile ${path.join(dir, 'admin-org1.json')}   # the node's join request: code id and URL`,
    `bin/coffer gov propose --admit-node ${result.node.nodeId}=${result.mspId}:<code id>@${result.node.url} --profile ${path.join(dir, 'admin-org1.json')}`,
  ];
  if (values['json'] === true) {
    io.stdout(JSON.stringify({ event: 'added', dir, ...result, steps }));
    return 0;
  }
  io.stdout(
    [
      `${result.mspId} joined the network's processes: etcd member ${result.etcd}, node ${result.node.nodeId} at ${result.node.url}`,
      `(profiles ${result.node.profile}, ${path.join(dir, `admin-org${index}.json`)}).`,
      'Its node follows the log and takes governance requests only until the consortium admits it:',
      ...steps.map((step) => `  ${step}`),
    ].join('\n'),
  );
  return 0;
}

/**
 * The detached supervisor's whole life. Every child is stopped when supervise returns: leave
 * without waiting for idle client channels and timers to wind down (`down` waits for this).
 */
async function superviseThenExit(args: readonly string[]): Promise<number> {
  process.exit(await supervise(args));
}

export const networkCommand: Command = async (args, io) => {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'init':
      return networkInit(rest, io);
    case 'up':
      return up(rest, io);
    case 'down':
      return down(rest, io);
    case 'status':
      return status(rest, io);
    case 'add-org':
      return addOrgCommand(rest, io);
    case 'supervise':
      return superviseThenExit(rest);
    case undefined:
    case 'help':
    case '--help':
      io.stdout(networkUsage);
      return sub === undefined ? 2 : 0;
    default:
      throw cofferError('CLI_E_USAGE', `unknown network command "${sub}"\n\n${networkUsage}`);
  }
};

// Starts an etcd cluster as real processes on one host (tests, `coffer network up`): one member
// per organisation, client and peer traffic over mutual TLS with the organisations' TLS
// certificates (decision 0011). The caller brings the certificates; this file only runs etcd.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { accessSync, constants as fsConstants, closeSync, openSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import process from 'node:process';
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { cofferError, type CofferError } from '../errors/index.js';
import type { OrderingLogger } from './embedded.js';
import { etcdMaxRequestBytes, etcdQuotaBackendBytes, etcdSnapshotCount } from './etcd-limits.js';

export type EtcdMemberSpec = {
  /** Member name (--name); also the name of its data folder and log file. */
  readonly name: string;
  /** PEM certificate for both the client and the peer port: IP SAN of the host, server and client auth. */
  readonly certFile: string;
  readonly keyFile: string;
  /**
   * Ports to listen on; default free ones. A member started again on an existing data folder
   * must keep its peer port: the cluster knows it by its peer URL.
   */
  readonly clientPort?: number;
  readonly peerPort?: number;
};

export type EtcdLaunchOptions = {
  /** Folder for data folders (`<name>.etcd`) and logs (`<name>.log`). */
  readonly dir: string;
  readonly members: readonly EtcdMemberSpec[];
  /** PEM bundle of every organisation's TLS CA: clients and peers must chain to one of them. */
  readonly caFile: string;
  /** Address the members listen on and advertise (default 127.0.0.1). */
  readonly host?: string;
  /** Path of the etcd binary (default: `etcd` on PATH, then /usr/bin/etcd). */
  readonly etcdBinary?: string;
  readonly maxRequestBytes?: number;
  readonly quotaBackendBytes?: number;
  readonly snapshotCount?: number;
  /** Raft timing (etcd defaults 100 and 1000 ms). */
  readonly heartbeatIntervalMs?: number;
  readonly electionTimeoutMs?: number;
  /** How long a start may take to become healthy (default 20 s). */
  readonly startTimeoutMs?: number;
  readonly logger?: OrderingLogger;
};

export type EtcdMemberInfo = {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
};

export type EtcdCluster = {
  /** Client URLs of all members (https://host:port). */
  readonly endpoints: readonly string[];
  readonly members: readonly EtcdMemberInfo[];
  readonly isRunning: (name: string) => boolean;
  readonly pid: (name: string) => number | undefined;
  /** Starts a stopped member again on its data folder and ports. */
  readonly start: (name: string) => Promise<void>;
  /** SIGTERM, then SIGKILL if it has not exited after 5 s. */
  readonly stop: (name: string) => Promise<void>;
  /** SIGKILL (kill -9); resolves once the process is gone. */
  readonly kill: (name: string) => Promise<void>;
  readonly restart: (name: string) => Promise<void>;
  /** SIGSTOP: the member keeps its sockets but answers nothing (a frozen host). */
  readonly pause: (name: string) => void;
  /** SIGCONT after pause. */
  readonly resume: (name: string) => void;
  /** Waits until every running member (or `names`) is up, has a leader and serves a quorum read. */
  readonly waitHealthy: (options?: {
    readonly timeoutMs?: number;
    readonly names?: readonly string[];
  }) => Promise<void>;
  /** Name of the current leader, as running members report it (undefined when none has one). */
  readonly leader: () => Promise<string | undefined>;
  /**
   * Adds a member to the running cluster (etcd's runtime reconfiguration: `member add`, then the
   * new member starts with --initial-cluster-state=existing) and waits until it is healthy.
   * The CA file must already trust its certificate, and the running members must have read
   * that file since (reloadCa).
   */
  readonly addMember: (spec: EtcdMemberSpec) => Promise<EtcdMemberInfo>;
  /**
   * Re-reads the CA file: restarts the members one at a time, each healthy again before the
   * next, so the cluster keeps its quorum (etcd reads its trusted CAs only at start).
   */
  readonly reloadCa: () => Promise<void>;
  /** Stops every member (SIGTERM, then SIGKILL); the cluster object is done afterwards. */
  readonly stopAll: () => Promise<void>;
};

/** What to run when etcd is missing (Debian/Ubuntu package names). */
export const etcdInstallHint =
  'install etcd: `apt-get install etcd-server` (and `etcd-client` for etcdctl) on Debian/Ubuntu, or put an etcd 3.4+ binary on PATH';

const stopGraceMs = 5_000;
const pollMs = 100;
const statusTimeoutMs = 1_000;

/**
 * Ports handed out for servers that listen later (etcd members, nodes): below Linux's default
 * ephemeral range (32768-60999), which outgoing connections and port-0 listeners draw from, so
 * that none of those takes the port between this check and the real listen.
 */
export const listenPortRange = { min: 20_000, max: 32_767 } as const;
/** Random ports tried in listenPortRange before falling back to one the system picks. */
const listenPortTries = 64;

/** Whether `port` can be listened on now (bound and released at once). */
function tryListen(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => {
      resolve(undefined);
    });
    server.listen({ host, port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(bound > 0 ? bound : undefined);
      });
    });
  });
}

/**
 * The latest ports freePort handed out in this process, at most this many. A port handed out is
 * free but not yet listened on: without this, two members of one cluster could draw the same
 * port (found in a CI run: etcd refused "initial cluster … has duplicate url").
 */
export const handedOutPortsMax = 1024;
const handedOut = new Set<number>();

function handOut(port: number): number {
  handedOut.add(port);
  if (handedOut.size > handedOutPortsMax) {
    const oldest = handedOut.values().next();
    if (oldest.done !== true) handedOut.delete(oldest.value);
  }
  return port;
}

/**
 * A port free now for a server that listens later (see listenPortRange), and not one this
 * process handed out lately (see handedOutPortsMax).
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < listenPortTries; attempt += 1) {
    const candidate = randomInt(listenPortRange.min, listenPortRange.max + 1);
    if (handedOut.has(candidate)) continue;
    const port = await tryListen(host, candidate);
    if (port !== undefined) return handOut(port);
  }
  for (let attempt = 0; attempt < listenPortTries; attempt += 1) {
    const port = await tryListen(host, 0);
    if (port !== undefined && !handedOut.has(port)) return handOut(port);
  }
  throw new Error(`no free port on ${host}`);
}

/** The etcd binary to run, or a launch error that says how to install it. */
export function findEtcdBinary(explicit?: string): string {
  const candidates =
    explicit === undefined
      ? [
          ...(process.env['PATH'] ?? '')
            .split(path.delimiter)
            .filter((dir) => dir !== '')
            .map((dir) => path.join(dir, 'etcd')),
          '/usr/bin/etcd',
        ]
      : [explicit];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw launchError(
    `etcd is not installed (looked for ${candidates.join(', ')}); ${etcdInstallHint}`,
    {
      looked: candidates,
    },
  );
}

type Member = EtcdMemberInfo & {
  readonly spec: EtcdMemberSpec;
  /** How it first starts: with the cluster ('new'), or added to a running one ('existing'). */
  readonly initialState: 'new' | 'existing';
  /** --initial-cluster for its first start (ignored once its data folder exists). */
  initialCluster: string;
  process: ChildProcess | undefined;
  exited: Promise<void> | undefined;
  paused: boolean;
};

/** Starts every member, waits until the cluster is healthy, and returns its handle. */
export async function launchEtcdCluster(options: EtcdLaunchOptions): Promise<EtcdCluster> {
  const binary = findEtcdBinary(options.etcdBinary);
  const host = options.host ?? '127.0.0.1';
  const startTimeoutMs = options.startTimeoutMs ?? 20_000;
  const names = new Set(options.members.map((member) => member.name));
  if (options.members.length === 0 || names.size !== options.members.length) {
    throw launchError('an etcd cluster needs at least one member and unique member names', {
      members: options.members.map((member) => member.name),
    });
  }
  for (const member of options.members) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(member.name)) {
      throw launchError(
        `etcd member name ${JSON.stringify(member.name)} must be 1-63 letters, digits, '.', '_' or '-'`,
        { name: member.name },
      );
    }
  }
  await mkdir(options.dir, { recursive: true });
  const members: Member[] = [];
  const memberOf = async (spec: EtcdMemberSpec, initialState: Member['initialState']) => {
    const clientPort = spec.clientPort ?? (await freePort(host));
    const peerPort = spec.peerPort ?? (await freePort(host));
    return {
      name: spec.name,
      spec,
      initialState,
      initialCluster: '',
      clientUrl: `https://${host}:${clientPort}`,
      peerUrl: `https://${host}:${peerPort}`,
      dataDir: path.join(options.dir, `${spec.name}.etcd`),
      logFile: path.join(options.dir, `${spec.name}.log`),
      process: undefined,
      exited: undefined,
      paused: false,
    } satisfies Member;
  };
  for (const spec of options.members) members.push(await memberOf(spec, 'new'));
  const clusterList = (): string =>
    members.map((member) => `${member.name}=${member.peerUrl}`).join(',');
  for (const member of members) member.initialCluster = clusterList();
  const token = `coffer-${randomBytes(6).toString('hex')}`;
  let caPem = await readFile(options.caFile);
  const clients = new Map<string, Etcd3>();

  const memberNamed = (name: string): Member => {
    const member = members.find((candidate) => candidate.name === name);
    if (member === undefined) {
      throw launchError(`no etcd member named ${name}`, { name });
    }
    return member;
  };

  const args = (member: Member): string[] => [
    `--name=${member.name}`,
    `--data-dir=${member.dataDir}`,
    `--listen-client-urls=${member.clientUrl}`,
    `--advertise-client-urls=${member.clientUrl}`,
    `--listen-peer-urls=${member.peerUrl}`,
    `--initial-advertise-peer-urls=${member.peerUrl}`,
    `--initial-cluster=${member.initialCluster}`,
    `--initial-cluster-state=${member.initialState}`,
    `--initial-cluster-token=${token}`,
    '--client-cert-auth',
    `--trusted-ca-file=${options.caFile}`,
    `--cert-file=${member.spec.certFile}`,
    `--key-file=${member.spec.keyFile}`,
    '--peer-client-cert-auth',
    `--peer-trusted-ca-file=${options.caFile}`,
    `--peer-cert-file=${member.spec.certFile}`,
    `--peer-key-file=${member.spec.keyFile}`,
    `--max-request-bytes=${options.maxRequestBytes ?? etcdMaxRequestBytes}`,
    `--quota-backend-bytes=${options.quotaBackendBytes ?? etcdQuotaBackendBytes}`,
    `--snapshot-count=${options.snapshotCount ?? etcdSnapshotCount}`,
    // Coffer compacts itself once every active node has mirrored (decision 0011).
    '--auto-compaction-retention=0',
    `--heartbeat-interval=${options.heartbeatIntervalMs ?? 100}`,
    `--election-timeout=${options.electionTimeoutMs ?? 1000}`,
    '--experimental-watch-progress-notify-interval=5s',
    '--logger=zap',
    '--log-outputs=stderr',
  ];

  const spawnMember = async (member: Member): Promise<void> => {
    if (member.process !== undefined) return;
    await mkdir(member.dataDir, { recursive: true, mode: 0o700 });
    const fd = openSync(member.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(binary, args(member), { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    member.process = child;
    member.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        if (member.process === child) member.process = undefined;
        options.logger?.info(
          { member: member.name, code, signal },
          `etcd member ${member.name} exited`,
        );
        resolve();
      });
      child.once('error', (error) => {
        if (member.process === child) member.process = undefined;
        options.logger?.error({ member: member.name, error: error.message }, 'etcd spawn failed');
        resolve();
      });
    });
  };

  const clientFor = async (member: Member): Promise<Etcd3> => {
    const existing = clients.get(member.name);
    if (existing !== undefined) return existing;
    const client = new Etcd3({
      hosts: [member.clientUrl],
      credentials: {
        rootCertificate: caPem,
        certChain: await readFile(member.spec.certFile),
        privateKey: await readFile(member.spec.keyFile),
      },
      dialTimeout: statusTimeoutMs,
      faultHandling: { global: noop, host: () => noop },
    });
    clients.set(member.name, client);
    return client;
  };

  /** undefined when healthy; otherwise why not. */
  const memberProblem = async (member: Member): Promise<string | undefined> => {
    if (member.process === undefined) return 'not running';
    if (member.paused) return 'paused (SIGSTOP)';
    try {
      const client = await clientFor(member);
      const deadline = () => ({ deadline: Date.now() + statusTimeoutMs });
      const status = await client.maintenance.status(deadline());
      if (status.leader === '0') return 'no leader';
      // A linearizable read needs the leader's confirmation (ReadIndex): the member is in a quorum.
      await client.kv.range({ key: Buffer.from('/coffer-launch-health') }, deadline());
      return undefined;
    } catch (error) {
      return messageOf(error);
    }
  };

  const waitHealthy = async (
    wait: { readonly timeoutMs?: number; readonly names?: readonly string[] } = {},
  ): Promise<void> => {
    const timeoutMs = wait.timeoutMs ?? startTimeoutMs;
    const targets =
      wait.names === undefined
        ? members.filter((member) => member.process !== undefined && !member.paused)
        : wait.names.map(memberNamed);
    const until = Date.now() + timeoutMs;
    let problems: string[] = [];
    for (;;) {
      problems = [];
      for (const member of targets) {
        const problem = await memberProblem(member);
        if (problem !== undefined) problems.push(`${member.name}: ${problem}`);
      }
      if (problems.length === 0) return;
      if (Date.now() >= until) break;
      await sleep(pollMs);
    }
    const tails = await Promise.all(targets.map((member) => logTail(member.logFile)));
    throw launchError(
      `etcd did not become healthy within ${timeoutMs} ms (${problems.join('; ')}); see the member logs: ${targets.map((member) => member.logFile).join(', ')}`,
      { problems, logTails: tails },
    );
  };

  const signal = async (name: string, how: NodeJS.Signals): Promise<void> => {
    const member = memberNamed(name);
    const child = member.process;
    if (child === undefined) return;
    const exited = member.exited;
    if (member.paused) {
      child.kill('SIGCONT'); // a stopped process would not act on SIGTERM
      member.paused = false;
    }
    child.kill(how);
    if (how === 'SIGTERM') {
      const timer = setTimeout(() => child.kill('SIGKILL'), stopGraceMs);
      await exited;
      clearTimeout(timer);
    } else {
      await exited;
    }
    // A client kept on a dead member would hold a broken channel: make a new one next time.
    const client = clients.get(name);
    clients.delete(name);
    client?.close();
  };

  const killAllNow = (): void => {
    for (const member of members) member.process?.kill('SIGKILL'); // works on stopped ones too
  };
  // Never leave etcd processes behind, even when the caller crashes before stopAll.
  process.once('exit', killAllNow);

  const leaderName = async (): Promise<string | undefined> => {
    const ids = new Map<string, string>();
    let leaderId: string | undefined;
    for (const member of members.filter((candidate) => candidate.process !== undefined)) {
      try {
        const client = await clientFor(member);
        const status = await client.maintenance.status({
          deadline: Date.now() + statusTimeoutMs,
        });
        ids.set(status.header.member_id, member.name);
        if (status.leader !== '0') leaderId = status.leader;
      } catch {
        // a member that does not answer is not the leader we can name
      }
    }
    return leaderId === undefined ? undefined : ids.get(leaderId);
  };

  const stopAll = async (): Promise<void> => {
    // Followers first, then the leader: a leader stopped while followers still run hands
    // leadership to one of them, which, stopping too, would try again and wait until SIGKILL;
    // a leader with no follower left skips the transfer.
    const leader = await leaderName().catch(() => undefined);
    await Promise.all(
      members
        .filter((member) => member.name !== leader)
        .map((member) => signal(member.name, 'SIGTERM')),
    );
    if (leader !== undefined) await signal(leader, 'SIGTERM');
    for (const client of clients.values()) client.close();
    clients.clear();
    process.removeListener('exit', killAllNow);
  };

  const infoOf = ({ name, clientUrl, peerUrl, dataDir, logFile }: Member): EtcdMemberInfo => ({
    name,
    clientUrl,
    peerUrl,
    dataDir,
    logFile,
  });

  const addMember = async (spec: EtcdMemberSpec): Promise<EtcdMemberInfo> => {
    if (members.some((member) => member.name === spec.name)) {
      throw launchError(`an etcd member named ${spec.name} exists already`, { name: spec.name });
    }
    const running = members.find((member) => member.process !== undefined && !member.paused);
    if (running === undefined) throw launchError('no etcd member runs to add a member through', {});
    const member = await memberOf(spec, 'existing');
    // etcd's strict reconfiguration check refuses `member add` ("unhealthy cluster") until
    // every member has been connected to the leader for 5 s, e.g. just after reloadCa.
    const until = Date.now() + startTimeoutMs;
    for (;;) {
      try {
        await (await clientFor(running)).cluster.memberAdd({ peerURLs: [member.peerUrl] });
        break;
      } catch (error) {
        if (!messageOf(error).includes('unhealthy cluster') || Date.now() > until) throw error;
        await sleep(500);
      }
    }
    members.push(member);
    member.initialCluster = clusterList();
    await spawnMember(member);
    await waitHealthy({ timeoutMs: startTimeoutMs, names: [member.name] });
    options.logger?.info({ member: member.name }, `etcd member ${member.name} added`);
    return infoOf(member);
  };

  const reloadCa = async (): Promise<void> => {
    caPem = await readFile(options.caFile);
    for (const client of clients.values()) client.close();
    clients.clear();
    for (const member of members) {
      if (member.process === undefined) continue;
      await signal(member.name, 'SIGTERM');
      await spawnMember(member);
      await waitHealthy({ timeoutMs: startTimeoutMs });
    }
  };

  const cluster: EtcdCluster = {
    get endpoints() {
      return members.map((member) => member.clientUrl);
    },
    get members() {
      return members.map(infoOf);
    },
    addMember,
    reloadCa,
    isRunning: (name) => memberNamed(name).process !== undefined,
    pid: (name) => memberNamed(name).process?.pid,
    start: async (name) => {
      await spawnMember(memberNamed(name));
    },
    stop: (name) => signal(name, 'SIGTERM'),
    kill: (name) => signal(name, 'SIGKILL'),
    restart: async (name) => {
      await signal(name, 'SIGTERM');
      await spawnMember(memberNamed(name));
    },
    pause: (name) => {
      const member = memberNamed(name);
      if (member.process === undefined || member.paused) return;
      member.process.kill('SIGSTOP');
      member.paused = true;
    },
    resume: (name) => {
      const member = memberNamed(name);
      if (member.process === undefined || !member.paused) return;
      member.process.kill('SIGCONT');
      member.paused = false;
    },
    waitHealthy,
    leader: leaderName,
    stopAll,
  };

  try {
    await Promise.all(members.map(spawnMember));
    await waitHealthy({ timeoutMs: startTimeoutMs });
  } catch (error) {
    await stopAll();
    throw error;
  }
  options.logger?.info(
    { endpoints: cluster.endpoints },
    `etcd cluster of ${members.length} members is healthy`,
  );
  return cluster;
}

async function logTail(file: string): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}

function launchError(message: string, details: Record<string, unknown>): CofferError {
  return cofferError('ORDERING_E_ETCD_LAUNCH', message, details);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

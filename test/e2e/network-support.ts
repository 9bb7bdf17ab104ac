// Shared by the network e2e tests: a `coffer network up` in a temporary folder, clients of each
// organisation, node processes started again after a kill, and `coffer network down`.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { clientFromProfile } from '../../src/cli/profile.js';
import type { NetworkFile } from '../../src/cli/network.js';
import type { Client } from '../../src/client/index.js';
import { loadMspFolder, type Msp } from '../../src/msp/index.js';
import { runCoffer } from '../cli/run.js';

export type TestNetwork = {
  readonly dir: string;
  /** network.json as `up` printed it (re-read it for pids of restarted etcd members). */
  readonly file: NetworkFile;
  /** Node processes the test started again (stopped by `down`). */
  readonly restarted: ChildProcess[];
};

export function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** `coffer network up --nodes 3` in a new temporary folder, with extra flags. */
export async function networkUp(extra: readonly string[] = []): Promise<TestNetwork> {
  const dir = await mkdtemp(path.join(tmpdir(), 'coffer-network-'));
  const up = await runCoffer(['network', 'up', '--nodes', '3', '--dir', dir, '--json', ...extra]);
  expect(up.code, up.stderr + up.stdout).toBe(0);
  const ready = up.stdout
    .split('\n')
    .map((line) => {
      try {
        return JSON.parse(line) as NetworkFile & { event?: string };
      } catch {
        return undefined;
      }
    })
    .find((line) => line?.event === 'ready');
  if (ready === undefined) throw new Error(`no ready line: ${up.stdout}`);
  return { dir, file: ready, restarted: [] };
}

/** `coffer network down`, then checks that nothing is left running and removes the folder. */
export async function networkDown(network: TestNetwork): Promise<void> {
  for (const child of network.restarted) if (child.exitCode === null) child.kill('SIGKILL');
  const down = await runCoffer(['network', 'down', '--dir', network.dir]);
  expect(down.code, down.stderr).toBe(0);
  const current = await networkFile(network);
  const pids = [
    network.file.supervisorPid,
    ...network.file.nodes.map((node) => node.pid),
    ...network.file.etcd.map((member) => member.pid),
    ...current.etcd.map((member) => member.pid),
    ...current.nodes.map((node) => node.pid),
  ];
  expect(pids.filter((pid) => alive(pid))).toEqual([]);
  // COFFER_KEEP_NETWORK=DIR keeps the network's logs there for a post-mortem.
  const keep = process.env['COFFER_KEEP_NETWORK'];
  if (keep !== undefined && keep !== '') {
    await cp(path.join(network.dir, 'logs'), path.join(keep, path.basename(network.dir)), {
      recursive: true,
    });
  }
  await rm(network.dir, { recursive: true, force: true });
}

/** DIR/network.json now (the supervisor rewrites it when it restarts an etcd member). */
export async function networkFile(network: TestNetwork): Promise<NetworkFile> {
  return JSON.parse(await readFile(path.join(network.dir, 'network.json'), 'utf8')) as NetworkFile;
}

export async function consortiumMsps(network: TestNetwork): Promise<Map<string, Msp>> {
  const msps = new Map<string, Msp>();
  for (const org of [1, 2, 3]) {
    const loaded = await loadMspFolder(
      path.join(network.dir, 'crypto', 'peerOrganizations', `org${org}.coffer.local`, 'msp'),
      { mspId: `Org${org}MSP` },
    );
    if (!loaded.ok) throw loaded.error;
    msps.set(`Org${org}MSP`, loaded.msp);
  }
  return msps;
}

export async function withClient<T>(
  network: TestNetwork,
  org: number,
  use: (client: Client) => Promise<T>,
): Promise<T> {
  const client = await clientFromProfile(path.join(network.dir, `client-org${org}.json`));
  try {
    return await use(client);
  } finally {
    client.close();
  }
}

/** Waits until every node has executed the same log position; returns their positions. */
export async function converged(network: TestNetwork, orgs: readonly number[], timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const positions = await Promise.all(
      orgs.map((org) => withClient(network, org, (client) => client.position())),
    ).catch(() => undefined);
    const first = positions?.[0];
    if (
      positions !== undefined &&
      first !== undefined &&
      positions.every(
        (item) =>
          item.logPosition === first.logPosition && item.committedLogPosition === item.logPosition,
      )
    ) {
      return positions;
    }
    if (Date.now() > deadline) throw new Error(`no convergence: ${JSON.stringify(positions)}`);
    await sleep(100);
  }
}

/** A node process the test started, with what it printed (the last outputCharsMax of it). */
export type NodeProcess = { readonly child: ChildProcess; readonly output: () => string };

const outputCharsMax = 4_000_000;

/** `coffer node start --config FILE` as its own process; resolves once it listens. */
export async function startNodeProcess(
  network: TestNetwork,
  config: string,
  logLevel: string,
): Promise<NodeProcess> {
  const child = spawn(
    process.execPath,
    [
      path.resolve(import.meta.dirname, '../../bin/coffer'),
      'node',
      'start',
      '--config',
      config,
      '--log-level',
      logLevel,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  network.restarted.push(child);
  // Also kept in DIR/logs (the supervisor's nodes log there too), for COFFER_KEEP_NETWORK.
  const file = createWriteStream(
    path.join(
      network.dir,
      'logs',
      `${path.basename(path.dirname(config))}-restart${network.restarted.length}.log`,
    ),
  );
  child.once('exit', () => file.end());
  let out = '';
  // Read to the end (a full pipe would block the node), keeping the tail.
  const keep = (chunk: string): void => {
    out = (out + chunk).slice(-outputCharsMax);
    file.write(chunk);
  };
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', keep);
  // The log (pino) goes to stderr.
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', keep);
  await new Promise<void>((resolve, reject) => {
    const listening = (): void => {
      if (out.includes('listening on')) {
        child.stdout.off('data', listening);
        resolve();
      }
    };
    child.stdout.on('data', listening);
    child.once('exit', (code) => {
      reject(new Error(`node ${config} exited (${String(code)}): ${out}`));
    });
  });
  return { child, output: () => out };
}

/** Sends SIGKILL to `pid` and waits until it is gone. */
export async function killHard(pid: number | undefined): Promise<void> {
  if (pid === undefined) throw new Error('no pid to kill');
  process.kill(pid, 'SIGKILL');
  while (alive(pid)) await sleep(20);
}

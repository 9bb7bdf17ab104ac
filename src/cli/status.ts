// `coffer status`: each node's applied and durable position, its lag behind the most advanced
// node, health, the ordering's state (etcd health and leader) and the last signature entry.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cofferError } from '../errors/index.js';
import type { Command } from './main.js';
import type { NetworkFile } from './network.js';
import { clientFromProfile, defaultProfile } from './profile.js';

const statusUsage = `Usage: coffer status [--dir NETWORK_DIR | --profile FILE ...] [--json]

Asks every node of a local network (--dir, as given to \`coffer network up\`) or the nodes of the
given client profiles (default ${defaultProfile}) for their status, and prints one line each:
applied and durable log positions, lag behind the most advanced node, health, etcd health and
leader, the last signature entry, and the node's memory. Exit code 1 when a node is unreachable
or unhealthy.`;

type NodeStatus = {
  readonly nodeId?: string;
  readonly position: {
    readonly seqno: number;
    readonly root: string;
    readonly logPosition: number;
    readonly committedLogPosition: number;
  };
  readonly health: { readonly ok: boolean; readonly reason?: string };
  readonly joinedFromSnapshot?: { readonly seqno: number; readonly peer: string };
  /** Absent from nodes that predate it. */
  readonly memory?: { readonly rssBytes: number; readonly heapUsedBytes: number };
  readonly lastSignature: { readonly treeSize: number; readonly signedAt: number } | null;
  readonly ordering: {
    readonly kind: string;
    readonly leader?: { readonly name: string };
    readonly members?: readonly { readonly ok: boolean }[];
    readonly health?: unknown;
    readonly error?: string;
  };
};

const mb = (bytes: number): number => Math.round(bytes / 2 ** 20);

type Row = { readonly profile: string; readonly status?: NodeStatus; readonly error?: string };

export const statusCommand: Command = async (args, io) => {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        dir: { type: 'string' },
        profile: { type: 'string', multiple: true },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    throw cofferError('CLI_E_USAGE', `${(error as Error).message}\n\n${statusUsage}`);
  }
  if (values.help) {
    io.stdout(statusUsage);
    return 0;
  }
  let profiles = values.profile ?? [];
  if (values.dir !== undefined) {
    const file = path.join(path.resolve(values.dir), 'network.json');
    let network: NetworkFile;
    try {
      network = JSON.parse(await readFile(file, 'utf8')) as NetworkFile;
    } catch (error) {
      throw cofferError('NETWORK_E_NOT_RUNNING', `no network was started from ${values.dir}`, {
        file,
        cause: String(error),
      });
    }
    profiles = [...profiles, ...network.nodes.map((node) => node.profile)];
  }
  if (profiles.length === 0) profiles = [defaultProfile];

  const rows: Row[] = await Promise.all(
    profiles.map(async (profile): Promise<Row> => {
      try {
        const client = await clientFromProfile(profile);
        try {
          return { profile, status: (await client.nodeStatus()) as unknown as NodeStatus };
        } finally {
          client.close();
        }
      } catch (error) {
        return { profile, error: String(error) };
      }
    }),
  );
  const furthest = Math.max(
    0,
    ...rows.map((row) => row.status?.position.committedLogPosition ?? 0),
  );
  const report = rows.map((row) => ({
    ...row,
    lag: row.status === undefined ? undefined : furthest - row.status.position.logPosition,
  }));
  const healthy = report.every((row) => row.status?.health.ok === true);
  if (values.json) {
    io.stdout(JSON.stringify({ nodes: report, healthy }));
    return healthy ? 0 : 1;
  }
  const lines = report.map((row) => {
    if (row.status === undefined) return `${row.profile}: unreachable (${row.error ?? '?'})`;
    const { position, health, lastSignature, ordering, joinedFromSnapshot, memory } = row.status;
    const etcd =
      ordering.kind === 'etcd'
        ? `etcd ${ordering.members?.filter((member) => member.ok).length ?? 0}/${ordering.members?.length ?? 0} members up, leader ${ordering.leader?.name ?? 'none'}`
        : 'embedded log';
    const signature =
      lastSignature === null
        ? 'no signature entry yet'
        : `last signature: tree ${lastSignature.treeSize} at ${new Date(lastSignature.signedAt).toISOString()}`;
    return (
      `${row.status.nodeId ?? row.profile}: applied seqno ${position.seqno} (log ${position.logPosition}), ` +
      `durable log ${position.committedLogPosition}, lag ${String(row.lag)}, ` +
      `${health.ok ? 'healthy' : `UNHEALTHY: ${health.reason ?? '?'}`}; ${etcd}; ${signature}; ` +
      `root ${position.root.slice(0, 16)}…` +
      (memory === undefined
        ? ''
        : `; RSS ${mb(memory.rssBytes)} MB (JavaScript heap ${mb(memory.heapUsedBytes)} MB)`) +
      (joinedFromSnapshot === undefined
        ? ''
        : `; joined from ${joinedFromSnapshot.peer}'s snapshot at seqno ${joinedFromSnapshot.seqno}`)
    );
  });
  io.stdout(lines.join('\n'));
  return healthy ? 0 : 1;
};

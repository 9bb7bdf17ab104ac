// Joining from a snapshot (issue 4, decisions 0027 and 0038). A node that starts with an empty
// data directory in a network asks its peers for their newest committed snapshot whose evidence
// entry is written, and uses it only once it has checked it against signature entries:
// - the snapshot was taken at a signature entry, the last leaf of its own Merkle tree, and its
//   state has a digest (checkCommittedSnapshot);
// - the entries after it, fetched with the batches that made them (the catch-up answer, through
//   the evidence entry and a signature entry after it), extend that tree to a root that a
//   majority of the organisations' nodes signed, each signature checked against the MSPs of
//   this node's own configuration (not the snapshot's);
// - those entries record exactly the batches' transactions (checkCatchUp);
// - among them, the commit point's evidence entry records that digest (snapshotEvidenceIn).
// Then it installs the snapshot, a mirror that starts with those batches, and a record of the
// join; the engine starts from the snapshot, executes the batches, and its own root at the
// signed tree size must be the signed one. No peer has a committed snapshot yet: the node
// catches up from position 1 as before.
import { createReadStream } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import type { Agent } from 'node:https';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { cofferError, isCofferError, type CofferError } from '../errors/index.js';
import { deserializeMerkleTree } from '../ledger/merkle.js';
import type { LedgerSecret } from '../ledger/secret.js';
import {
  committedSnapshotFiles,
  decodeSnapshot,
  snapshotBytesMax,
  snapshotFileName,
} from '../ledger/snapshot.js';
import { createFsStorage, replaceFile } from '../ledger/files-storage.js';
import type { Msp } from '../msp/index.js';
import { seedMirror } from '../ordering/index.js';
import { askCatchUp, checkCatchUp } from './catchup.js';
import { getBytes, getJson, signedRootsAt, type PeerConfig } from './peers.js';
import { checkCommittedSnapshot, snapshotEvidenceIn } from './snapshot-evidence.js';
import { decodeSnapshotExtra } from './snapshot-extra.js';

/** Where a node records that it joined from a snapshot (in its data directory). */
export const joinRecordFile = 'joined-from-snapshot.json';
/** A snapshot download that takes longer than this counts as failed. */
export const snapshotCallTimeoutMs = 300_000;

/** What a node that joined from a snapshot keeps (its data directory, joinRecordFile). */
export type JoinRecord = {
  readonly snapshotSeqno: number;
  readonly logPosition: number;
  readonly peer: string;
  /** The tree size and root the entries after the snapshot lead to, and who signed it. */
  readonly treeSize: number;
  readonly root: string;
  readonly signers: readonly string[];
  readonly joinedAt: string;
};

// ---- the serving side -----------------------------------------------------------------------

export type SnapshotRoutesOptions = {
  readonly snapshotsDir: string;
  /** The newest commit point whose evidence entry the ledger holds (Engine): served up to it. */
  readonly evidencedSnapshotSeqno: () => number;
  /** Whether the request comes from a node of the consortium (peer identity). */
  readonly isPeer: (request: FastifyRequest) => boolean;
  readonly sendError: (reply: FastifyReply, error: CofferError) => Promise<FastifyReply>;
};

/** GET /v1/peer/snapshot (the newest committed one) and /v1/peer/snapshot/:seqno (its bytes). */
export function registerSnapshotRoutes(app: FastifyInstance, options: SnapshotRoutesOptions): void {
  const forbidden = cofferError(
    'NODE_E_FORBIDDEN',
    'snapshots are served to the nodes of the consortium only',
  );
  app.get(
    '/v1/peer/snapshot',
    {
      schema: {
        summary:
          "Node to node: this node's newest committed snapshot whose evidence entry its ledger holds (its seqno): that signature entry records the snapshot state's digest. Peer identities only.",
      },
    },
    async (request, reply) => {
      if (!options.isPeer(request)) return options.sendError(reply, forbidden);
      const evidenced = options.evidencedSnapshotSeqno();
      const newest = (await committedSnapshotFiles(options.snapshotsDir)).find(
        (snapshot) => snapshot.seqno <= evidenced,
      );
      if (newest === undefined) {
        return options.sendError(
          reply,
          cofferError('NODE_E_NOT_FOUND', 'this node holds no committed snapshot yet'),
        );
      }
      return { seqno: newest.seqno };
    },
  );
  app.get(
    '/v1/peer/snapshot/:seqno',
    {
      schema: {
        summary:
          'Node to node: the bytes of the committed snapshot at seqno (application/octet-stream). Peer identities only.',
        params: {
          type: 'object',
          properties: { seqno: { type: 'integer', minimum: 1 } },
          required: ['seqno'],
        },
      },
    },
    async (request: FastifyRequest<{ Params: { seqno: number } }>, reply) => {
      if (!options.isPeer(request)) return options.sendError(reply, forbidden);
      const found = (await committedSnapshotFiles(options.snapshotsDir)).find(
        (snapshot) => snapshot.seqno === request.params.seqno,
      );
      if (found === undefined) {
        return options.sendError(
          reply,
          cofferError(
            'NODE_E_NOT_FOUND',
            `this node holds no committed snapshot at seqno ${request.params.seqno}`,
          ),
        );
      }
      return reply.type('application/octet-stream').send(createReadStream(found.file));
    },
  );
}

// ---- the joining side -----------------------------------------------------------------------

/** The join record of `dataDir`, if this node joined from a snapshot. */
export async function readJoinRecord(dataDir: string): Promise<JoinRecord | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(dataDir, joinRecordFile), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const record = JSON.parse(text) as Partial<JoinRecord>;
  if (
    !Number.isSafeInteger(record.snapshotSeqno) ||
    !Number.isSafeInteger(record.logPosition) ||
    !Number.isSafeInteger(record.treeSize)
  ) {
    throw cofferError(
      'NODE_E_FAILED',
      `${path.join(dataDir, joinRecordFile)} is damaged; start the node in a new data directory to join again`,
    );
  }
  return record as JoinRecord;
}

/** Whether the ledger files of the node in `dataDir` hold anything. */
async function hasLedger(dataDir: string): Promise<boolean> {
  try {
    return (await readdir(path.join(dataDir, 'ledger'))).some((name) => name.endsWith('.chunk'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

export type SnapshotJoinOptions = {
  readonly dataDir: string;
  readonly peers: readonly PeerConfig[];
  /** The mutual-TLS agent presenting this node's peer identity (peers serve peers only). */
  readonly agent: Agent;
  /** The MSPs this node trusts from its own configuration: signed roots are checked with them. */
  readonly msps: ReadonlyMap<string, Msp>;
  readonly secret: LedgerSecret;
  /** Distinct organisations whose nodes must have signed the root the entries lead to. */
  readonly organisationsMin: number;
  readonly logger: Logger;
};

type Refusal = { readonly peer: string; readonly error: CofferError };

/**
 * Joins from the newest committed snapshot a peer serves, checked as this file's header says; the
 * record of the join, or undefined when the data directory is not empty or no peer serves a
 * snapshot that verifies (then the node catches up from position 1).
 */
export async function joinFromSnapshot(
  options: SnapshotJoinOptions,
): Promise<JoinRecord | undefined> {
  const { logger } = options;
  // Only a node with nothing yet: no join record, no ledger entries.
  if ((await readJoinRecord(options.dataDir)) !== undefined) return undefined;
  if (await hasLedger(options.dataDir)) return undefined;
  const offers: { peer: PeerConfig; seqno: number }[] = [];
  for (const peer of options.peers) {
    try {
      const got = await getJson(options.agent, `${peer.url}/v1/peer/snapshot`);
      const seqno = (got.body as { seqno?: unknown }).seqno;
      if (got.status === 200 && typeof seqno === 'number' && Number.isSafeInteger(seqno)) {
        offers.push({ peer, seqno });
      } else {
        // NODE_E_NOT_FOUND: none yet; NODE_E_FORBIDDEN: this organisation is not a member yet.
        const error = (got.body as { error?: { code?: string; message?: string } }).error;
        logger.info(
          { peer: peer.nodeId, code: error?.code },
          `snapshot join: ${peer.nodeId} serves no snapshot to this node: ${String(error?.message)}`,
        );
      }
    } catch (error) {
      logger.warn(
        { peer: peer.nodeId },
        `snapshot join: ${peer.nodeId} unreachable: ${String(error)}`,
      );
    }
  }
  offers.sort((a, b) => b.seqno - a.seqno);
  const refusals: Refusal[] = [];
  for (const offer of offers) {
    try {
      const record = await joinFrom(options, offer.peer, offer.seqno);
      logger.info(
        { ...record },
        `joined from ${offer.peer.nodeId}'s committed snapshot at seqno ${record.snapshotSeqno}; the entries after it lead to root ${record.root} at ${record.treeSize}, signed by ${record.signers.join(', ')}`,
      );
      return record;
    } catch (error) {
      if (!isCofferError(error)) throw error;
      refusals.push({ peer: offer.peer.nodeId, error });
      logger.error(
        { peer: offer.peer.nodeId, code: error.code, ...error.details },
        `snapshot join: the snapshot from ${offer.peer.nodeId} was not used: ${error.message}`,
      );
      await clearPartialJoin(options.dataDir);
    }
  }
  if (offers.length === 0) {
    logger.info('snapshot join: no peer serves a committed snapshot; catching up from position 1');
  } else {
    logger.warn(
      { refusals: refusals.map((refusal) => `${refusal.peer}: ${refusal.error.code}`) },
      'snapshot join: no snapshot verified; catching up from position 1',
    );
  }
  return undefined;
}

/** Fetches, checks and installs `peer`'s committed snapshot at `seqno`; throws what refused it. */
async function joinFrom(
  options: SnapshotJoinOptions,
  peer: PeerConfig,
  seqno: number,
): Promise<JoinRecord> {
  const unverified = (message: string, details: Record<string, unknown> = {}): CofferError =>
    cofferError('NODE_E_SNAPSHOT_UNVERIFIED', message, { peer: peer.nodeId, seqno, ...details });
  const unavailable = (message: string): CofferError =>
    cofferError('NODE_E_CATCHUP_UNAVAILABLE', message, { peer: peer.nodeId, seqno });
  // 1. The snapshot, whole (its own SHA-256 and every section checked by decodeSnapshot).
  const download = await getBytes(
    options.agent,
    `${peer.url}/v1/peer/snapshot/${String(seqno)}`,
    snapshotBytesMax,
    snapshotCallTimeoutMs,
  ).catch((error: unknown) => {
    throw unavailable(`${peer.nodeId} did not send its snapshot: ${String(error)}`);
  });
  if (download.status !== 200) {
    throw unavailable(`${peer.nodeId} answered ${download.status} for its snapshot at ${seqno}`);
  }
  let snapshot;
  try {
    snapshot = decodeSnapshot(download.bytes, options.secret);
  } catch (error) {
    if (!isCofferError(error)) throw error;
    throw unverified(`the snapshot from ${peer.nodeId} is not a snapshot: ${error.message}`);
  }
  if (snapshot.seqno !== seqno) {
    throw unverified(`${peer.nodeId} sent the snapshot at ${snapshot.seqno} for ${seqno}`);
  }
  const extra = (() => {
    try {
      return decodeSnapshotExtra(snapshot.extra);
    } catch (error) {
      throw unverified(`the snapshot from ${peer.nodeId} has no engine state: ${String(error)}`);
    }
  })();
  const tree = deserializeMerkleTree(extra.tree);
  // 2. It was taken at a signature entry; its state's digest.
  const committed = checkCommittedSnapshot({ seqno, digests: snapshot.digests, extra, tree });
  if (!committed.ok) throw committed.error;
  // 3. The entries after it lead to a root a majority signed, and record the batches.
  const fromPosition = extra.logPosition + 1;
  const got = await askCatchUp(options.agent, peer, fromPosition, seqno, {
    snapshotEvidence: true,
  }).catch((error: unknown) => {
    throw unavailable(
      `${peer.nodeId} did not send the entries after its snapshot: ${String(error)}`,
    );
  });
  if (!got.ok) {
    throw unavailable(
      `${peer.nodeId} cannot serve the entries after its snapshot yet (${got.message}): its evidence entry, and a signature entry after it, must follow it`,
    );
  }
  const { answer } = got;
  const signedRoots = await signedRootsAt(options.agent, options.peers, answer.upToTreeSize);
  const checked = checkCatchUp({
    answer,
    fromPosition,
    treeSize: seqno,
    frontier: tree.frontier(seqno),
    signedRoots,
    msps: options.msps,
    organisationsMin: options.organisationsMin,
  });
  if (!checked.ok) {
    throw unverified(`the snapshot from ${peer.nodeId} does not verify: ${checked.error.message}`, {
      ...checked.error.details,
    });
  }
  // 4. Among those signed entries, its evidence entry records its state's digest.
  const evidence = snapshotEvidenceIn(
    seqno,
    committed.value.digest,
    answer.leaves.map((leaf) => new Uint8Array(Buffer.from(leaf, 'base64'))),
  );
  if (!evidence.ok) {
    throw unverified(`the snapshot from ${peer.nodeId} does not verify: ${evidence.error.message}`);
  }
  // 5. Install: the snapshot, a mirror starting after it, then the record (last: a join cut
  // short before it left no record, so the next start clears it and joins again).
  await clearPartialJoin(options.dataDir);
  const storage = createFsStorage();
  const snapshotsDir = path.join(options.dataDir, 'snapshots');
  await storage.mkdir(snapshotsDir);
  await replaceFile(
    storage,
    path.join(snapshotsDir, snapshotFileName(seqno, true)),
    download.bytes,
  );
  await seedMirror(path.join(options.dataDir, 'log'), fromPosition, checked.value.entries);
  const record: JoinRecord = {
    snapshotSeqno: seqno,
    logPosition: extra.logPosition,
    peer: peer.nodeId,
    treeSize: checked.value.upToTreeSize,
    root: checked.value.root,
    signers: checked.value.signers,
    joinedAt: new Date().toISOString(),
  };
  await replaceFile(
    storage,
    path.join(options.dataDir, joinRecordFile),
    Buffer.from(`${JSON.stringify(record, null, 2)}\n`),
  );
  return record;
}

/**
 * Removes what an interrupted join left (snapshot and mirror folders) before installing: a node
 * with no ledger entries and no join record has nothing there worth keeping (its mirror is a
 * copy of what etcd or its peers hold).
 */
async function clearPartialJoin(dataDir: string): Promise<void> {
  for (const sub of ['snapshots', 'log']) {
    await rm(path.join(dataDir, sub), { recursive: true, force: true });
  }
}

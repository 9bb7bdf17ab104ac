// Catch-up from a peer (issue 4): a node that stayed away longer than etcd's retention window
// finds the batches it misses compacted away (ORDERING_E_COMPACTED). It fetches them from a
// peer over the node-to-node mutual-TLS API, together with the peer's ledger entries they
// produced, and installs them only after checking them against signature entries:
// - the entries continue this node's own Merkle tree (its frontier) to a root that a majority
//   of the network's organisations signed (each signature checked against the MSPs);
// - the transactions in those entries are exactly the envelopes of the batches, in order.
// Then it executes the batches itself, like every other batch, and its own root at that size
// must be the signed one (else it halts with NODE_E_DIVERGED). Decision 0016.
import type { Agent } from 'node:https';
import type { Logger } from 'pino';
import { cofferError, isCofferError, type CofferError, type Result } from '../errors/index.js';
import { canonicalBytes } from '../ledger/canonical.js';
import { leafHash, rootExtending } from '../ledger/merkle.js';
import { verifySignedRoot, type SignedRoot } from '../ledger/receipt.js';
import { decodeBatch } from '../ledger/tx.js';
import type { Msp } from '../msp/index.js';
import type { EtcdLog, MirrorEntry } from '../ordering/index.js';
import type { Engine } from './engine.js';
import { every } from './every.js';
import { getJson, type PeerConfig } from './peers.js';
import { evidenceOf } from './snapshot-evidence.js';

// ---- limits ---------------------------------------------------------------------------------

/** Leaf bytes a peer puts in one answer before it cuts at the next signature entry. */
export const catchUpLeafBytesTarget = 8 * 1_048_576;
/** Leaf bytes of one answer at most: no signature entry by then, and the peer refuses. */
export const catchUpLeafBytesMax = 64 * 1_048_576;
/** Batches in one answer at most (installFromPeer takes at most 4096). */
export const catchUpBatchesMax = 2048;
/** Largest catch-up answer read, in bytes (leaves and batches, base64 in JSON). */
export const catchUpAnswerBytesMax = 256 * 1_048_576;
/** A catch-up answer that takes longer than this counts as failed. */
export const catchUpCallTimeoutMs = 60_000;
/** How often a behind node looks whether it must catch up. */
export const catchUpIntervalMsDefault = 1000;

// ---- the answer -----------------------------------------------------------------------------

/** What a peer answers to GET /v1/peer/catchup?fromPosition=P+1&treeSize=S. */
export type CatchUpAnswer = {
  readonly fromPosition: number;
  /** The asker's tree size: `leaves` are the entries with seqno treeSize+1 .. upToTreeSize. */
  readonly treeSize: number;
  readonly upToTreeSize: number;
  /** Ordering positions fromPosition .. lastPosition, with their etcd revisions. */
  readonly batches: readonly {
    readonly position: number;
    readonly revision: number;
    /** base64 */
    readonly batch: string;
  }[];
  /** base64 of each leaf. */
  readonly leaves: readonly string[];
};

function unavailable(message: string, details: Record<string, unknown> = {}): CofferError {
  return cofferError('NODE_E_CATCHUP_UNAVAILABLE', message, details);
}

function refused(message: string, details: Record<string, unknown> = {}): CofferError {
  return cofferError('NODE_E_CATCHUP_REFUSED', message, details);
}

/**
 * The serving side: the entries after the asker's tree size up to a signature entry that
 * follows a batch at or after fromPosition (about catchUpLeafBytesTarget of them), and the
 * batches fromPosition .. the one that signature entry follows. With `snapshotEvidence` (the
 * asker's tree size is a commit point whose snapshot it joins from), at least through a
 * signature entry after the commit point's evidence entry, which that entry's root then covers.
 */
export async function serveCatchUp(
  engine: Pick<Engine, 'entriesFrom'>,
  log: Pick<EtcdLog, 'readMirror'>,
  fromPosition: number,
  treeSize: number,
  options: { readonly snapshotEvidence?: boolean } = {},
): Promise<CatchUpAnswer> {
  if (!Number.isSafeInteger(fromPosition) || fromPosition < 1) {
    throw cofferError('NODE_E_BAD_REQUEST', 'fromPosition must be a positive integer');
  }
  if (!Number.isSafeInteger(treeSize) || treeSize < 0) {
    throw cofferError('NODE_E_BAD_REQUEST', 'treeSize must be a non-negative integer');
  }
  const leaves: string[] = [];
  let bytes = 0;
  let cut:
    | { readonly upToTreeSize: number; readonly leaves: number; readonly position: number }
    | undefined;
  // Without snapshotEvidence, any cut will do.
  let evidenceSeqno = options.snapshotEvidence === true ? undefined : 0;
  const covered = (upTo: number): boolean => evidenceSeqno !== undefined && upTo >= evidenceSeqno;
  for await (const entry of engine.entriesFrom(treeSize + 1)) {
    if (entry.seqno !== treeSize + 1 + leaves.length) break;
    if (
      entry.kind === 'signature' &&
      entry.logPosition !== undefined &&
      entry.logPosition >= fromPosition
    ) {
      // This marker signs every entry before it; the batches up to logPosition made them.
      cut = { upToTreeSize: entry.seqno - 1, leaves: leaves.length, position: entry.logPosition };
      const batches = entry.logPosition - fromPosition + 1;
      if (
        covered(cut.upToTreeSize) &&
        (bytes >= catchUpLeafBytesTarget || batches >= catchUpBatchesMax)
      ) {
        break;
      }
    }
    if (entry.kind === 'signature' && evidenceOf(entry.leaf)?.snapshotSeqno === treeSize) {
      evidenceSeqno ??= entry.seqno;
    }
    if (cut !== undefined && cut.position - fromPosition + 1 >= catchUpBatchesMax) break;
    bytes += entry.leaf.byteLength;
    if (bytes > catchUpLeafBytesMax) break;
    leaves.push(Buffer.from(entry.leaf).toString('base64'));
  }
  if (cut === undefined) {
    throw unavailable(
      `this node's ledger files hold no signature entry after position ${fromPosition - 1} within ${catchUpLeafBytesMax} bytes of tree size ${treeSize}`,
      { fromPosition, treeSize },
    );
  }
  if (!covered(cut.upToTreeSize)) {
    throw unavailable(
      `this node's ledger files hold no signed evidence entry for a commit point at ${treeSize} within ${catchUpLeafBytesMax} bytes and ${catchUpBatchesMax} batches (not written or not signed yet)`,
      { fromPosition, treeSize },
    );
  }
  const batches: { position: number; revision: number; batch: string }[] = [];
  for (let next = fromPosition; next <= cut.position;) {
    const read: readonly MirrorEntry[] = await log.readMirror(next, cut.position - next + 1);
    if (read.length === 0) {
      throw unavailable(`this node's mirror does not hold position ${next}`, { position: next });
    }
    for (const entry of read) {
      if (entry.position > cut.position) break;
      batches.push({
        position: entry.position,
        revision: entry.revision,
        batch: Buffer.from(entry.batch).toString('base64'),
      });
      next = entry.position + 1;
    }
  }
  return {
    fromPosition,
    treeSize,
    upToTreeSize: cut.upToTreeSize,
    batches,
    leaves: leaves.slice(0, cut.leaves),
  };
}

// ---- the check (pure) -----------------------------------------------------------------------

export type CatchUpCheckInput = {
  readonly answer: CatchUpAnswer;
  /** What the asker asked: its next position and tree size, with its frontier at that size. */
  readonly fromPosition: number;
  readonly treeSize: number;
  readonly frontier: readonly Uint8Array[];
  /** Signed roots at answer.upToTreeSize, as fetched from the peers. */
  readonly signedRoots: readonly SignedRoot[];
  readonly msps: ReadonlyMap<string, Msp>;
  /** Distinct organisations whose nodes must have signed the root. */
  readonly organisationsMin: number;
  /** Whether a signed root's node still counts (governance: admitted, of its MSP); default all. */
  readonly countsAsNode?: (signed: SignedRoot) => boolean;
};

export type CheckedCatchUp = {
  readonly entries: readonly MirrorEntry[];
  readonly upToTreeSize: number;
  readonly root: string;
  readonly signers: readonly string[];
};

function sameBytes(left: unknown, right: unknown): boolean {
  try {
    return Buffer.from(canonicalBytes(left)).equals(Buffer.from(canonicalBytes(right)));
  } catch {
    return false;
  }
}

/**
 * Checks a peer's answer against signature entries before anything is installed: the shape,
 * the Merkle root the entries lead to from the asker's own tree, the signatures of that root,
 * and that the entries' transactions are the batches' envelopes in order.
 */
export function checkCatchUp(input: CatchUpCheckInput): Result<CheckedCatchUp> {
  const fail = (
    message: string,
    details: Record<string, unknown> = {},
  ): Result<CheckedCatchUp> => ({
    ok: false,
    error: refused(message, details),
  });
  const { answer } = input;
  if (answer.fromPosition !== input.fromPosition || answer.treeSize !== input.treeSize) {
    return fail(
      `the answer is for position ${answer.fromPosition} and tree size ${answer.treeSize}, not the ones asked`,
    );
  }
  const batchList: unknown = answer.batches;
  const leafList: unknown = answer.leaves;
  if (
    !Array.isArray(batchList) ||
    !Array.isArray(leafList) ||
    batchList.length === 0 ||
    batchList.length > catchUpBatchesMax ||
    !leafList.every((leaf) => typeof leaf === 'string') ||
    answer.upToTreeSize !== input.treeSize + leafList.length
  ) {
    return fail('the answer does not have the catch-up shape (batches, leaves, upToTreeSize)');
  }
  // 1. The batches, consecutive from the position asked.
  const entries: MirrorEntry[] = [];
  const envelopes: unknown[] = [];
  for (const [index, raw] of (batchList as unknown[]).entries()) {
    const item = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    const position = input.fromPosition + index;
    if (
      item['position'] !== position ||
      typeof item['batch'] !== 'string' ||
      typeof item['revision'] !== 'number'
    ) {
      return fail(`batch ${index} is not the batch at position ${position}`);
    }
    const batch = new Uint8Array(Buffer.from(item['batch'], 'base64'));
    entries.push({ position, revision: item['revision'], batch });
    try {
      envelopes.push(...decodeBatch(batch).envelopes);
    } catch {
      // Every node skips an undecodable batch alike: it makes no entries.
    }
  }
  // 2. The leaves lead from this node's own tree to a root signed by a majority.
  const leaves = leafList.map((leaf) => new Uint8Array(Buffer.from(leaf, 'base64')));
  let root: string;
  try {
    root = Buffer.from(
      rootExtending(input.frontier, input.treeSize, leaves.map(leafHash)),
    ).toString('hex');
  } catch (error) {
    return fail(`the entries do not extend this node's tree: ${String(error)}`);
  }
  const organisations = new Set<string>();
  const signers: string[] = [];
  for (const signed of input.signedRoots) {
    if (signed.treeSize !== answer.upToTreeSize || signed.root !== root) continue;
    if (input.countsAsNode?.(signed) === false) continue;
    const checked = verifySignedRoot(signed, input.msps);
    if (!checked.ok) continue;
    if (organisations.has(signed.mspId)) continue;
    organisations.add(signed.mspId);
    signers.push(signed.nodeId);
  }
  if (organisations.size < input.organisationsMin) {
    return fail(
      `the entries lead to root ${root} at tree size ${answer.upToTreeSize}, signed by ${organisations.size} organisation(s); ${input.organisationsMin} must have signed it`,
      { treeSize: answer.upToTreeSize, root, signers },
    );
  }
  // 3. The signed entries record exactly the batches' transactions, in order.
  let next = 0;
  for (const [index, leaf] of leaves.entries()) {
    let json: { type?: unknown; envelope?: unknown };
    try {
      json = JSON.parse(Buffer.from(leaf).toString('utf8')) as typeof json;
    } catch {
      return fail(`leaf ${input.treeSize + index + 1} is not JSON`);
    }
    // Markers, and the genesis entry every node writes itself, record no batch transaction.
    if (json.type === 'signature' || (json.type === 'genesis' && input.treeSize + index === 0)) {
      continue;
    }
    if (next >= envelopes.length || !sameBytes(json.envelope, envelopes[next])) {
      return fail(
        `the entry at seqno ${input.treeSize + index + 1} does not record the batches' transaction ${next}`,
      );
    }
    next += 1;
  }
  if (next !== envelopes.length) {
    return fail(`the batches hold ${envelopes.length} transactions, the signed entries ${next}`);
  }
  return { ok: true, value: { entries, upToTreeSize: answer.upToTreeSize, root, signers } };
}

// ---- the asking side ------------------------------------------------------------------------

/**
 * GET /v1/peer/catchup from `peer` (over an agent presenting this node's peer identity): its
 * answer, unchecked, or the error it gave. Throws when the peer cannot be reached.
 */
export async function askCatchUp(
  agent: Agent,
  peer: PeerConfig,
  fromPosition: number,
  treeSize: number,
  options: { readonly snapshotEvidence?: boolean } = {},
): Promise<
  | { readonly ok: true; readonly answer: CatchUpAnswer }
  | { readonly ok: false; readonly code: string | undefined; readonly message: string }
> {
  const got = await getJson(
    agent,
    `${peer.url}/v1/peer/catchup?fromPosition=${String(fromPosition)}&treeSize=${String(treeSize)}${options.snapshotEvidence === true ? '&snapshotEvidence=true' : ''}`,
    catchUpAnswerBytesMax,
    catchUpCallTimeoutMs,
  );
  if (got.status === 200) return { ok: true, answer: got.body as CatchUpAnswer };
  const error = (got.body as { error?: { code?: string; message?: string } }).error;
  return { ok: false, code: error?.code, message: String(error?.message) };
}

export type CatchUpOptions = {
  readonly engine: Engine;
  readonly log: EtcdLog;
  /** The peers that count now (admitted, not retired). */
  readonly peers: () => readonly PeerConfig[];
  readonly msps: () => ReadonlyMap<string, Msp>;
  /** The mutual-TLS agent for calls to peers (peerAgent), presenting this node's MSP identity. */
  readonly agent: () => Agent;
  readonly logger: Logger;
  readonly intervalMs?: number;
  /**
   * The peers' signed roots at a tree size, as the peer watch fetches them for receipts (only
   * nodes that still count).
   */
  readonly rootsAt: (treeSize: number) => Promise<readonly SignedRoot[]>;
};

export type CatchUp = {
  /** One round now: catches up (as far as peers allow) if the log is behind. */
  readonly runNow: () => Promise<void>;
  readonly stop: () => void;
};

function isBehind(log: EtcdLog): boolean {
  const health = log.health();
  return health !== 'ok' && health.error.code === 'ORDERING_E_COMPACTED';
}

/** Watches the etcd log; when it is behind etcd's retained history, catches up from peers. */
export function startCatchUp(options: CatchUpOptions): CatchUp {
  const { engine, log, logger } = options;
  let stopped = false;
  let turn = 0;

  /** One fetch, check and install from `peer`; true when something was installed. */
  const fromPeer = async (peer: PeerConfig): Promise<boolean> => {
    await engine.idle();
    const position = engine.position();
    const fromPosition = position.logPosition + 1;
    if (position.logPosition !== log.committedPosition()) return false;
    let answer: CatchUpAnswer;
    try {
      const got = await askCatchUp(options.agent(), peer, fromPosition, position.seqno);
      if (!got.ok) {
        logger.warn(
          { peer: peer.nodeId, code: got.code },
          `catch-up: ${peer.nodeId} cannot serve position ${fromPosition}: ${got.message}`,
        );
        return false;
      }
      answer = got.answer;
    } catch (error) {
      logger.warn({ peer: peer.nodeId }, `catch-up: ${peer.nodeId} unreachable: ${String(error)}`);
      return false;
    }
    // A majority of the network (this node included) must have signed what it installs; this
    // node cannot sign what it does not hold, so that many of its peers' organisations.
    const organisationsMin = Math.floor((options.peers().length + 1) / 2) + 1;
    const checked = checkCatchUp({
      answer,
      fromPosition,
      treeSize: position.seqno,
      frontier: engine.frontier(position.seqno),
      signedRoots: await options.rootsAt(answer.upToTreeSize),
      msps: options.msps(),
      organisationsMin,
    });
    if (!checked.ok) {
      logger.error(
        { peer: peer.nodeId, code: checked.error.code, ...checked.error.details },
        `catch-up: entries from ${peer.nodeId} refused: ${checked.error.message}`,
      );
      return false;
    }
    const { entries, upToTreeSize, root, signers } = checked.value;
    await log.installFromPeer(entries);
    await engine.idle();
    // Executed here like every batch: this node's own root must be the one they signed.
    const own = engine.rootAt(upToTreeSize);
    if (own !== root) {
      engine.halt(
        cofferError(
          'NODE_E_DIVERGED',
          `after catching up, this node computed root ${String(own)} at tree size ${upToTreeSize} where ${signers.join(', ')} signed ${root}`,
          { treeSize: upToTreeSize, peers: signers },
        ),
      );
      stopped = true;
      return false;
    }
    logger.info(
      { peer: peer.nodeId, positions: entries.length, treeSize: upToTreeSize, signers },
      `catch-up: installed positions ${fromPosition}..${fromPosition + entries.length - 1} from ${peer.nodeId}; root at ${upToTreeSize} agrees with ${signers.join(', ')}`,
    );
    return true;
  };

  const runNow = async (): Promise<void> => {
    while (!stopped && isBehind(log)) {
      let progressed = false;
      const peers = options.peers();
      for (let tried = 0; tried < peers.length && !progressed; tried += 1) {
        const peer = peers[turn % peers.length];
        turn += 1;
        if (peer === undefined) break;
        try {
          progressed = await fromPeer(peer);
        } catch (error) {
          if (!isCofferError(error)) throw error;
          logger.warn(
            { peer: peer.nodeId, code: error.code },
            `catch-up from ${peer.nodeId} failed: ${error.message}`,
          );
        }
      }
      if (!progressed) return;
    }
  };

  const task = every(
    options.intervalMs ?? catchUpIntervalMsDefault,
    runNow,
    (error) => {
      logger.error({ error: String(error) }, 'catch-up round failed');
    },
    () => !stopped && isBehind(log),
  );

  return {
    runNow,
    stop: () => {
      stopped = true;
      task.stop();
    },
  };
}

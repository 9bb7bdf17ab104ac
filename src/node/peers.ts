// Divergence detection: every node executes every batch itself, so at every signature entry all
// nodes must have the same Merkle root. A node asks its peers for their newest signed roots
// (over the node-to-node mutual-TLS API), checks each signature against the consortium's MSPs
// (a peer identity of a member), and compares the root with its own at the same tree size.
// A node whose root a majority of the network disagrees with (or every peer, in a network of
// two) stops executing with NODE_E_DIVERGED: a bug or an attack, never papered over. A node
// that agrees with the majority keeps running and reports the divergent peers loudly.
import { Agent, request as httpsRequest } from 'node:https';
import type { Logger } from 'pino';
import { cofferError } from '../errors/index.js';
import { verifySignedRoot, type SignedRoot } from '../ledger/receipt.js';
import type { Msp } from '../msp/index.js';
import type { Engine } from './engine.js';
import { every } from './every.js';

/** How often a node compares its roots with its peers'. */
export const peerCheckIntervalMsDefault = 2000;
/** A peer call that takes longer than this counts as unreachable. */
export const peerCallTimeoutMs = 5000;
/** Tree sizes whose peer roots are remembered for receipts. */
export const peerRootsCachedMax = 256;
/** Largest peer answer read, in bytes. */
export const peerAnswerBytesMax = 256 * 1024;

export type PeerConfig = { readonly nodeId: string; readonly url: string };

export type PeerView = {
  readonly nodeId: string;
  readonly url: string;
  /** 'agrees' / 'diverges' at `treeSize`, 'ahead' (signed beyond this node's tree), or 'unreachable'. */
  readonly state: 'agrees' | 'diverges' | 'ahead' | 'unreachable' | 'unknown';
  readonly treeSize?: number;
  readonly root?: string;
  readonly ownRoot?: string;
  readonly error?: string;
  readonly checkedAt?: number;
  /** The consortium no longer counts this node (retired): its roots weigh nothing. */
  readonly retired?: boolean;
};

export type PeerWatch = {
  readonly peers: () => readonly PeerView[];
  /**
   * The newest tree size every peer has signed, as last seen (undefined until each peer has
   * been seen signing one): a receipt against it can carry every node's signature.
   */
  readonly commonTreeSize: () => number | undefined;
  /** The peers' signed roots at `treeSize` (those that answer; remembered per tree size). */
  readonly rootsAt: (treeSize: number) => Promise<readonly SignedRoot[]>;
  readonly checkNow: () => Promise<void>;
  readonly stop: () => void;
};

export type PeerWatchOptions = {
  readonly engine: Engine;
  /** The peers now (the configuration in force may admit or retire nodes at any time). */
  readonly peers: () => readonly PeerConfig[];
  readonly msps: () => ReadonlyMap<string, Msp>;
  /** The mutual-TLS agent for calls to peers (peerAgent). */
  readonly agent: () => Agent;
  readonly logger: Logger;
  readonly intervalMs?: number;
  /**
   * Whether a peer's signed root still counts (governance: its node is admitted, of its MSP);
   * default all. A retired node's roots are neither added to receipts nor weighed against
   * this node's (it is still reported).
   */
  readonly countsAsNode?: (signed: SignedRoot) => boolean;
};

/** GET over the node-to-node mutual-TLS agent: the answer's status and bytes (at most bytesMax). */
export function getBytes(
  agent: Agent,
  url: string,
  bytesMax: number,
  timeoutMs: number = peerCallTimeoutMs,
): Promise<{ status: number; contentType: string; bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(url, { agent, timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      response.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > bytesMax) {
          request.destroy(new Error(`answer larger than ${bytesMax} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on('end', () => {
        resolve({
          status: response.statusCode ?? 0,
          contentType: response.headers['content-type'] ?? '',
          bytes: Buffer.concat(chunks),
        });
      });
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end();
  });
}

/** GET over the node-to-node mutual-TLS agent; the answer parsed as JSON (catchup.ts too). */
export async function getJson(
  agent: Agent,
  url: string,
  bytesMax: number = peerAnswerBytesMax,
  timeoutMs: number = peerCallTimeoutMs,
): Promise<{ status: number; body: unknown }> {
  const answer = await getBytes(agent, url, bytesMax, timeoutMs);
  return { status: answer.status, body: JSON.parse(answer.bytes.toString('utf8')) as unknown };
}

/** Each peer's signed root at `treeSize` (GET /v1/roots/N), from those that answer with one. */
export async function signedRootsAt(
  agent: Agent,
  peers: readonly PeerConfig[],
  treeSize: number,
): Promise<SignedRoot[]> {
  const answers = await Promise.all(
    peers.map(async (peer) => {
      try {
        const answer = await getJson(agent, `${peer.url}/v1/roots/${String(treeSize)}`);
        return answer.status === 200 ? [answer.body as SignedRoot] : [];
      } catch {
        return [];
      }
    }),
  );
  return answers.flat();
}

/**
 * A mutual-TLS agent for calls to peers, made anew whenever the trusted CAs change (an
 * organisation added by governance brings its TLS CA). Its identity is fixed.
 */
export function peerAgent(
  identity: { readonly cert: string; readonly key: string },
  trust: () => readonly string[],
): { readonly agent: () => Agent; readonly destroy: () => void } {
  let current: { readonly ca: string; readonly agent: Agent } | undefined;
  return {
    agent: () => {
      const ca = trust();
      const joined = ca.join('\n');
      if (current?.ca !== joined) {
        current?.agent.destroy();
        current = {
          ca: joined,
          agent: new Agent({ ...identity, ca: [...ca], keepAlive: true, maxSockets: 2 }),
        };
      }
      return current.agent;
    },
    destroy: () => {
      current?.agent.destroy();
      current = undefined;
    },
  };
}

/** Starts comparing roots with the peers every intervalMs. */
export function startPeerWatch(options: PeerWatchOptions): PeerWatch {
  const { engine, logger } = options;
  const views = new Map<string, PeerView>();
  /** The views of the peers now, in their order (new ones 'unknown' until checked). */
  const currentViews = (): PeerView[] =>
    options.peers().map((peer) => views.get(peer.nodeId) ?? { ...peer, state: 'unknown' });
  const reported = new Set<string>();

  const viewOf = async (peer: PeerConfig): Promise<PeerView> => {
    const base = { nodeId: peer.nodeId, url: peer.url, checkedAt: Date.now() };
    let signed: SignedRoot;
    try {
      const status = await getJson(options.agent(), `${peer.url}/v1/status`);
      const last = (status.body as { lastSignature?: { treeSize?: unknown } | null }).lastSignature;
      if (status.status !== 200 || last === null || last === undefined) {
        return { ...base, state: 'unknown' };
      }
      const treeSize = Number(last.treeSize);
      const own = engine.rootAt(treeSize);
      if (own === undefined) return { ...base, state: 'ahead', treeSize };
      const root = await getJson(options.agent(), `${peer.url}/v1/roots/${String(treeSize)}`);
      if (root.status !== 200) return { ...base, state: 'unknown', treeSize };
      signed = root.body as SignedRoot;
    } catch (error) {
      return { ...base, state: 'unreachable', error: String(error) };
    }
    // Only a root signed by a peer identity of a member organisation counts.
    const checked = verifySignedRoot(signed, options.msps());
    if (!checked.ok) {
      return {
        ...base,
        state: 'unreachable',
        error: `unverifiable signed root: ${checked.error.message}`,
      };
    }
    const ownRoot = engine.rootAt(signed.treeSize);
    if (ownRoot === undefined) return { ...base, state: 'ahead', treeSize: signed.treeSize };
    const counts = options.countsAsNode?.(signed) !== false;
    return {
      ...base,
      ...(counts ? {} : { retired: true }),
      state: ownRoot === signed.root ? 'agrees' : 'diverges',
      treeSize: signed.treeSize,
      root: signed.root,
      ownRoot,
    };
  };

  const checkNow = async (): Promise<void> => {
    const peers = options.peers();
    const checked = await Promise.all(peers.map(viewOf));
    views.clear();
    for (const view of checked) views.set(view.nodeId, view);
    const diverging = checked.filter((view) => view.state === 'diverges' && view.retired !== true);
    const agreeing = checked.filter((view) => view.state === 'agrees' && view.retired !== true);
    for (const view of diverging) {
      const key = `${view.nodeId}@${String(view.treeSize)}`;
      if (reported.has(key)) continue;
      reported.add(key);
      logger.error(
        {
          code: 'NODE_E_DIVERGED',
          peer: view.nodeId,
          treeSize: view.treeSize,
          peerRoot: view.root,
          ownRoot: view.ownRoot,
        },
        `ROOTS DIVERGE: node ${view.nodeId} signed root ${String(view.root)} at tree size ${String(view.treeSize)}, this node computed ${String(view.ownRoot)}`,
      );
    }
    // This node stops when the nodes that disagree with it are a majority of the network, or
    // are every peer that counts (two nodes that disagree both stop). One faulty peer while
    // another is unreachable is reported, not obeyed: it is not a majority.
    const counted = peers.length - checked.filter((view) => view.retired === true).length;
    const majority = Math.floor((counted + 1) / 2) + 1;
    if (
      diverging.length > 0 &&
      diverging.length > agreeing.length &&
      (diverging.length >= majority || diverging.length === counted)
    ) {
      const [first] = diverging;
      engine.halt(
        cofferError(
          'NODE_E_DIVERGED',
          `this node's Merkle root disagrees with ${diverging.length} of ${checked.length} peers ` +
            `(${diverging.map((view) => view.nodeId).join(', ')}; at tree size ${String(first?.treeSize)} ` +
            `they signed ${String(first?.root)}, this node computed ${String(first?.ownRoot)})`,
          {
            peers: diverging.map((view) => view.nodeId),
            treeSize: first?.treeSize,
          },
        ),
      );
    }
  };

  const task = every(options.intervalMs ?? peerCheckIntervalMsDefault, checkNow, (error) => {
    logger.warn({ error: String(error) }, 'comparing roots with peers failed');
  });

  // Peers' roots for receipts, by tree size. A peer that had not signed a size yet may have
  // since: a size some peer missed is asked again after a signature interval or so.
  const rootsCache = new Map<number, { at: number; roots: readonly SignedRoot[] }>();
  const rootsAt = async (treeSize: number): Promise<readonly SignedRoot[]> => {
    const cached = rootsCache.get(treeSize);
    if (
      cached !== undefined &&
      (cached.roots.length === options.peers().length || Date.now() - cached.at < 200)
    ) {
      return cached.roots;
    }
    const roots = (await signedRootsAt(options.agent(), options.peers(), treeSize)).filter(
      (signed) => options.countsAsNode === undefined || options.countsAsNode(signed),
    );
    rootsCache.delete(treeSize);
    rootsCache.set(treeSize, { at: Date.now(), roots });
    if (rootsCache.size > peerRootsCachedMax) {
      const oldest = rootsCache.keys().next();
      if (oldest.done !== true) rootsCache.delete(oldest.value);
    }
    return roots;
  };

  const commonTreeSize = (): number | undefined => {
    let common: number | undefined;
    for (const view of currentViews()) {
      if (view.retired === true) continue;
      if ((view.state !== 'agrees' && view.state !== 'ahead') || view.treeSize === undefined)
        return undefined;
      common = common === undefined ? view.treeSize : Math.min(common, view.treeSize);
    }
    return common;
  };

  return {
    peers: currentViews,
    commonTreeSize,
    rootsAt,
    checkNow,
    stop: () => {
      task.stop();
    },
  };
}

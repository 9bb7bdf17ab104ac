// The nodes table's rows: the configuration's nodes joined with what this node reports (its own
// attestation, how it sees each peer) and the join requests (each node's claimed attestation).
// Pure, so it is tested without a browser.
import type { Tone } from './describe.js';
import type { GovConfig, JoinRequest, NodeStatus, PeerView } from './types.js';

export type Word = { readonly word: string; readonly tone: Tone; readonly detail?: string };

export type NodeRow = {
  readonly nodeId: string;
  readonly mspId: string;
  readonly url?: string;
  readonly status: Word;
  /** How this node sees the peer (absent for itself and for nodes it does not watch). */
  readonly view?: Word;
  readonly codeId: string;
  readonly codeAllowed: boolean;
  readonly attestation?: { readonly provider: string; readonly source: string };
  readonly self: boolean;
};

function peerWord(peer: PeerView): Word {
  switch (peer.state) {
    case 'agrees':
      return {
        word: 'agrees',
        tone: 'ok',
        ...(peer.treeSize === undefined ? {} : { detail: `roots match at ${peer.treeSize}` }),
      };
    case 'diverges':
      return {
        word: 'diverges',
        tone: 'bad',
        ...(peer.treeSize === undefined ? {} : { detail: `different root at ${peer.treeSize}` }),
      };
    case 'ahead':
      return { word: 'ahead', tone: 'wait', detail: 'signed beyond this node' };
    case 'unreachable':
      return {
        word: 'unreachable',
        tone: 'bad',
        ...(peer.error === undefined ? {} : { detail: peer.error }),
      };
    case 'unknown':
      return { word: 'not checked yet', tone: 'wait' };
  }
}

/** Nodes by id: admitted ones first, then retired. */
export function nodeRows(
  config: GovConfig,
  joins: readonly JoinRequest[],
  status: NodeStatus,
): NodeRow[] {
  const rows = Object.values(config.nodes).map((node): NodeRow => {
    const self = node.nodeId === status.nodeId;
    const peer = status.peers?.find((item) => item.nodeId === node.nodeId);
    const join = joins.find((item) => item.nodeId === node.nodeId && item.mspId === node.mspId);
    const attestation =
      self && status.attestation !== undefined
        ? { provider: status.attestation.provider, source: 'this node’s status' }
        : join === undefined
          ? undefined
          : { provider: join.provider, source: 'its join request' };
    const admitted = node.status === 'admitted';
    return {
      nodeId: node.nodeId,
      mspId: node.mspId,
      ...(node.url === undefined ? {} : { url: node.url }),
      status: admitted ? { word: 'admitted', tone: 'ok' } : { word: 'retired', tone: 'bad' },
      ...(peer === undefined || self ? {} : { view: peerWord(peer) }),
      codeId: node.codeId,
      codeAllowed: config.codes.includes(node.codeId),
      ...(attestation === undefined ? {} : { attestation }),
      self,
    };
  });
  return rows.sort((a, b) => {
    const rank = (row: NodeRow) => (row.status.word === 'admitted' ? 0 : 1);
    if (rank(a) !== rank(b)) return rank(a) - rank(b);
    return a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0;
  });
}

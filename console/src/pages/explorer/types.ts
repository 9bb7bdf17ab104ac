// What the node's explorer routes answer (src/node/explorer.ts, explorer-routes.ts). Copied as
// types: the console's build cannot import the node's modules.

export type EntrySummary = {
  readonly seqno: number;
  readonly kind: 'tx' | 'signature' | 'genesis';
  readonly txId?: string;
  readonly app?: string;
  readonly action?: string;
  readonly signer?: {
    readonly mspId: string;
    readonly certId: string;
    readonly identityId: string;
  };
  readonly status?: 'Committed' | 'Invalid';
  readonly code?: string;
  readonly message?: string;
  /** The ordering batch and its time (ms), when this node saw it executed. */
  readonly logPosition?: number;
  readonly time?: number;
  /** Writes to public maps. */
  readonly writes?: number;
  readonly privateWrites?: boolean;
  /** Signature entries. */
  readonly treeSize?: number;
  readonly root?: string;
  readonly nodeId?: string;
  readonly mspId?: string;
  readonly signedAt?: number;
};

export type BatchSummary = {
  readonly logPosition: number;
  readonly time: number;
  readonly firstSeqno: number;
  readonly lastSeqno: number;
  readonly transactions: number;
  readonly invalid: number;
};

export type MetricsPoint = {
  /** The second (Unix time, s); the last point is the second in progress. */
  readonly t: number;
  readonly committed: number;
  readonly invalid: number;
  readonly commitLatencyP50Ms: number | null;
  readonly commitLatencyP99Ms: number | null;
};

export type EntriesAnswer = {
  readonly entries: readonly EntrySummary[];
  readonly next: number | null;
};
export type BatchesAnswer = {
  readonly batches: readonly BatchSummary[];
  readonly next: number | null;
};
export type MetricsAnswer = { readonly points: readonly MetricsPoint[] };
export type SearchAnswer = {
  readonly kind: 'tx' | 'identity' | 'key';
  readonly results: readonly EntrySummary[];
  /** The oldest seqno searched (1: the whole ledger). */
  readonly searchedFrom: number;
  readonly next: number | null;
  /** A transaction id accepted but not executed yet. */
  readonly pending?: boolean;
};

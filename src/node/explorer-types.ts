// What the explorer routes answer (explorer.ts, explorer-routes.ts), without imports: the web
// console's build imports these types too, so the page and the node cannot drift apart.

/** One ledger entry as the explorer shows it; private writes never appear (counted: no). */
export type EntrySummary = {
  readonly seqno: number;
  readonly kind: 'tx' | 'signature' | 'genesis';
  /** Transactions (absent when the envelope itself was unreadable). */
  readonly txId?: string;
  /** What the request asked for (also for a transaction refused before its signer was checked). */
  readonly app?: string;
  readonly action?: string;
  /** The signer execution verified: absent when the transaction failed before that check. */
  readonly signer?: {
    readonly mspId: string;
    readonly certId: string;
    readonly identityId: string;
  };
  readonly status?: 'Committed' | 'Invalid';
  readonly code?: string;
  readonly message?: string;
  /**
   * The ordering batch and its time (ms), when this node saw the batch executed; entries read
   * back from the ledger files (older than this node's start) do not record their batch.
   */
  readonly logPosition?: number;
  readonly time?: number;
  /** Writes to public maps (in clear in the ledger); private writes are encrypted. */
  readonly writes?: number;
  /** The transaction also wrote private maps (how many, and which keys, the ledger hides). */
  readonly privateWrites?: boolean;
  /** Signature entries: the tree they sign, by which node, when; the batch they follow. */
  readonly treeSize?: number;
  readonly root?: string;
  readonly nodeId?: string;
  readonly mspId?: string;
  readonly signedAt?: number;
  /** An evidence entry: the commit point whose state digest it records (decision 0038). */
  readonly snapshotSeqno?: number;
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
  /** Transactions executed in that second, committed and invalid (every one, wherever sent). */
  readonly committed: number;
  readonly invalid: number;
  /**
   * From this node accepting a submission to executing it, for the transactions submitted here
   * that executed in that second; null when there were none.
   */
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

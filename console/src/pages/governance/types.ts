// The shapes of what the governance pages read from the node: the `gov` app's queries
// (src/governance/app.ts) and the node's status. Types only (the pure helpers and their tests
// import them without the page's API client); the node is the authority.
export type ProposalState =
  'Open' | 'Accepted' | 'Rejected' | 'Withdrawn' | 'Expired' | 'Dropped' | 'Failed';

export type Ballot = {
  readonly ballot: 'yes' | 'no';
  readonly identityId: string;
  readonly time: number;
  readonly txId: string;
};

export type GovAction = { readonly name: string; readonly args: Readonly<Record<string, unknown>> };

export type Proposal = {
  readonly id: string;
  readonly proposer: { readonly mspId: string; readonly identityId: string };
  readonly actions: readonly GovAction[];
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly state: ProposalState;
  readonly ballots: Readonly<Record<string, Ballot>>;
  readonly closedAt?: number;
  readonly failure?: { readonly code: string; readonly message: string };
};

/** The `verdicts` query: the constitution's verdict now, by its own resolve. */
export type Verdict = {
  readonly proposalId: string;
  readonly state: ProposalState;
  readonly resolution?: 'Open' | 'Accepted' | 'Rejected';
  readonly yes: readonly string[];
  readonly no: readonly string[];
  readonly pending: readonly string[];
  readonly notCounted: readonly string[];
  readonly yesNeeded?: number;
  readonly acceptedByYesOf?: readonly string[];
};

export type ConstitutionSummary =
  | { readonly kind: 'majority' }
  | { readonly kind: 'policy'; readonly policy: string }
  | { readonly kind: 'js'; readonly sourceBytes: number };

export type Verdicts = {
  readonly constitution: ConstitutionSummary;
  readonly members: readonly string[];
  readonly verdicts: readonly Verdict[];
};

export type Settings = {
  readonly signatureIntervalTx: number;
  readonly signatureIntervalMs: number;
  readonly snapshotIntervalTx: number;
  readonly proposalTtlMs: number;
  readonly requestBytesMax?: number;
};

export type NodeRecord = {
  readonly nodeId: string;
  readonly mspId: string;
  readonly codeId: string;
  readonly status: 'admitted' | 'retired';
  readonly url?: string;
};

/** An MSP definition as the configuration stores it (PEM strings). */
export type MspJson = {
  readonly mspId: string;
  readonly rootCerts?: readonly string[];
  readonly intermediateCerts?: readonly string[];
  readonly admins?: readonly string[];
  readonly revocationList?: readonly string[];
  readonly organizationalUnitIdentifiers?: readonly OuJson[];
  readonly nodeOus?: NodeOusJson;
  readonly tlsRootCerts?: readonly string[];
  readonly tlsIntermediateCerts?: readonly string[];
};

export type OuJson = {
  readonly organizationalUnitIdentifier: string;
  readonly certificate?: string;
};

export type NodeOusJson = {
  readonly enable: boolean;
  readonly clientOuIdentifier?: OuJson;
  readonly peerOuIdentifier?: OuJson;
  readonly adminOuIdentifier?: OuJson;
  readonly ordererOuIdentifier?: OuJson;
};

export type GovConfig = {
  readonly msps: Readonly<Record<string, MspJson>>;
  readonly members: readonly string[];
  readonly nodes: Readonly<Record<string, NodeRecord>>;
  readonly codes: readonly string[];
  readonly settings: Settings;
  readonly constitution:
    | { readonly kind: 'majority' }
    | { readonly kind: 'policy'; readonly policy: string }
    | { readonly kind: 'js'; readonly source: string };
  readonly custody: Readonly<Record<string, unknown>>;
};

export type JoinRequest = {
  readonly nodeId: string;
  readonly mspId: string;
  readonly identityId: string;
  readonly codeId: string;
  readonly provider: string;
  readonly url?: string;
  readonly requestedAt: number;
  readonly txId: string;
  readonly admitted: boolean;
  readonly codeAllowed: boolean;
};

export type PeerView = {
  readonly nodeId: string;
  readonly url: string;
  readonly state: 'agrees' | 'diverges' | 'ahead' | 'unreachable' | 'unknown';
  readonly treeSize?: number;
  readonly error?: string;
  readonly checkedAt?: number;
  readonly retired?: boolean;
};

/** The parts of GET /v1/status the nodes page shows. */
export type NodeStatus = {
  readonly nodeId: string;
  readonly attestation?: {
    readonly provider: string;
    readonly codeId: string;
    readonly note: string;
    readonly evidence?: string;
  };
  readonly admission?: { readonly admitted: boolean; readonly reason: string };
  readonly peers?: readonly PeerView[];
};

/** The `check` query's answer: propose would accept these actions now. */
export type CheckAnswer = {
  readonly valid: true;
  readonly actions: number;
  readonly expiresInMs: number;
  readonly constitutionChanged: boolean;
  readonly openProposals: number;
  readonly openProposalsMax: number;
  readonly resolution: 'Open' | 'Accepted' | 'Rejected';
};

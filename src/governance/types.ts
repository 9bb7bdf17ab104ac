// Types of proposals and ballots, shared by the constitution, the actions and the app.

export type ProposalState =
  | 'Open'
  | 'Accepted'
  | 'Rejected'
  | 'Withdrawn'
  | 'Expired'
  /** Another proposal changed the constitution while this one was open. */
  | 'Dropped'
  /** Accepted, but its actions no longer applied to the configuration of that moment. */
  | 'Failed';

export const proposalStates: readonly ProposalState[] = [
  'Open',
  'Accepted',
  'Rejected',
  'Withdrawn',
  'Expired',
  'Dropped',
  'Failed',
];

/** What a constitution's resolve may answer. */
export type Resolution = 'Open' | 'Accepted' | 'Rejected';

export type Ballot = 'yes' | 'no';

export type BallotRecord = {
  readonly ballot: Ballot;
  /** The admin identity (Fabric identity id) whose transaction cast it. */
  readonly identityId: string;
  readonly time: number;
  /** The vote transaction. */
  readonly txId: string;
};

/** One governance action, CCF style: a name and its arguments. */
export type GovAction = { readonly name: string; readonly args: Readonly<Record<string, unknown>> };

export type Proposal = {
  /** The txId of the propose transaction. */
  readonly id: string;
  readonly proposer: { readonly mspId: string; readonly identityId: string };
  readonly actions: readonly GovAction[];
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly state: ProposalState;
  /** One ballot per member organisation, by MSP ID: an admin's later ballot replaces it. */
  readonly ballots: Readonly<Record<string, BallotRecord>>;
  /** When the proposal left 'Open' (batch time). */
  readonly closedAt?: number;
  /** For 'Failed': why its actions did not apply. */
  readonly failure?: { readonly code: string; readonly message: string };
};

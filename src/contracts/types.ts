// The app interface: built-in apps are trusted TypeScript modules behind it; sandboxed user
// apps (contracts issue) will stand beside them. Apps are pure: they read and write the KV
// store through the context and never see a clock, randomness, files or the network.
/** The NodeOU role of the caller (as msp's NodeOuRole; contracts do not depend on msp). */
export type CallerRole = 'client' | 'peer' | 'admin' | 'orderer';

/** Who signed the transaction, as checked by the caller's MSP at this ledger position. */
export type Caller = {
  readonly mspId: string;
  /** Fabric identity id (hex SHA-256 of the certificate). */
  readonly identityId: string;
  readonly role: CallerRole | null;
  /** Satisfies the ROLE ADMIN principal of its MSP. */
  readonly isAdmin: boolean;
};

export type KvView = {
  readonly get: (map: string, key: string) => string | undefined;
};

export type KvWriter = KvView & {
  readonly put: (map: string, key: string, value: string) => void;
  readonly delete: (map: string, key: string) => void;
};

export type ActionContext = {
  readonly caller: Caller;
  /** Other identities that co-signed the request (envelope endorsements), checked like the caller. */
  readonly endorsers?: readonly Caller[];
  readonly txId: string;
  /** The batch time recorded by the ordering node: the only clock an app sees. */
  readonly time: number;
  readonly kv: KvWriter;
  /** Reads any `public:` map (public data is in clear in the ledger anyway), e.g. oracle points. */
  readonly readPublic?: (map: string, key: string) => string | undefined;
  /**
   * Runs another app's action in this transaction, with that app's maps; its writes are kept
   * only if it succeeds (a failure throws its CofferError and leaves nothing behind).
   */
  readonly invoke?: (
    app: string,
    action: string,
    args: Readonly<Record<string, unknown>>,
    trigger: string,
  ) => unknown;
  /** Set when an oracle point of this feed triggered the call (see oracles.ts). */
  readonly trigger?: string;
  /**
   * The ordering log position of the batch (batch execution only): the same on every node, so
   * an app may number its blocks by it (the EVM app, decision 0025).
   */
  readonly block?: number;
  /**
   * The identity whose certificate the ledger knows as `certId` (hex SHA-256 of its DER), as
   * its MSP sees it at this ledger position; undefined when it is no valid identity (unknown,
   * revoked, expired, or its MSP left). Batch execution only.
   */
  readonly identityOf?: (mspId: string, certId: string) => Caller | undefined;
};

export type QueryContext = {
  readonly caller: Caller | undefined;
  readonly kv: KvView;
  readonly readPublic?: (map: string, key: string) => string | undefined;
};

/** JSON Schema (draft 2020-12 subset) of an action's arguments, for docs and OpenAPI. */
export type ArgsSchema = Readonly<Record<string, unknown>>;

export type Action = {
  readonly summary: string;
  readonly args: ArgsSchema;
  /**
   * The action's result, or a promise of it (decision 0025: batch execution awaits it before
   * the next transaction; `invoke` and the local harness take synchronous actions only).
   */
  readonly run: (context: ActionContext, args: Readonly<Record<string, unknown>>) => unknown;
};

export type Query = {
  readonly summary: string;
  readonly args: ArgsSchema;
  readonly run: (context: QueryContext, args: Readonly<Record<string, unknown>>) => unknown;
};

export type App = {
  readonly name: string;
  readonly version: string;
  readonly summary: string;
  readonly actions: Readonly<Record<string, Action>>;
  readonly queries: Readonly<Record<string, Query>>;
};

export type AppRegistry = ReadonlyMap<string, App>;

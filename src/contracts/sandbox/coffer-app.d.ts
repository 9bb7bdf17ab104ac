// Types of `@coffer/app`, the module a sandboxed Coffer app imports (decision 0014). The
// sandbox provides it at run time; `coffer app build` leaves the import to the sandbox.
// Endpoints are exported functions `(args, app) => result`, synchronous, returning JSON.
declare module '@coffer/app' {
  /** The signer of the transaction, as its MSP validated it at this ledger position. */
  export type Caller = {
    readonly mspId: string;
    /** Fabric identity id: hex SHA-256 of the certificate. */
    readonly identityId: string;
    /** NodeOU role, null without NodeOUs. */
    readonly role: 'client' | 'peer' | 'admin' | 'orderer' | null;
    readonly isAdmin: boolean;
  };

  /** One KV map of this app: private (`<app>.<name>`) or public (`public:<app>.<name>`). */
  export type KvMap = {
    readonly name: string;
    get(key: string): string | undefined;
    // The author names the type stored under a key, as with JSON.parse.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
    getJson<T = unknown>(key: string): T | undefined;
    has(key: string): boolean;
    put(key: string, value: string): void;
    putJson(key: string, value: unknown): void;
    delete(key: string): void;
  };

  /** The latest point of an oracle feed, with its age at the batch time. */
  export type OraclePoint<T = unknown> = {
    readonly feed: string;
    readonly value: T;
    /** When the publisher observed the value (ms since the epoch). */
    readonly time: number;
    /** Batch time minus `time`, in ms (null in queries, which have no batch time). */
    readonly ageMs: number | null;
    readonly publisher: string;
    readonly seq: number;
    readonly txId: string;
  };

  /** A private map: encrypted in the ledger files, readable only through this app. */
  export function map(name: string): KvMap;
  /** A public map: in clear in the ledger, readable by anyone with GET /v1/state. */
  export function publicMap(name: string): KvMap;
  /** The caller; null in a query made without an MSP identity. */
  export function caller(): Caller | null;
  /** The transaction id (null in queries). */
  export function txId(): string | null;
  /** The batch time in ms: the only clock an app sees (null in queries). There is no Date. */
  export function time(): number | null;
  export function isReadonly(): boolean;
  /** A log line kept with the call's outcome on this node (at most 32 per call). */
  export function log(...parts: unknown[]): void;
  /** Deterministic: seeded from the transaction id and endpoint (Math.random is the same). */
  export function random(): number;
  /** Refuses the call: the transaction is invalid with APP_E_REJECTED and this code. */
  export function fail(code: string, message: string): never;
  /** The latest point of an oracle feed, if one was published. */
  export function oracle<T = unknown>(feed: string): OraclePoint<T> | undefined;
  /** ISO 8601 UTC text of a time in ms (there is no Date in the sandbox). */
  export function isoTime(ms: number): string;
}

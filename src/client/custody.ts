// Custody helpers of the SDK (issue 7): each write signs the custody action with the client's
// own identity and sends the envelope to its `/v1/custody/...` route (a node never holds a
// service's key); reads call the GET routes, which answer as the TLS client identity.
import { cofferError } from '../errors/index.js';
import { envelopeToJson } from '../ledger/tx.js';
import { createNodeHttp, type ClientOptions, type TxResult } from './client.js';
import { signEnvelope } from './envelope.js';
import type { Signer } from './signer.js';

/** Requests in flight per custody client. */
export const custodySocketsMax = 16;

export type CustodyKeys = {
  /** SEC1 uncompressed public keys, hex. */
  readonly offline: string;
  readonly service: string;
  readonly platform: {
    readonly keyId: string;
    readonly publicKey: string;
    readonly curve: 'secp256k1' | 'P-256';
  };
};

export type WithdrawalRequest = {
  readonly walletId: string;
  readonly asset: string;
  readonly amount: string;
  readonly destination: string;
  /** The same key returns the same withdrawal (a retried request creates nothing new). */
  readonly idempotencyKey: string;
  readonly memo?: string;
};

export type WriteOptions = { readonly wait?: 'none' | 'commit'; readonly timeoutMs?: number };

export type CustodyClient = {
  readonly createWallet: (
    args: {
      readonly chain: 'coffer' | 'ethereum' | 'bitcoin';
      readonly keys: CustodyKeys;
      readonly label?: string;
      readonly curve?: 'secp256k1' | 'P-256';
    },
    options?: WriteOptions,
  ) => Promise<TxResult>;
  readonly addAddress: (
    walletId: string,
    args: { readonly address: string; readonly account?: string; readonly path?: string },
    options?: WriteOptions,
  ) => Promise<TxResult>;
  readonly requestWithdrawal: (
    request: WithdrawalRequest,
    options?: WriteOptions,
  ) => Promise<TxResult>;
  readonly approve: (withdrawalId: string, options?: WriteOptions) => Promise<TxResult>;
  /**
   * The service's half of a built withdrawal: signs its recorded digests with `sign` (the
   * service's key, e.g. `(await openSoftKeyStore(…)).signer(keyId)` for a key-store file or
   * `openPkcs11KeyStore` for the service's own PKCS#11 module) and records the signatures.
   */
  readonly serviceSign: (
    withdrawalId: string,
    sign: Signer,
    options?: WriteOptions,
  ) => Promise<TxResult>;
  /** serviceSign for every withdrawal of the wallet that is built; the ids it signed. */
  readonly signBuilt: (walletId: string, sign: Signer) => Promise<string[]>;
  readonly reject: (
    withdrawalId: string,
    reason?: string,
    options?: WriteOptions,
  ) => Promise<TxResult>;
  readonly proposePolicy: (
    walletId: string,
    change: Readonly<Record<string, unknown>>,
    options?: WriteOptions,
  ) => Promise<TxResult>;
  readonly approvePolicy: (changeId: string, options?: WriteOptions) => Promise<TxResult>;
  readonly rejectPolicy: (
    changeId: string,
    reason?: string,
    options?: WriteOptions,
  ) => Promise<TxResult>;
  readonly wallets: (owner?: string) => Promise<Record<string, unknown>>;
  readonly wallet: (walletId: string) => Promise<Record<string, unknown>>;
  readonly balances: (walletId: string) => Promise<Record<string, unknown>>;
  readonly addresses: (walletId: string) => Promise<Record<string, unknown>>;
  readonly whitelist: (walletId: string) => Promise<Record<string, unknown>>;
  readonly policy: (walletId: string) => Promise<Record<string, unknown>>;
  readonly withdrawal: (withdrawalId: string) => Promise<Record<string, unknown>>;
  readonly withdrawals: (filter: {
    readonly walletId?: string;
    readonly state?: string;
    readonly chain?: string;
  }) => Promise<Record<string, unknown>>;
  readonly pendingApprovals: () => Promise<Record<string, unknown>>;
  /** Every wallet of a chain in creation order from index `cursor` (workers, MSP admins). */
  readonly chainWallets: (chain: string, cursor?: number) => Promise<Record<string, unknown>>;
  readonly deposits: (walletId: string, state?: string) => Promise<Record<string, unknown>>;
  /** Which wallet and account (customer) a deposit address belongs to. */
  readonly address: (chain: string, address: string) => Promise<Record<string, unknown>>;
  /** Audit history with each step's receipt inline. */
  readonly history: (
    kind: 'wallet' | 'withdrawal' | 'deposit' | 'policy',
    id: string,
  ) => Promise<Record<string, unknown>>;
  readonly close: () => void;
};

function queryString(values: Readonly<Record<string, string | undefined>>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values))
    if (value !== undefined) params.set(key, value);
  const text = params.toString();
  return text.length === 0 ? '' : `?${text}`;
}

/** Withdrawals `signBuilt` signs at once (each waits for its commit). */
export const signBuiltInFlightMax = 8;

/** A custody client over the same options as `createClient`. */
export function createCustodyClient(options: ClientOptions): CustodyClient {
  const { call, expectOk, close } = createNodeHttp(options, custodySocketsMax);

  const write = async (
    route: string,
    action: string,
    args: Readonly<Record<string, unknown>>,
    writeOptions: WriteOptions = {},
  ): Promise<TxResult> => {
    const { envelope } = await signEnvelope({
      app: 'custody',
      action,
      args,
      identity: options.identity,
      signer: options.signer,
    });
    const query = queryString({
      wait: writeOptions.wait ?? 'commit',
      timeoutMs: writeOptions.timeoutMs?.toString(),
    });
    return expectOk(await call('POST', `${route}${query}`, envelopeToJson(envelope))) as TxResult;
  };
  const read = async (path: string): Promise<Record<string, unknown>> =>
    expectOk(await call('GET', path)) as Record<string, unknown>;
  const at = (value: string): string => encodeURIComponent(value);
  const root = '/v1/custody';

  const serviceSign = async (
    withdrawalId: string,
    sign: Signer,
    writeOptions?: WriteOptions,
  ): Promise<TxResult> => {
    const answer = await read(`${root}/withdrawals/${at(withdrawalId)}`);
    const record = answer['withdrawal'] as
      { state?: string; digests?: readonly string[] | null } | undefined;
    const digests: unknown = record?.digests;
    if (
      record?.state !== 'built' ||
      !Array.isArray(digests) ||
      !digests.every((digest): digest is string => typeof digest === 'string')
    ) {
      throw cofferError(
        'CUSTODY_E_BAD_STATE',
        `withdrawal ${withdrawalId} is ${String(record?.state)}, not built: only a built withdrawal has digests to sign`,
        { withdrawalId, state: record?.state },
      );
    }
    const signatures: string[] = [];
    for (const digest of digests)
      signatures.push(
        Buffer.from(await sign(new Uint8Array(Buffer.from(digest, 'hex')))).toString('hex'),
      );
    return write(
      `${root}/withdrawals/${at(withdrawalId)}/service-signature`,
      'service_sign',
      { withdrawalId, signatures },
      writeOptions,
    );
  };

  return {
    createWallet: (args, writeOptions) =>
      write(
        `${root}/wallets`,
        'create_wallet',
        {
          chain: args.chain,
          keys: args.keys,
          ...(args.label === undefined ? {} : { label: args.label }),
          ...(args.curve === undefined ? {} : { curve: args.curve }),
        },
        writeOptions,
      ),
    addAddress: (walletId, args, writeOptions) =>
      write(
        `${root}/wallets/${at(walletId)}/addresses`,
        'add_address',
        { walletId, ...args },
        writeOptions,
      ),
    requestWithdrawal: (request, writeOptions) =>
      write(`${root}/withdrawals`, 'request', { ...request }, writeOptions),
    serviceSign: (withdrawalId, sign, writeOptions) =>
      serviceSign(withdrawalId, sign, writeOptions),
    signBuilt: async (walletId, sign) => {
      const answer = await read(`${root}/withdrawals${queryString({ walletId, state: 'built' })}`);
      const queue = [...((answer['withdrawals'] ?? []) as { id: string }[])];
      const signed: string[] = [];
      // A few at a time: each waits for its commit.
      const lane = async (): Promise<void> => {
        for (let record = queue.shift(); record !== undefined; record = queue.shift()) {
          const result = await serviceSign(record.id, sign);
          if (result.status !== 'Committed') {
            throw cofferError(
              result.code ?? 'CUSTODY_E_BAD_STATE',
              `service_sign of withdrawal ${record.id}: ${result.message ?? result.status}`,
            );
          }
          signed.push(record.id);
        }
      };
      await Promise.all(Array.from({ length: signBuiltInFlightMax }, lane));
      return signed;
    },
    approve: (withdrawalId, writeOptions) =>
      write(
        `${root}/withdrawals/${at(withdrawalId)}/approve`,
        'approve',
        { withdrawalId },
        writeOptions,
      ),
    reject: (withdrawalId, reason, writeOptions) =>
      write(
        `${root}/withdrawals/${at(withdrawalId)}/reject`,
        'reject',
        { withdrawalId, ...(reason === undefined ? {} : { reason }) },
        writeOptions,
      ),
    proposePolicy: (walletId, change, writeOptions) =>
      write(
        `${root}/wallets/${at(walletId)}/policy-changes`,
        'propose_policy',
        { walletId, change },
        writeOptions,
      ),
    approvePolicy: (changeId, writeOptions) =>
      write(
        `${root}/policy-changes/${at(changeId)}/approve`,
        'approve_policy',
        { changeId },
        writeOptions,
      ),
    rejectPolicy: (changeId, reason, writeOptions) =>
      write(
        `${root}/policy-changes/${at(changeId)}/reject`,
        'reject_policy',
        { changeId, ...(reason === undefined ? {} : { reason }) },
        writeOptions,
      ),
    wallets: (owner) => read(`${root}/wallets${queryString({ owner })}`),
    wallet: (walletId) => read(`${root}/wallets/${at(walletId)}`),
    balances: (walletId) => read(`${root}/wallets/${at(walletId)}/balances`),
    addresses: (walletId) => read(`${root}/wallets/${at(walletId)}/addresses`),
    whitelist: (walletId) => read(`${root}/wallets/${at(walletId)}/whitelist`),
    policy: (walletId) => read(`${root}/wallets/${at(walletId)}/policy`),
    withdrawal: (withdrawalId) => read(`${root}/withdrawals/${at(withdrawalId)}`),
    withdrawals: (filter) => read(`${root}/withdrawals${queryString({ ...filter })}`),
    pendingApprovals: () => read(`${root}/approvals/pending`),
    chainWallets: (chain, cursor) =>
      read(
        `${root}/chains/${at(chain)}/wallets${queryString({ cursor: cursor === undefined ? undefined : String(cursor) })}`,
      ),
    address: (chain, address) => read(`${root}/addresses/${at(chain)}/${at(address)}`),
    deposits: (walletId, state) => read(`${root}/deposits${queryString({ walletId, state })}`),
    // Deposit ids hold slashes (<chain>/<chainTxId>/<n>): the path keeps them.
    history: (kind, id) => read(`${root}/history/${kind}/${id.split('/').map(at).join('/')}`),
    close,
  };
}

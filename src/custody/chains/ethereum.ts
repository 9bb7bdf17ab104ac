// The Ethereum chain worker (issue 8, decision 0022), an IO edge over a JSON-RPC node. A
// wallet's deposit address is its own Safe 1.4.1 proxy (owners: the addresses of the offline,
// service and platform keys; threshold m), deployed through SafeProxyFactory with the wallet id
// as saltNonce, so its address follows from the keys and the id alone. A withdrawal is a SafeTx
// (safe.ts) at the Safe's current nonce; the keys sign its EIP-712 hash; a relayer account
// (the worker's own gas key, no custody of funds) sends execTransaction. Deposits are the
// Safes' `SafeReceived` events (direct and internal transfers alike), reported with their
// confirmations until the configured depth, then scanned past.
import { Agent } from 'node:https';
import { createRequire } from 'node:module';
import {
  Contract,
  ContractFactory,
  FetchRequest,
  Interface,
  JsonRpcProvider,
  Wallet,
  getAddress,
  type JsonRpcApiProviderOptions,
  type Log,
  type Provider,
  type TransactionReceipt,
  type TransactionRequest,
  type TransactionResponse,
} from 'ethers';
import { cofferError } from '../../errors/index.js';
import type { WalletRecord, WithdrawalRecord } from '../types.js';
import { addressRegistrar, oneAtATime } from './register.js';
import type {
  BuiltTx,
  ChainTxStatus,
  ChainWorker,
  DepositScan,
  LedgerPort,
  SeenDeposit,
} from './types.js';
import {
  callSafeTx,
  decodeSafeTxEnvelope,
  encodeSafeTxEnvelope,
  erc20TransferData,
  execTransactionArgs,
  ownerAddressOf,
  packSafeSignatures,
  safeInitializer,
  safeProxyAddress,
  safeSignatureOf,
  safeTxHash,
  type SafeTxEnvelope,
} from './safe.js';

/** Blocks one deposit scan reads (one eth_getLogs range; public nodes cap ranges near this). */
export const ethereumScanBlocksMax = 1000;
/** How long prepareWallet waits for its Safe's deployment to be mined. */
export const ethereumDeployWaitMsMax = 120_000;
/** Fee raise of a replacement, percent (geth and anvil take a replacement from +10 %). */
export const ethereumFeeBumpPercent = 25n;
/** Relayer transactions remembered for replacement. */
export const ethereumSentTxsKeptMax = 1024;
/** How often a receipt is polled for, ms. */
export const ethereumPollMsDefault = 1000;
/** Safes named in one eth_getLogs filter. */
export const ethereumSafesPerQueryMax = 500;
/** Default confirmation depth: beyond it a reorganisation is not expected (post-merge: finality
 * arrives after two epochs, 64 blocks; 12 is the customary exchange depth before finality). */
export const ethereumConfirmationsDefault = 12;
/** Withdrawal states that hold a built SafeTx which may still execute. */
const builtOpenStates = ['built', 'service_signed', 'platform_signed', 'broadcast'] as const;
/** Withdrawal states after which its SafeTx is never sent (again). */
const endedStates: readonly string[] = ['confirmed', 'failed', 'rejected', 'expired'];
/** The asset name of ether; amounts are in wei. */
export const etherAsset = 'ETH';

const artifactRoot = '@safe-global/safe-contracts/build/artifacts/contracts';
type Artifact = { readonly abi: unknown[]; readonly bytecode: string };
const require = createRequire(import.meta.url);
/** A Safe 1.4.1 build artifact (ABI and creation bytecode), read lazily from the package. */
export function safeArtifact(
  name: 'Safe' | 'SafeL2' | 'SafeProxyFactory' | 'SafeProxy' | 'CompatibilityFallbackHandler',
): Artifact {
  const file = {
    Safe: 'Safe.sol/Safe.json',
    SafeL2: 'SafeL2.sol/SafeL2.json',
    SafeProxyFactory: 'proxies/SafeProxyFactory.sol/SafeProxyFactory.json',
    SafeProxy: 'proxies/SafeProxy.sol/SafeProxy.json',
    CompatibilityFallbackHandler:
      'handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json',
  }[name];
  return require(`${artifactRoot}/${file}`) as Artifact;
}

/** Where the Safe contracts are on the chain. */
export type SafeDeployment = {
  readonly singleton: string;
  readonly factory: string;
  readonly fallbackHandler: string;
};

/**
 * Deploys the Safe singleton (SafeL2: it emits events for every execution, which indexers
 * read), SafeProxyFactory and CompatibilityFallbackHandler from the package's artifacts with
 * `deployer` paying: for test and private chains; on public chains use the canonical
 * deployments (safe-deployments) instead.
 */
export async function deploySafeContracts(deployer: Wallet): Promise<SafeDeployment> {
  const provider = deployer.provider;
  if (provider === null) throw new Error('the deployer needs a provider');
  let nonce = await provider.getTransactionCount(deployer.address, 'pending');
  const deploy = async (name: 'SafeL2' | 'SafeProxyFactory' | 'CompatibilityFallbackHandler') => {
    const artifact = safeArtifact(name);
    const contract = await new ContractFactory(
      artifact.abi as never,
      artifact.bytecode,
      deployer,
    ).deploy({ nonce });
    nonce += 1;
    const hash = contract.deploymentTransaction()?.hash;
    if (hash === undefined) throw new Error(`${name}: no deployment transaction`);
    await receiptOf(provider, hash, ethereumDeployWaitMsMax);
    return getAddress(await contract.getAddress());
  };
  // One after the other, with explicit nonces: the deployer's nonces must not race.
  const singleton = await deploy('SafeL2');
  const factory = await deploy('SafeProxyFactory');
  const fallbackHandler = await deploy('CompatibilityFallbackHandler');
  return { singleton, factory, fallbackHandler };
}

const safeAbi = new Interface(safeArtifact('Safe').abi as never);
const factoryAbi = new Interface(safeArtifact('SafeProxyFactory').abi as never);
const safeReceivedTopic = safeAbi.getEvent('SafeReceived')?.topicHash ?? '';
const executionSuccessTopic = safeAbi.getEvent('ExecutionSuccess')?.topicHash ?? '';
const erc20Abi = new Interface([
  'event Transfer(address indexed from, address indexed to, uint256 value)',
]);
const transferTopic = erc20Abi.getEvent('Transfer')?.topicHash ?? '';

/** The owner addresses of a wallet's Safe: its three keys as Ethereum accounts. */
export function walletOwners(wallet: WalletRecord): readonly string[] {
  if (wallet.chain !== 'ethereum' || wallet.curve !== 'secp256k1')
    throw new Error(
      `ethereum worker invariant: wallet ${wallet.id} is ${wallet.chain}/${wallet.curve}`,
    );
  return [wallet.keys.offline, wallet.keys.service, wallet.keys.platform.publicKey].map(
    ownerAddressOf,
  );
}

/** The Safe a wallet deploys to: its address and the factory call that deploys it. */
export function walletSafe(
  deployment: SafeDeployment,
  wallet: WalletRecord,
): { readonly address: string; readonly initializer: string; readonly saltNonce: bigint } {
  const initializer = safeInitializer(
    walletOwners(wallet),
    wallet.threshold.m,
    deployment.fallbackHandler,
  );
  const saltNonce = BigInt(`0x${wallet.id}`);
  const address = safeProxyAddress({
    factory: deployment.factory,
    singleton: deployment.singleton,
    proxyCreationCode: safeArtifact('SafeProxy').bytecode,
    initializer,
    saltNonce,
  });
  return { address, initializer, saltNonce };
}

export type EthereumChainOptions = {
  readonly rpcUrl: string;
  /** Private key (0x hex) of the relayer: pays gas for deployments and execTransaction. */
  readonly relayerKey: string;
  readonly safe: SafeDeployment;
  /** Depth at which deposits are final and scanned past (default ethereumConfirmationsDefault). */
  readonly confirmations?: number;
  /** ERC-20 assets custody takes: symbol → token contract. ETH is always taken. */
  readonly tokens?: Readonly<Record<string, string>>;
  /** Block the scan starts at without a cursor (default 0; on a public chain: the deployment's). */
  readonly startBlock?: number;
  /** Safes to watch from the start (after a restart: every ethereum wallet's address). */
  readonly knownSafes?: readonly string[];
  /** When given, prepareWallet registers the Safe as the wallet's address (add_address). */
  readonly ledger?: LedgerPort;
  /** Polling interval of the provider, ms (tests: short). */
  readonly pollingMs?: number;
  /** Client TLS towards an https node that demands a client certificate (a Coffer node). */
  readonly tls?: EthereumTls;
};

export type EthereumChain = ChainWorker & {
  /**
   * Whether a deposit reported earlier is still in the block it was seen in: false when a
   * reorganisation dropped its transaction or moved it to another block (a rescan reports it
   * there again). The worker loop reports a dropped one with `deposit_dropped`.
   */
  readonly depositInBlock: (deposit: {
    readonly chainTxId: string;
    readonly block: { readonly hash: string };
  }) => Promise<boolean>;
  /** Replaces a stuck relayer transaction (same nonce, higher fees); the replacement's hash. */
  readonly replaceStuck: (chainTxId: string) => Promise<string>;
  readonly provider: JsonRpcProvider;
  readonly relayer: Wallet;
  /** Stops the provider's polling and closes its connections (the TLS agent's sockets). */
  readonly close: () => void;
};

/** A cursor of the deposit scan: the first block not yet scanned past. */
function cursorBlock(cursor: string | null, startBlock: number): number {
  if (cursor === null) return startBlock;
  if (!/^(?:0|[1-9][0-9]{0,15})$/.test(cursor))
    throw cofferError(
      'CUSTODY_E_WORKER_STATE_CORRUPT',
      `ethereum scan cursor ${cursor} is not a block number`,
    );
  return Number(cursor);
}

/**
 * Client TLS towards a JSON-RPC node behind mutual TLS, as PEM text: a Coffer node's
 * `/v1/evm/rpc` takes only clients with a member's TLS certificate. `servername` is the name
 * the server's certificate must carry when the URL names it otherwise (e.g. 127.0.0.1).
 */
export type EthereumTls = {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  readonly servername?: string;
};

/** A provider over its own mutual-TLS agent: destroying the provider closes the agent too. */
class TlsJsonRpcProvider extends JsonRpcProvider {
  readonly #agent: Agent;

  constructor(rpcUrl: string, tls: EthereumTls, options: JsonRpcApiProviderOptions) {
    const agent = new Agent({
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    });
    const connection = new FetchRequest(rpcUrl);
    connection.getUrlFunc = FetchRequest.createGetUrlFunc({ agent });
    super(connection, undefined, options);
    this.#agent = agent;
  }

  override destroy(): void {
    super.destroy();
    this.#agent.destroy();
  }
}

/**
 * A JSON-RPC provider as custody needs it: the network fixed (no chain-id probe per call), one
 * request at a time (JSON-RPC batches hide which call failed), and no answer cache (a cached
 * nonce or block number is a wrong one). With `tls`, it presents a client certificate (the URL
 * must be https).
 */
export function ethereumProvider(
  rpcUrl: string,
  pollMs: number = ethereumPollMsDefault,
  tls?: EthereumTls,
): JsonRpcProvider {
  const options: JsonRpcApiProviderOptions = {
    staticNetwork: true,
    pollingInterval: pollMs,
    batchMaxCount: 1,
    cacheTimeout: -1,
  };
  if (tls === undefined) return new JsonRpcProvider(rpcUrl, undefined, options);
  if (!rpcUrl.startsWith('https://'))
    throw new Error(`client TLS needs an https URL of the JSON-RPC node, not ${rpcUrl}`);
  return new TlsJsonRpcProvider(rpcUrl, tls, options);
}

/** The Ethereum chain worker. */
export function createEthereumChain(options: EthereumChainOptions): EthereumChain {
  const depth = options.confirmations ?? ethereumConfirmationsDefault;
  const pollMs = options.pollingMs ?? ethereumPollMsDefault;
  if (!Number.isInteger(depth) || depth < 1) throw new Error('confirmations must be ≥ 1');
  const provider = ethereumProvider(options.rpcUrl, pollMs, options.tls);
  const relayer = new Wallet(options.relayerKey, provider);
  const tokens = new Map<string, string>(
    Object.entries(options.tokens ?? {}).map(([symbol, address]) => [symbol, getAddress(address)]),
  );
  const tokenSymbols = new Map([...tokens].map(([symbol, address]) => [address, symbol]));
  const watched = new Set<string>((options.knownSafes ?? []).map((item) => getAddress(item)));
  const register = addressRegistrar(options.ledger, 'ethereum');

  // The relayer's nonces: seeded once from the node's pending count, then handed out in
  // process so that concurrent withdrawals never send two transactions with one nonce. A send
  // that fails re-seeds the counter from the node (a refused send did not use its nonce).
  let nextNonce: number | null = null;
  let queue: Promise<unknown> = Promise.resolve();
  /** What was sent, by hash: to replace a stuck transaction with the same nonce. */
  const sentTxs = new Map<string, TransactionRequest>();
  /** A replaced transaction's hash → its replacement's (in this process). */
  const replacedBy = new Map<string, string>();
  const send = (request: TransactionRequest): Promise<string> => {
    const attempt = async (): Promise<string> => {
      nextNonce ??= await provider.getTransactionCount(relayer.address, 'pending');
      try {
        const sent = await relayer.sendTransaction({ ...request, nonce: nextNonce });
        nextNonce += 1;
        remember(sent.hash, { ...request, nonce: sent.nonce, ...feesOf(sent) });
        return sent.hash;
      } catch (error) {
        nextNonce = null;
        throw error;
      }
    };
    // A nonce the node says is used (another process sent with this key, or a restart raced
    // one): re-seeded from the node, the send is tried once more.
    const run = queue.then(() =>
      attempt().catch((error: unknown) => {
        if ((error as { code?: unknown } | null)?.code !== 'NONCE_EXPIRED') throw error;
        return attempt();
      }),
    );
    queue = run.catch(() => undefined);
    return run;
  };
  const remember = (hash: string, request: TransactionRequest) => {
    sentTxs.set(hash, request);
    // Only the newest few are kept: a transaction older than these is not stuck, it is lost.
    for (const old of sentTxs.keys()) {
      if (sentTxs.size <= ethereumSentTxsKeptMax) break;
      sentTxs.delete(old);
    }
  };

  /**
   * Sends a relayer transaction that is still pending again with the same nonce and fees raised
   * by ethereumFeeBumpPercent (nodes take a replacement only above +10 %), or the node's current
   * fees when higher. Resolves with the replacement's hash; `follow` of the original follows it.
   */
  const replaceStuck = async (chainTxId: string): Promise<string> => {
    const newest = latestOf(chainTxId);
    const request = sentTxs.get(newest) ?? (await fromNode(newest));
    if (request === undefined)
      throw new Error(
        `ethereum worker: ${chainTxId} is not a pending transaction of relayer ${relayer.address}`,
      );
    if ((await provider.getTransactionReceipt(newest)) !== null)
      throw new Error(`ethereum worker: ${newest} is mined already, nothing to replace`);
    const fees = await provider.getFeeData();
    const bump = (old: bigint | null | undefined, now: bigint | null) => {
      const raised = ((old ?? 0n) * (100n + ethereumFeeBumpPercent)) / 100n + 1n;
      return now !== null && now > raised ? now : raised;
    };
    const replacement: TransactionRequest = {
      ...request,
      maxFeePerGas: bump(request.maxFeePerGas as bigint | null, fees.maxFeePerGas),
      maxPriorityFeePerGas: bump(
        request.maxPriorityFeePerGas as bigint | null,
        fees.maxPriorityFeePerGas,
      ),
    };
    const sent = await relayer.sendTransaction(replacement);
    remember(sent.hash, { ...replacement, ...feesOf(sent) });
    replacedBy.set(newest, sent.hash);
    return sent.hash;
  };
  /** A pending relayer transaction as the node holds it (after a restart of this process). */
  const fromNode = async (hash: string): Promise<TransactionRequest | undefined> => {
    const tx = await provider.getTransaction(hash);
    if (tx === null || tx.blockNumber !== null || getAddress(tx.from) !== relayer.address)
      return undefined;
    return {
      to: tx.to,
      data: tx.data,
      value: tx.value,
      nonce: tx.nonce,
      gasLimit: tx.gasLimit,
      chainId: tx.chainId,
      maxFeePerGas: tx.maxFeePerGas,
      maxPriorityFeePerGas: tx.maxPriorityFeePerGas,
    };
  };
  const latestOf = (hash: string): string => {
    let current = hash;
    for (let next = replacedBy.get(current); next !== undefined; next = replacedBy.get(current))
      current = next;
    return current;
  };

  let chainId: bigint | null = null;
  const chainIdOf = async () => (chainId ??= (await provider.getNetwork()).chainId);

  const safeOf = (address: string) => new Contract(address, safeAbi, provider);

  /** Deploys the wallet's Safe unless it is there; watches it; registers it on the ledger. */
  const prepareOnce = async (wallet: WalletRecord): Promise<string> => {
    const safe = walletSafe(options.safe, wallet);
    if ((await provider.getCode(safe.address)) === '0x') {
      const data = factoryAbi.encodeFunctionData('createProxyWithNonce', [
        options.safe.singleton,
        safe.initializer,
        safe.saltNonce,
      ]);
      const hash = await send({ to: options.safe.factory, data });
      const receipt = await receiptOf(provider, hash, ethereumDeployWaitMsMax, pollMs);
      // Another worker may have deployed it first: then this call reverted, the code is there.
      if ((await provider.getCode(safe.address)) === '0x')
        throw new Error(
          `Safe of wallet ${wallet.id} not deployed (tx ${hash}, status ${String(receipt.status)})`,
        );
    }
    watched.add(safe.address);
    const address = safe.address.toLowerCase();
    await register(wallet.id, address);
    return address;
  };
  // The worker loop prepares a wallet for each of its withdrawals at once: one deployment.
  const prepareWallet = oneAtATime(prepareOnce);

  // One SafeTx in flight per Safe: Safe executes nonces in order, so a second withdrawal built
  // at the same nonce could never run, and one built at the next nonce would wait on the first
  // for ever if that one ended unsigned. With the ledger at hand, a withdrawal is built only
  // when no other one of the wallet holds a built SafeTx at or above the Safe's nonce (the
  // ledger's open withdrawals, and in this process the last build not yet recorded there).
  const claims = new Map<string, { readonly id: string; readonly nonce: bigint }>();
  const buildLocks = new Map<string, Promise<unknown>>();
  const inFlight = async (
    ledger: LedgerPort,
    safe: string,
    wallet: WalletRecord,
    self: string,
    nonce: bigint,
  ): Promise<string | null> => {
    const claim = claims.get(safe);
    if (claim !== undefined && claim.id !== self && claim.nonce >= nonce) {
      const answer = (await ledger.query('custody', 'withdrawal', { withdrawalId: claim.id })) as {
        withdrawal: WithdrawalRecord;
      };
      if (!endedStates.includes(answer.withdrawal.state)) return claim.id;
    }
    for (const state of builtOpenStates) {
      const page = (await ledger.query('custody', 'withdrawals', {
        walletId: wallet.id,
        state,
      })) as { withdrawals: WithdrawalRecord[] };
      for (const other of page.withdrawals) {
        if (other.id === self || other.unsignedTx === null) continue;
        if (BigInt(decodeSafeTxEnvelope(other.unsignedTx).tx.nonce) >= nonce) return other.id;
      }
    }
    return null;
  };

  const buildNow = async (withdrawal: WithdrawalRecord, wallet: WalletRecord): Promise<BuiltTx> => {
    const safe = walletSafe(options.safe, wallet).address;
    const nonce = (await safeOf(safe).getFunction('nonce')()) as bigint;
    if (options.ledger !== undefined) {
      const waiting = await inFlight(options.ledger, safe, wallet, withdrawal.id, nonce);
      if (waiting !== null)
        throw new Error(
          `withdrawal ${withdrawal.id} waits: withdrawal ${waiting} holds Safe ${safe}'s nonce ${nonce} until it executes or ends`,
        );
    }
    const amount = BigInt(withdrawal.amount);
    let tx;
    if (withdrawal.asset === etherAsset) {
      tx = callSafeTx(withdrawal.destination, amount, '0x', nonce);
    } else {
      const token = tokens.get(withdrawal.asset);
      if (token === undefined)
        throw cofferError(
          'APP_E_INVALID_ARGS',
          `asset ${withdrawal.asset} has no token contract in the ethereum worker's tokens option`,
        );
      tx = callSafeTx(token, 0n, erc20TransferData(withdrawal.destination, amount), nonce);
    }
    const envelope: SafeTxEnvelope = { chainId: (await chainIdOf()).toString(), safe, tx };
    claims.set(safe, { id: withdrawal.id, nonce });
    return { unsignedTx: encodeSafeTxEnvelope(envelope), digests: [safeTxHash(envelope).slice(2)] };
  };
  const build = (withdrawal: WithdrawalRecord, wallet: WalletRecord): Promise<BuiltTx> => {
    const safe = walletSafe(options.safe, wallet).address;
    const run = (buildLocks.get(safe) ?? Promise.resolve()).then(() =>
      buildNow(withdrawal, wallet),
    );
    buildLocks.set(
      safe,
      run.catch(() => undefined),
    );
    return run;
  };

  /**
   * The execTransaction that executed a SafeTx, from the Safe's ExecutionSuccess event: newest
   * blocks first, one scan range per query, since nodes cap a log query's range (a Coffer node
   * at logsBlockRangeMax, where every ledger batch is a block). No Safe of this worker executed
   * anything before its scan's start block.
   */
  const executedBy = async (safe: string, hash: string): Promise<string | null> => {
    const first = options.startBlock ?? 0;
    for (let to = await provider.getBlockNumber(); to >= first; to -= ethereumScanBlocksMax) {
      const logs = await provider.getLogs({
        address: safe,
        topics: [executionSuccessTopic, hash],
        fromBlock: Math.max(first, to - ethereumScanBlocksMax + 1),
        toBlock: to,
      });
      if (logs[0] !== undefined) return logs[0].transactionHash;
    }
    return null;
  };

  const broadcast = async (
    withdrawal: WithdrawalRecord,
    wallet: WalletRecord,
    signatures: readonly (readonly string[])[],
  ): Promise<{ readonly chainTxId: string } | { readonly failed: string }> => {
    if (withdrawal.unsignedTx === null || withdrawal.digests === null)
      throw new Error(`ethereum worker invariant: withdrawal ${withdrawal.id} is not built`);
    const envelope = decodeSafeTxEnvelope(withdrawal.unsignedTx);
    const digest = safeTxHash(envelope);
    if (withdrawal.digests.length !== 1 || digest.slice(2) !== withdrawal.digests[0])
      throw new Error(
        `ethereum worker invariant: withdrawal ${withdrawal.id}'s digest is not its SafeTx's`,
      );
    const safe = safeOf(envelope.safe);
    const nonce = (await safe.getFunction('nonce')()) as bigint;
    // The nonce is used: by this SafeTx (a broadcast again after a crash before its `broadcast`
    // record) or by another. Looked for only then: the search reads logs back to startBlock.
    if (nonce > BigInt(envelope.tx.nonce)) {
      const earlier = await executedBy(envelope.safe, digest);
      if (earlier !== null) return { chainTxId: earlier };
      return { failed: `Safe nonce ${envelope.tx.nonce} was used by another transaction` };
    }
    // Only after a reorganisation took back an earlier SafeTx: wait for it, try again later.
    if (nonce < BigInt(envelope.tx.nonce))
      throw new Error(
        `Safe ${envelope.safe} is at nonce ${nonce}, withdrawal ${withdrawal.id} at ${envelope.tx.nonce}`,
      );
    // Which owner signed which: the service and platform keys (the recorded order).
    const keys = [wallet.keys.service, wallet.keys.platform.publicKey, wallet.keys.offline];
    // One digest: each key's list holds its one signature.
    const signed = signatures.map(([signature = '']) => {
      for (const key of keys) {
        try {
          return { owner: ownerAddressOf(key), signature: safeSignatureOf(digest, signature, key) };
        } catch {
          // not this owner's
        }
      }
      throw cofferError(
        'CUSTODY_E_SIGNATURE_INVALID',
        `a signature of withdrawal ${withdrawal.id} recovers to no key of wallet ${wallet.id}`,
      );
    });
    const data = safeAbi.encodeFunctionData(
      'execTransaction',
      execTransactionArgs(envelope.tx, packSafeSignatures(signed)),
    );
    let gasLimit: bigint;
    try {
      gasLimit = await provider.estimateGas({ from: relayer.address, to: envelope.safe, data });
    } catch (error) {
      // Not `failed`: the signatures are public on the ledger and the SafeTx stays valid until
      // its Safe nonce is used, so a failed withdrawal (its reservation released) could still be
      // executed by anyone later. It stays platform_signed and is tried again next step.
      throw new Error(
        `execTransaction of withdrawal ${withdrawal.id} would revert now, not sent (${shortError(error)}); the SafeTx stays valid until Safe nonce ${envelope.tx.nonce} is used`,
      );
    }
    // Safe's own check (gasleft() ≥ max(safeTxGas·64/63, safeTxGas+2500)+500) needs headroom.
    return {
      chainTxId: await send({ to: envelope.safe, data, gasLimit: (gasLimit * 6n) / 5n }),
    };
  };

  // Exactly this transaction: a replacement (unstick) is recorded on the ledger with its own
  // id (rebroadcast), and the loop follows each, so a confirmation names the one mined.
  const follow = async (chainTxId: string): Promise<ChainTxStatus> => {
    const receipt = await provider.getTransactionReceipt(chainTxId);
    if (receipt === null) return { state: 'pending' };
    // A reverted execTransaction did not use the Safe nonce: the SafeTx may still run, so the
    // withdrawal is not `failed` (see broadcast); it waits, reported, for an operator.
    if (receipt.status !== 1)
      throw new Error(
        `execTransaction ${chainTxId} reverted; its SafeTx stays valid until its Safe nonce is used`,
      );
    const head = await provider.getBlockNumber();
    return {
      state: 'confirmed',
      block: { height: receipt.blockNumber, hash: receipt.blockHash },
      confirmations: head - receipt.blockNumber + 1,
    };
  };

  const scanDeposits = async (cursor: string | null): Promise<DepositScan> => {
    const from = cursorBlock(cursor, options.startBlock ?? 0);
    const head = await provider.getBlockNumber();
    // Blocks from `final` on are not at depth yet: deposits in them are reported again on every
    // scan (with their confirmations) and the cursor never passes them.
    const final = Math.max(0, head - depth + 2);
    if (from > head || watched.size === 0)
      return { deposits: [], cursor: String(Math.min(Math.max(from, 0), final)) };
    const to = Math.min(head, from + ethereumScanBlocksMax - 1);
    const safes = [...watched];
    const logs: Log[] = [];
    for (let i = 0; i < safes.length; i += ethereumSafesPerQueryMax) {
      const chunk = safes.slice(i, i + ethereumSafesPerQueryMax);
      logs.push(
        ...(await provider.getLogs({
          address: chunk,
          topics: [safeReceivedTopic],
          fromBlock: from,
          toBlock: to,
        })),
      );
      if (tokens.size > 0) {
        const paddedChunk = chunk.map(
          (safe) => `0x${safe.slice(2).toLowerCase().padStart(64, '0')}`,
        );
        logs.push(
          ...(await provider.getLogs({
            address: [...tokens.values()],
            topics: [transferTopic, null, paddedChunk],
            fromBlock: from,
            toBlock: to,
          })),
        );
      }
    }
    logs.sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
    const perTx = new Map<string, number>();
    const deposits: SeenDeposit[] = [];
    for (const [i, log] of logs.entries()) {
      const isEther = log.topics[0] === safeReceivedTopic;
      const symbol = isEther ? etherAsset : tokenSymbols.get(getAddress(log.address));
      if (symbol === undefined) continue;
      const address = isEther ? log.address : getAddress(`0x${(log.topics[2] ?? '').slice(26)}`);
      const amount = BigInt(log.data.slice(0, 66));
      if (amount === 0n) continue;
      // The deposit's index within its transaction, stable if a reorganisation re-mines it.
      const outputIndex = perTx.get(log.transactionHash) ?? 0;
      perTx.set(log.transactionHash, outputIndex + 1);
      const lastOfBlock = logs[i + 1]?.blockNumber !== log.blockNumber;
      deposits.push({
        chainTxId: log.transactionHash,
        outputIndex,
        address: address.toLowerCase(),
        walletId: null,
        asset: symbol,
        amount: amount.toString(),
        block: { height: log.blockNumber, hash: log.blockHash },
        confirmations: head - log.blockNumber + 1,
        next: String(Math.min(lastOfBlock ? log.blockNumber + 1 : log.blockNumber, final)),
      });
    }
    return { deposits, cursor: String(Math.min(to + 1, final)) };
  };

  const depositInBlock = async (deposit: {
    readonly chainTxId: string;
    readonly block: { readonly hash: string };
  }): Promise<boolean> => {
    const receipt = await provider.getTransactionReceipt(deposit.chainTxId);
    return receipt !== null && receipt.blockHash === deposit.block.hash;
  };

  return {
    chain: 'ethereum',
    confirmations: depth,
    depositInBlock,
    replaceStuck,
    // A mined one (original or replacement) has nothing to replace: the loop follows it.
    unstick: async (chainTxId) => {
      const newest = latestOf(chainTxId);
      if ((await provider.getTransactionReceipt(newest)) !== null) return null;
      return replaceStuck(chainTxId);
    },
    prepareWallet,
    build,
    broadcast,
    follow,
    scanDeposits,
    provider,
    relayer,
    close: () => {
      provider.destroy();
    },
  };
}

/**
 * The receipt of a transaction, polled for: ethers' wait() listens for the next block, and a
 * node that mines only on demand (anvil) may never make one after the transaction's.
 */
export async function receiptOf(
  provider: Provider,
  hash: string,
  timeoutMs: number,
  pollMs = ethereumPollMsDefault,
): Promise<TransactionReceipt> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const receipt = await provider.getTransactionReceipt(hash);
    if (receipt !== null) return receipt;
    if (Date.now() > deadline)
      throw cofferError(
        'NODE_E_UNAVAILABLE',
        `transaction ${hash} not mined within ${timeoutMs} ms`,
      );
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

function feesOf(sent: TransactionResponse): TransactionRequest {
  return sent.maxFeePerGas === null
    ? { gasPrice: sent.gasPrice }
    : { maxFeePerGas: sent.maxFeePerGas, maxPriorityFeePerGas: sent.maxPriorityFeePerGas };
}

function shortError(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.slice(0, 160);
}

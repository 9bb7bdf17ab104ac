// Custody on real Ethereum and Bitcoin nodes, end to end, every part a real process on
// 127.0.0.1: the ledger node (`coffer up`), anvil with Safe 1.4.1, a bcoin regtest node, the
// signer (`coffer signer start`) over a SoftHSM2 token holding the secp256k1 platform keys, and
// one `coffer custody worker` per chain. For each chain: a wallet is created and the worker
// makes it ready (Safe deployed, P2WSH address registered); a deposit is credited at depth 2 and
// not at 1; a withdrawal over the limit waits for two admins, is built by the worker, signed by
// the service, signed by the HSM only against the ledger receipt, broadcast and confirmed, the
// destination paid exactly. Then the custody issue's bypass attempts on these chains: a
// compromised worker recording a build that pays someone else (or for another chain), the
// signer asked for digests nobody approved, the service's signature alone (or twice) sent to
// the chain, and a destination off the whitelist. Each is refused and moves no funds.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Psbt, Transaction, script as bitcoinScript } from 'bitcoinjs-lib';
import { Contract, Interface, Wallet, concat, type JsonRpcProvider } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createClient,
  identityFromMspFolder,
  type Client,
  type ClientOptions,
  type TxResult,
} from '../../src/client/index.js';
import { createCustodyClient, type CustodyClient } from '../../src/client/custody.js';
import { normaliseSignature, verifyDigestSignature } from '../../src/crypto/index.js';
import { generateScalarKey, signDigestWithScalar } from '../../src/crypto/keys.js';
import { buildPsbt, inputDigests, planWithdrawal } from '../../src/custody/chains/bitcoin-psbt.js';
import {
  bcoinRegtest,
  outputScriptOf,
  walletP2wsh,
  type P2wshMultisig,
} from '../../src/custody/chains/bitcoin-script.js';
import {
  deploySafeContracts,
  ethereumProvider,
  receiptOf,
  safeArtifact,
} from '../../src/custody/chains/ethereum.js';
import {
  callSafeTx,
  encodeSafeTxEnvelope,
  execTransactionArgs,
  safeSignatureOf,
  safeTxHash,
} from '../../src/custody/chains/safe.js';
import type { DepositRecord, HistoryEntry, WithdrawalRecord } from '../../src/custody/index.js';
import { createSignerClient, type SignerPort } from '../../src/custody/worker.js';
import { anvilKeys, startAnvil, type Anvil } from '../support/anvil.js';
import {
  regtestSegwitHeight,
  startBcoin,
  type BcoinCoin,
  type BcoinNode,
} from '../support/bcoin.js';
import { userMspDir } from '../support/clients.js';
import { createSoftHsm, userPin, type SoftHsm } from '../crypto/softhsm.js';
import { miner, payFromMiner } from '../support/bcoin-miner.js';

const coffer = path.resolve(import.meta.dirname, '../../bin/coffer');
/** How long a process may take to say it is ready. */
const readyMsMax = 60_000;
/** How long a withdrawal or deposit may take to reach the state a test waits for. */
const untilMsMax = 40_000;
const untilPollMs = 100;
/** The depth set_custody gives both chains. */
const depth = 2;
const tokenLabel = 'coffer-e2e-chains';

// The chains' parties: payees and attackers own nothing on chain before the tests.
const oneEth = 10n ** 18n;
const ethDestination = Wallet.createRandom().address.toLowerCase();
const ethAttacker = Wallet.createRandom().address.toLowerCase();
const safeAbi = new Interface(safeArtifact('Safe').abi as never);
const btc = 100_000_000n;
const keysOf = (a: string, b: string, c: string) => ({
  offline: a,
  service: b,
  platform: { publicKey: c },
});
const otherKey = () => generateScalarKey('secp256k1').publicKey;
const btcDestination = walletP2wsh(
  2,
  keysOf(otherKey(), otherKey(), otherKey()),
  bcoinRegtest,
).address;
const btcAttacker = walletP2wsh(
  2,
  keysOf(otherKey(), otherKey(), otherKey()),
  bcoinRegtest,
).address;

type Party = Client & { readonly custody: CustodyClient };
type PlatformKey = {
  readonly keyId: string;
  readonly publicKey: string;
  readonly curve: 'secp256k1';
};

let dir: string;
let url = '';
/** Every process this file spawned: afterAll kills any still running. */
const procs: ChildProcess[] = [];
const stops: (() => Promise<unknown>)[] = [];
let anvil: Anvil;
let provider: JsonRpcProvider;
let bcoin: BcoinNode;
let hsm: SoftHsm | undefined;
let service: Party;
let admin1: Party;
let admin2: Party;
/** The chain workers' ledger identity (Org2 User1), here acting as a compromised worker. */
let workerClient: Party;
/** The signer as a compromised worker host would call it: the worker's own certificate. */
let signer: SignerPort;
let ethWorker: ChildProcess;
let btcWorker: ChildProcess;
const platformKeys: Record<'ethereum' | 'bitcoin', PlatformKey | undefined> = {
  ethereum: undefined,
  bitcoin: undefined,
};
const serviceKey = generateScalarKey('secp256k1');
const offlineKeys = {
  ethereum: generateScalarKey('secp256k1'),
  bitcoin: generateScalarKey('secp256k1'),
};
/** Worker event lines that report an error, per chain. */
const workerErrors: Record<'ethereum' | 'bitcoin', string[]> = { ethereum: [], bitcoin: [] };

const signService = (digest: Uint8Array) =>
  Promise.resolve(signDigestWithScalar('secp256k1', serviceKey.secretKey, digest));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Spawns `args` and resolves once a stdout line matches `ready` (its match). */
async function spawnReady(
  command: string,
  args: readonly string[],
  ready: RegExp,
  onLine: (line: string) => void = () => undefined,
): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-8192);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  procs.push(child);
  const lines = createInterface({ input: child.stdout });
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${args.slice(0, 2).join(' ')} did not start: ${output}`));
    }, readyMsMax);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.slice(0, 2).join(' ')} exited with ${String(code)}: ${output}`));
    });
    lines.on('line', (line) => {
      onLine(line);
      const found = ready.exec(line);
      if (found !== null) {
        clearTimeout(timer);
        resolve(found);
      }
    });
  });
  child.removeAllListeners('exit');
  return { child, match };
}

/** Stops a process this file started (SIGCONT first: a test may have paused it). */
async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGCONT');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function identityFiles(org: number, user: string) {
  const msp = userMspDir(path.join(dir, 'crypto'), org, user);
  const [certFile = ''] = await readdir(path.join(msp, 'signcerts'));
  const [keyFile = ''] = await readdir(path.join(msp, 'keystore'));
  const certPath = path.join(msp, 'signcerts', certFile);
  const keyPath = path.join(msp, 'keystore', keyFile);
  const cert = await readFile(certPath, 'utf8');
  const key = await readFile(keyPath, 'utf8');
  const identityId = createHash('sha256').update(new X509Certificate(cert).raw).digest('hex');
  return { msp, mspId: `Org${org}MSP`, cert, key, certPath, keyPath, identityId };
}

/** The node's client profile (D/client.json): its URL, TLS server name and CA. */
async function nodeProfile(): Promise<Record<string, string>> {
  return JSON.parse(await readFile(path.join(dir, 'client.json'), 'utf8')) as Record<
    string,
    string
  >;
}

/** A ledger client and a custody API client, both as the identity (its cert is its TLS cert). */
async function party(org: number, user: string): Promise<Party> {
  const profile = await nodeProfile();
  const files = await identityFiles(org, user);
  const options: ClientOptions = {
    url,
    servername: String(profile['servername']),
    ca: await readFile(String(profile['caFile']), 'utf8'),
    tlsCert: files.cert,
    tlsKey: files.key,
    ...(await identityFromMspFolder(files.msp, files.mspId)),
  };
  return { ...createClient(options), custody: createCustodyClient(options) };
}

async function must(
  client: Client,
  action: string,
  args: Record<string, unknown>,
  app = 'custody',
): Promise<{ txId: string; result: Record<string, unknown> }> {
  const result = await client.submit(app, action, args, { wait: 'commit' });
  expect(result, `${app} ${action}: ${result.code ?? ''} ${result.message ?? ''}`).toMatchObject({
    status: 'Committed',
  });
  return { txId: result.txId, result: result.result as Record<string, unknown> };
}

/** A custody transaction the ledger must refuse with `code`. */
async function refused(client: Client, action: string, args: Record<string, unknown>) {
  const result: TxResult = await client.submit('custody', action, args, { wait: 'commit' });
  expect(result.status, `${action} was not refused: ${JSON.stringify(result.result)}`).toBe(
    'Invalid',
  );
  return result;
}

async function withdrawal(id: string): Promise<WithdrawalRecord> {
  return ((await service.custody.withdrawal(id)) as { withdrawal: WithdrawalRecord }).withdrawal;
}

async function ledgerBalance(walletId: string, asset: string) {
  const answer = (await service.custody.balances(walletId)) as {
    balances: { asset: string; total: string; reserved: string }[];
  };
  const found = answer.balances.find((item) => item.asset === asset);
  return { total: BigInt(found?.total ?? '0'), reserved: BigInt(found?.reserved ?? '0') };
}

async function deposits(walletId: string): Promise<DepositRecord[]> {
  return ((await service.custody.deposits(walletId)) as { deposits: DepositRecord[] }).deposits;
}

async function history(id: string): Promise<HistoryEntry[]> {
  return ((await service.custody.history('withdrawal', id)) as { entries: HistoryEntry[] }).entries;
}

/**
 * Polls until `done`; on each pass the service signs what is built (when `signFor` names its
 * wallet) and `onPass` runs (mining). Fails with the worker's last errors.
 */
async function until(
  done: () => Promise<boolean>,
  what: string,
  chain: 'ethereum' | 'bitcoin',
  more: { readonly signFor?: string; readonly onPass?: () => Promise<unknown> } = {},
): Promise<void> {
  const deadline = Date.now() + untilMsMax;
  while (Date.now() < deadline) {
    if (await done()) return;
    if (more.signFor !== undefined) await service.custody.signBuilt(more.signFor, signService);
    await more.onPass?.();
    await sleep(untilPollMs);
  }
  throw new Error(
    `${what} did not happen within ${untilMsMax} ms; ${chain} worker errors: ${workerErrors[chain].slice(-5).join(' | ')}`,
  );
}

/** Proposes each policy change as the service; two admins (the quorum) approve it. */
async function setPolicy(walletId: string, changes: readonly Record<string, unknown>[]) {
  await Promise.all(
    changes.map(async (change) => {
      const proposal = await must(service, 'propose_policy', { walletId, change });
      await must(admin1, 'approve_policy', { changeId: proposal.txId });
      await must(admin2, 'approve_policy', { changeId: proposal.txId });
    }),
  );
}

/** Creates the service's 2-of-3 wallet; resolves once its worker registered its address. */
async function createWallet(
  chain: 'ethereum' | 'bitcoin',
): Promise<{ id: string; address: string }> {
  const platform = platformKeys[chain];
  if (platform === undefined) throw new Error('no platform key');
  const created = await must(service, 'create_wallet', {
    chain,
    label: `e2e ${chain}`,
    keys: { offline: offlineKeys[chain].publicKey, service: serviceKey.publicKey, platform },
  });
  let address = '';
  await until(
    async () => {
      const answer = (await service.custody.addresses(created.txId)) as {
        addresses: { address: string }[];
      };
      address = answer.addresses[0]?.address ?? '';
      return address !== '';
    },
    `the ${chain} worker registering the wallet's address`,
    chain,
  );
  return { id: created.txId, address };
}

/** The receipt of the withdrawal's service_sign transaction, once a root signature covers it. */
async function serviceSignReceipt(id: string): Promise<unknown> {
  const entry = (await history(id)).find((item) => item.action === 'service_sign');
  if (entry === undefined) throw new Error(`withdrawal ${id} has no service_sign step`);
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const receipt = await workerClient.receipt(entry.txId).catch(() => undefined);
    if (receipt !== undefined) return receipt;
    await sleep(50);
  }
  throw new Error(`no receipt for ${entry.txId}`);
}

/**
 * The signer signs the approved digests with this receipt (so its refusals just before were
 * for the digests asked, not for the receipt): one valid platform signature per digest.
 */
async function expectApprovedSigned(
  record: WithdrawalRecord,
  key: PlatformKey | undefined,
  receipt: unknown,
): Promise<void> {
  const digests = record.digests ?? [];
  const signed = await signer.sign({
    walletId: record.walletId,
    withdrawalId: record.id,
    digests,
    keyId: key?.keyId ?? '',
    receipt,
  });
  expect(signed.signatures).toHaveLength(digests.length);
  signed.signatures.forEach((signature, i) => {
    const ok = verifyDigestSignature(
      'secp256k1',
      key?.publicKey ?? '',
      Buffer.from(digests[i] ?? '', 'hex'),
      Buffer.from(signature, 'hex'),
    );
    expect(ok, `platform signature ${i}`).toBe(true);
  });
}

/**
 * The service requests a withdrawal over the limit: it waits for approvals (the worker, polling
 * every 200 ms, builds nothing meanwhile), the requester may not approve it, one admin is not
 * enough, two are. Returns its id, approved.
 */
async function requestApprovedByTwo(args: Record<string, unknown>): Promise<string> {
  const id = (await must(service, 'request', args)).txId;
  expect((await withdrawal(id)).state).toBe('pending_approval');
  await sleep(800);
  expect(await withdrawal(id)).toMatchObject({ state: 'pending_approval', digests: null });
  expect(await service.custody.approve(id)).toMatchObject({
    status: 'Invalid',
    code: 'CUSTODY_E_SELF_APPROVAL',
  });
  await must(admin1, 'approve', { withdrawalId: id });
  expect((await withdrawal(id)).state).toBe('pending_approval');
  await must(admin2, 'approve', { withdrawalId: id });
  return id;
}

/** The withdrawal's steps as (action, state), in order. */
async function steps(id: string): Promise<string[]> {
  return (await history(id)).map((entry) => `${entry.action}:${entry.state}`);
}

const expectedSteps = [
  'request:requested',
  // The policy decision, recorded by the request under its txId.
  'policy:pending_approval',
  'approve:pending_approval',
  'approve:approved',
  'build:built',
  'service_sign:service_signed',
  'platform_sign:platform_signed',
  'broadcast:broadcast',
  'confirm:confirmed',
];

async function startWorker(
  chain: 'ethereum' | 'bitcoin',
  chainConfig: string,
  signerUrl: string,
  signerTls: { ca: string; servername: string },
): Promise<ChildProcess> {
  const { child } = await spawnReady(
    coffer,
    [
      'custody',
      'worker',
      '--chain',
      chain,
      '--chain-config',
      chainConfig,
      '--signer-url',
      signerUrl,
      '--signer-ca',
      signerTls.ca,
      '--signer-servername',
      signerTls.servername,
      '--state-dir',
      path.join(dir, `worker-${chain}`),
      '--profile',
      path.join(dir, 'worker-profile.json'),
      '--poll-ms',
      '200',
      '--json',
    ],
    /"event":"started"/,
    (line) => {
      if (line.includes('"kind":"error"')) workerErrors[chain].push(line.slice(0, 600));
    },
  );
  return child;
}

/** Runs a short `coffer` command; its stdout (throws with its output when it fails). */
async function runCli(args: readonly string[]): Promise<string> {
  const child = spawn(coffer, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0)
    throw new Error(`coffer ${args.join(' ')} exited with ${String(code)}: ${stderr}`);
  return stdout;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'coffer-e2e-chains-'));
  // The node, the chains and the HSM token start side by side. Each part's stop is registered as soon as it is up, and every start is waited for, so a
  // failed start leaves nothing running behind it.
  let nodeReady = '';
  const starts = await Promise.allSettled([
    spawnReady(
      coffer,
      ['up', '--dir', dir, '--port', '0', '--json', '--log-level', 'warn'],
      /"event":"started"/,
    ).then((started) => {
      stops.push(() => stop(started.child, 'SIGINT'));
      nodeReady = started.match.input;
    }),
    startAnvil().then((started) => {
      anvil = started;
      stops.push(() => started.stop());
    }),
    startBcoin().then((started) => {
      bcoin = started;
      stops.push(() => started.stop());
    }),
    createSoftHsm([tokenLabel]).then((started) => {
      hsm = started;
    }),
  ]);
  for (const start of starts) if (start.status === 'rejected') throw start.reason;
  url = /"url":"(https:\/\/[^"]+)"/.exec(nodeReady)?.[1] ?? '';
  provider = ethereumProvider(anvil.url, 50);
  stops.push(() => {
    provider.destroy();
    return Promise.resolve();
  });

  service = await party(1, 'User1');
  admin1 = await party(1, 'Admin');
  admin2 = await party(2, 'Admin');
  workerClient = await party(2, 'User1');
  const worker = await identityFiles(2, 'User1');
  const principal = `Org2MSP:${worker.identityId}`;

  const [deployed] = await Promise.all([
    deploySafeContracts(new Wallet(anvilKeys[0], provider)),
    // Segwit active; the miner's first coinbases mature.
    bcoin.mine(regtestSegwitHeight + 1, miner.address),
    // The consortium names the worker for both chains (Org1 proposes, Org2's vote accepts).
    (async () => {
      const custody = {
        chains: {
          ethereum: { workers: [principal], confirmations: depth, chainId: '31337', tokens: {} },
          bitcoin: { workers: [principal], confirmations: depth, feeMax: '1000000' },
        },
      };
      const proposed = await must(
        admin1,
        'propose',
        { actions: [{ name: 'set_custody', args: { custody } }] },
        'gov',
      );
      const voted = await must(admin2, 'vote', { proposalId: proposed.txId, ballot: 'yes' }, 'gov');
      expect(voted.result).toMatchObject({ state: 'Accepted' });
    })(),
  ]);

  // The signer: a secp256k1 platform key per chain made on the token by `coffer signer keygen`,
  // then `coffer signer start` trusting the consortium's MSPs and authorising the worker.
  const crypto = path.join(dir, 'crypto');
  const peers = path.join(crypto, 'peerOrganizations', 'org1.coffer.local', 'peers');
  const [peer = ''] = await readdir(peers);
  const peerTls = path.join(peers, peer, 'tls');
  await writeFile(path.join(dir, 'hsm-pin'), `${userPin}\n`, { mode: 0o600 });
  const signerConfig = path.join(dir, 'signer.json');
  await writeFile(
    signerConfig,
    JSON.stringify({
      listen: { host: '127.0.0.1', port: 0 },
      tls: {
        certFile: path.join(peerTls, 'server.crt'),
        keyFile: path.join(peerTls, 'server.key'),
      },
      consortium: [1, 2, 3].map((n) => ({
        mspId: `Org${n}MSP`,
        mspDir: path.join(crypto, 'peerOrganizations', `org${n}.coffer.local`, 'msp'),
      })),
      authorisedCallers: [{ mspId: 'Org2MSP', role: 'client', identityId: worker.identityId }],
      // One node (Org1's) signs the roots of this ledger.
      organisationsMin: 1,
      receiptAgeMsMax: 600_000,
      auditLog: 'signer-audit.log',
      keyStore: {
        kind: 'pkcs11',
        library: hsm?.library,
        tokenLabel,
        pinFile: 'hsm-pin',
      },
    }),
  );
  for (const chain of ['ethereum', 'bitcoin'] as const) {
    const made = await runCli([
      'signer',
      'keygen',
      '--config',
      signerConfig,
      '--label',
      `platform-${chain}`,
      '--json',
    ]);
    const key = JSON.parse(made) as PlatformKey & { attributes: Record<string, boolean> };
    expect(key.attributes).toMatchObject({ sensitive: true, extractable: false });
    platformKeys[chain] = { keyId: key.keyId, publicKey: key.publicKey, curve: 'secp256k1' };
  }
  const started = await spawnReady(
    coffer,
    ['signer', 'start', '--config', signerConfig, '--log-level', 'warn'],
    /listening on (https:\/\/\S+)/,
  );
  const signerProc = started.child;
  stops.push(() => stop(signerProc));
  const signerUrl = started.match[1] ?? '';
  const signerTls = { ca: path.join(peerTls, 'ca.crt'), servername: peer };
  signer = createSignerClient({
    url: signerUrl,
    ca: await readFile(signerTls.ca, 'utf8'),
    servername: peer,
    cert: worker.cert,
    key: worker.key,
  });

  // The workers' files: a client profile for their identity, each chain's file and secrets.
  const profile = await nodeProfile();
  await writeFile(
    path.join(dir, 'worker-profile.json'),
    JSON.stringify({
      url,
      servername: profile['servername'],
      caFile: profile['caFile'],
      tlsCertFile: worker.certPath,
      tlsKeyFile: worker.keyPath,
      mspId: worker.mspId,
      mspDir: worker.msp,
    }),
  );
  const chainsDir = path.join(dir, 'chains');
  await mkdir(chainsDir);
  await writeFile(path.join(chainsDir, 'relayer.key'), `${anvilKeys[1]}\n`, { mode: 0o600 });
  await writeFile(path.join(chainsDir, 'bcoin.key'), `${bcoin.apiKey}\n`, { mode: 0o600 });
  const ethConfig = path.join(chainsDir, 'eth.json');
  await writeFile(
    ethConfig,
    JSON.stringify({
      rpcUrl: anvil.url,
      relayerKeyFile: 'relayer.key',
      safe: deployed,
      startBlock: await provider.getBlockNumber(),
      pollMs: 50,
    }),
  );
  const btcConfig = path.join(chainsDir, 'btc.json');
  await writeFile(
    btcConfig,
    JSON.stringify({
      rpcUrl: bcoin.rpcUrl,
      network: 'bcoin-regtest',
      apiKeyFile: 'bcoin.key',
      feeRateFallbackSatPerVb: 2,
      startHeight: (await bcoin.rpc<number>('getblockcount')) + 1,
      pollMs: 50,
    }),
  );
  [ethWorker, btcWorker] = await Promise.all([
    startWorker('ethereum', ethConfig, signerUrl, signerTls),
    startWorker('bitcoin', btcConfig, signerUrl, signerTls),
  ]);
  stops.push(
    () => stop(ethWorker),
    () => stop(btcWorker),
  );
}, 120_000);

afterAll(async () => {
  // Workers first, then the signer, the chains and the node.
  for (const each of stops.reverse()) await each().catch(() => undefined);
  for (const proc of procs) await stop(proc, 'SIGKILL');
  for (const client of [service, admin1, admin2, workerClient] as (Party | undefined)[]) {
    client?.close();
    client?.custody.close();
  }
  await hsm?.cleanup();
  await rm(dir, { recursive: true, force: true });
}, 60_000);

// ---- Ethereum ----------------------------------------------------------------------------------

describe('custody on Ethereum (anvil, Safe 1.4.1), end to end', () => {
  let walletId = '';
  let safe = '';
  const eth = {
    balance: (address: string) => provider.getBalance(address),
    mineOne: () => anvil.mine(1),
  };

  it('deploys the Safe of a new wallet and credits a deposit at depth 2, not at 1', async () => {
    const created = await createWallet('ethereum');
    walletId = created.id;
    safe = created.address;
    expect(await provider.getCode(safe)).not.toBe('0x');
    await setPolicy(walletId, [
      {
        kind: 'set_limits',
        asset: 'ETH',
        perTransaction: oneEth.toString(),
        rolling24h: (10n * oneEth).toString(),
      },
      { kind: 'set_approvals', approvalsRequired: 2 },
      { kind: 'whitelist_add', address: ethDestination, label: 'payee' },
    ]);
    const payer = new Wallet(anvilKeys[2], provider);
    const sent = await payer.sendTransaction({ to: safe, value: 5n * oneEth });
    await receiptOf(provider, sent.hash, 10_000, 20);
    // anvil mined it in its own block: one confirmation. Seen, not credited.
    await until(
      async () => (await deposits(walletId)).some((item) => item.confirmations === 1),
      'the deposit seen at 1 confirmation',
      'ethereum',
    );
    expect(await deposits(walletId)).toMatchObject([
      { chainTxId: sent.hash, state: 'seen', amount: (5n * oneEth).toString(), confirmations: 1 },
    ]);
    expect((await ledgerBalance(walletId, 'ETH')).total).toBe(0n);
    await eth.mineOne();
    await until(
      async () => (await ledgerBalance(walletId, 'ETH')).total === 5n * oneEth,
      'the deposit credited at depth 2',
      'ethereum',
    );
    expect(await deposits(walletId)).toMatchObject([{ state: 'credited', confirmations: 2 }]);
  }, 60_000);

  it('pays a withdrawal over the limit after two admins: service, HSM, broadcast, confirmed', async () => {
    const amount = 2n * oneEth;
    const before = await eth.balance(ethDestination);
    const safeBefore = await eth.balance(safe);
    const id = await requestApprovedByTwo({
      walletId,
      asset: 'ETH',
      amount: amount.toString(),
      destination: ethDestination,
      idempotencyKey: 'eth-over-limit',
    });
    await until(
      async () => (await withdrawal(id)).state === 'confirmed',
      'the withdrawal confirmed',
      'ethereum',
      {
        signFor: walletId,
        onPass: eth.mineOne,
      },
    );
    const done = await withdrawal(id);
    expect(done.digests).toHaveLength(1);
    expect(done.platformKey.keyId).toBe(platformKeys.ethereum?.keyId);
    const receipt = await provider.getTransactionReceipt(done.chainTxId ?? '');
    expect(receipt?.status).toBe(1);
    expect(await eth.balance(ethDestination)).toBe(before + amount);
    expect(await eth.balance(safe)).toBe(safeBefore - amount);
    expect(await ledgerBalance(walletId, 'ETH')).toEqual({ total: 3n * oneEth, reserved: 0n });
    expect(await steps(id)).toEqual(expectedSteps);
  }, 60_000);

  it('refuses a compromised worker, foreign digests at the signer and the service key alone', async () => {
    const amount = oneEth / 2n;
    const destinationBefore = await eth.balance(ethDestination);
    const safeBefore = await eth.balance(safe);
    const safeContract = new Contract(safe, safeAbi, provider);
    const nonce = (await safeContract.getFunction('nonce')()) as bigint;
    // The honest worker is paused: the compromised one (same identity) acts alone.
    ethWorker.kill('SIGSTOP');
    let id = '';
    try {
      const requested = await must(service, 'request', {
        walletId,
        asset: 'ETH',
        amount: amount.toString(),
        destination: ethDestination,
        idempotencyKey: 'eth-bypass',
      });
      id = requested.txId;
      expect((await withdrawal(id)).state).toBe('approved');
      // A SafeTx paying the attacker, correctly hashed; then the right payment for mainnet.
      for (const envelope of [
        { chainId: '31337', safe, tx: callSafeTx(ethAttacker, amount, '0x', nonce) },
        { chainId: '1', safe, tx: callSafeTx(ethDestination, amount, '0x', nonce) },
      ]) {
        const result = await refused(workerClient, 'build', {
          withdrawalId: id,
          unsignedTx: encodeSafeTxEnvelope(envelope),
          digests: [safeTxHash(envelope).slice(2)],
        });
        expect(result.code).toBe('CUSTODY_E_TX_MISMATCH');
      }
      expect(await withdrawal(id)).toMatchObject({ state: 'approved', digests: null });
    } finally {
      ethWorker.kill('SIGCONT');
    }
    await until(
      async () => (await withdrawal(id)).state === 'built',
      'the honest build',
      'ethereum',
    );
    const built = await withdrawal(id);
    const digest = built.digests?.[0] ?? '';

    // The service's signature alone, or twice, does not satisfy the Safe's 2 of 3.
    const own = Buffer.from(await signService(Buffer.from(digest, 'hex'))).toString('hex');
    const serviceSafeSig = safeSignatureOf(digest, own, serviceKey.publicKey);
    const stranger = new Wallet(anvilKeys[3], provider);
    const exec = new Contract(safe, safeAbi, stranger);
    const tx = callSafeTx(ethDestination, amount, '0x', nonce);
    await expect(
      exec.getFunction('execTransaction').staticCall(...execTransactionArgs(tx, serviceSafeSig)),
    ).rejects.toThrow(/GS020/);
    await expect(
      exec
        .getFunction('execTransaction')
        .staticCall(...execTransactionArgs(tx, concat([serviceSafeSig, serviceSafeSig]))),
    ).rejects.toThrow(/GS026/);
    // Sent anyway, past gas estimation: mined, reverted.
    const forced = await exec
      .getFunction('execTransaction')
      .send(...execTransactionArgs(tx, serviceSafeSig), { gasLimit: 300_000 });
    expect((await receiptOf(provider, forced.hash, 10_000, 20)).status).toBe(0);
    expect((await safeContract.getFunction('nonce')()) as bigint).toBe(nonce);
    expect(await eth.balance(safe)).toBe(safeBefore);

    // The service signs on the ledger; with that receipt the signer signs only these digests.
    expect(await service.custody.signBuilt(walletId, signService)).toEqual([id]);
    const receipt = await serviceSignReceipt(id);
    const attackerEnvelope = {
      chainId: '31337',
      safe,
      tx: callSafeTx(ethAttacker, amount, '0x', nonce),
    };
    const platformKeyId = platformKeys.ethereum?.keyId ?? '';
    for (const digests of [[safeTxHash(attackerEnvelope).slice(2)], [digest, digest]]) {
      await expect(
        signer.sign({ walletId, withdrawalId: id, digests, keyId: platformKeyId, receipt }),
      ).rejects.toMatchObject({ code: 'SIGNER_E_DIGEST_NOT_APPROVED' });
    }
    // Nor for another wallet's key.
    await expect(
      signer.sign({
        walletId,
        withdrawalId: id,
        digests: [digest],
        keyId: platformKeys.bitcoin?.keyId ?? '',
        receipt,
      }),
    ).rejects.toMatchObject({ code: 'SIGNER_E_KEY_MISMATCH' });
    await expectApprovedSigned(built, platformKeys.ethereum, receipt);

    // The honest path goes on and pays exactly once, to the approved destination.
    await until(
      async () => (await withdrawal(id)).state === 'confirmed',
      'the withdrawal confirmed',
      'ethereum',
      {
        onPass: eth.mineOne,
      },
    );
    expect(await eth.balance(ethDestination)).toBe(destinationBefore + amount);
    expect(await eth.balance(ethAttacker)).toBe(0n);
    expect(await eth.balance(safe)).toBe(safeBefore - amount);
    expect(await ledgerBalance(walletId, 'ETH')).toEqual({
      total: safeBefore - amount,
      reserved: 0n,
    });
  }, 60_000);

  it('refuses a destination off the whitelist', async () => {
    const before = await ledgerBalance(walletId, 'ETH');
    const result = await refused(service, 'request', {
      walletId,
      asset: 'ETH',
      amount: '1000',
      destination: ethAttacker,
      idempotencyKey: 'eth-not-whitelisted',
    });
    expect(result.code).toBe('CUSTODY_E_NOT_WHITELISTED');
    expect(await ledgerBalance(walletId, 'ETH')).toEqual(before);
    expect(await eth.balance(ethAttacker)).toBe(0n);
  }, 30_000);
});

// ---- Bitcoin -----------------------------------------------------------------------------------

/** Satoshis the node's address index holds for `address` (confirmed and mempool coins). */
async function coinsOf(address: string): Promise<BcoinCoin[]> {
  return bcoin.rest<BcoinCoin[]>(`/coin/address/${address}`);
}
async function satsOf(address: string): Promise<bigint> {
  return (await coinsOf(address)).reduce((sum, coin) => sum + BigInt(coin.value), 0n);
}

/** The miner pays `value` to `address` from its oldest coinbase; returns the txid. */

/** A PSBT spending `psbt`'s inputs (with their witness data) to `outputs` instead. */
function withOutputs(
  psbt: Psbt,
  outputs: readonly { readonly script: Uint8Array; readonly value: bigint }[],
): Psbt {
  const copy = new Psbt({ network: bcoinRegtest });
  psbt.txInputs.forEach((input, i) => {
    const data = psbt.data.inputs[i];
    if (data?.witnessUtxo === undefined || data.witnessScript === undefined)
      throw new Error(`input ${i} has no witness data`);
    copy.addInput({
      hash: input.hash,
      index: input.index,
      sequence: input.sequence ?? 0xffffffff,
      witnessUtxo: data.witnessUtxo,
      witnessScript: data.witnessScript,
    });
  });
  for (const output of outputs) copy.addOutput(output);
  return copy;
}

/**
 * The built PSBT's transaction with only the service's signatures in each input's witness
 * (once, or `times` times): what a thief holding the service key alone could send.
 */
function withServiceSignatureOnly(unsignedTx: string, wallet: P2wshMultisig, times: number) {
  const psbt = Psbt.fromHex(unsignedTx, { network: bcoinRegtest });
  const tx = Transaction.fromBuffer(psbt.data.getTransaction());
  inputDigests(psbt).forEach((digest, i) => {
    const raw = normaliseSignature(
      'secp256k1',
      signDigestWithScalar('secp256k1', serviceKey.secretKey, digest),
    );
    const der = bitcoinScript.signature.encode(raw, Transaction.SIGHASH_ALL);
    tx.setWitness(i, [
      new Uint8Array(0),
      ...Array<Uint8Array>(times).fill(der),
      wallet.witnessScript,
    ]);
  });
  return tx;
}

describe('custody on Bitcoin (bcoin regtest, P2WSH 2-of-3), end to end', () => {
  let walletId = '';
  let address = '';
  let wallet: P2wshMultisig;
  const mineOne = () => bcoin.mine(1, miner.address);

  it('registers the P2WSH address of a new wallet and credits a deposit at depth 2, not at 1', async () => {
    const created = await createWallet('bitcoin');
    walletId = created.id;
    address = created.address;
    const platform = platformKeys.bitcoin;
    if (platform === undefined) throw new Error('no platform key');
    wallet = walletP2wsh(
      2,
      { offline: offlineKeys.bitcoin.publicKey, service: serviceKey.publicKey, platform },
      bcoinRegtest,
    );
    expect(address).toBe(wallet.address);
    await setPolicy(walletId, [
      {
        kind: 'set_limits',
        asset: 'BTC',
        perTransaction: (btc / 10n).toString(),
        rolling24h: (10n * btc).toString(),
      },
      { kind: 'set_approvals', approvalsRequired: 2 },
      { kind: 'whitelist_add', address: btcDestination, label: 'payee' },
    ]);
    const txid = await payFromMiner(bcoin, [{ address, value: btc }]);
    await mineOne();
    await until(
      async () => (await deposits(walletId)).some((item) => item.confirmations === 1),
      'the deposit seen at 1 confirmation',
      'bitcoin',
    );
    expect(await deposits(walletId)).toMatchObject([
      { chainTxId: txid, state: 'seen', amount: btc.toString(), confirmations: 1 },
    ]);
    expect((await ledgerBalance(walletId, 'BTC')).total).toBe(0n);
    await mineOne();
    await until(
      async () => (await ledgerBalance(walletId, 'BTC')).total === btc,
      'the deposit credited at depth 2',
      'bitcoin',
    );
    expect(await deposits(walletId)).toMatchObject([{ state: 'credited', confirmations: 2 }]);
  }, 60_000);

  it('pays a withdrawal over the limit after two admins: service, HSM, broadcast, confirmed', async () => {
    const amount = btc / 5n;
    const before = await satsOf(btcDestination);
    const id = await requestApprovedByTwo({
      walletId,
      asset: 'BTC',
      amount: amount.toString(),
      destination: btcDestination,
      idempotencyKey: 'btc-over-limit',
    });
    await until(
      async () => (await withdrawal(id)).state === 'confirmed',
      'the withdrawal confirmed',
      'bitcoin',
      {
        signFor: walletId,
        onPass: async () => {
          if ((await withdrawal(id)).state === 'broadcast') await mineOne();
        },
      },
    );
    const done = await withdrawal(id);
    const fee = BigInt(done.fee ?? '-1');
    expect(fee).toBeGreaterThan(0n);
    expect(done.digests?.length).toBe(Psbt.fromHex(done.unsignedTx ?? '').data.inputs.length);
    expect(await satsOf(btcDestination)).toBe(before + amount);
    expect(await ledgerBalance(walletId, 'BTC')).toEqual({
      total: btc - amount - fee,
      reserved: 0n,
    });
    // The wallet's coins on chain are what the ledger says it holds.
    expect(await satsOf(address)).toBe(btc - amount - fee);
    expect(await steps(id)).toEqual(expectedSteps);
  }, 60_000);

  it('refuses a compromised worker, foreign digests at the signer and the service key alone', async () => {
    const amount = btc / 20n;
    const destinationBefore = await satsOf(btcDestination);
    const walletBefore = await satsOf(address);
    btcWorker.kill('SIGSTOP');
    let id = '';
    let attackDigests: string[] = [];
    try {
      const requested = await must(service, 'request', {
        walletId,
        asset: 'BTC',
        amount: amount.toString(),
        destination: btcDestination,
        idempotencyKey: 'btc-bypass',
      });
      id = requested.txId;
      expect((await withdrawal(id)).state).toBe('approved');
      const utxos = (await coinsOf(address)).map((coin) => ({
        txid: coin.hash,
        vout: coin.index,
        value: BigInt(coin.value),
      }));
      const plan = (destination: string) =>
        planWithdrawal({
          wallet,
          utxos,
          destination,
          amount,
          feeRateSatPerVb: 2,
          network: bcoinRegtest,
        });
      // The approved payment plus a third output to the attacker, out of the change.
      const honest = buildPsbt(plan(btcDestination), wallet, bcoinRegtest);
      const change = honest.txOutputs[1];
      if (change === undefined) throw new Error('no change output');
      const skimmed = withOutputs(honest, [
        { script: outputScriptOf(btcDestination, bcoinRegtest), value: amount },
        { script: change.script, value: change.value - 1_000_000n },
        { script: outputScriptOf(btcAttacker, bcoinRegtest), value: 1_000_000n },
      ]);
      // The whole amount to the attacker instead.
      const redirected = buildPsbt(plan(btcAttacker), wallet, bcoinRegtest);
      for (const psbt of [skimmed, redirected]) {
        const digests = inputDigests(psbt).map((d) => Buffer.from(d).toString('hex'));
        attackDigests = digests;
        const result = await refused(workerClient, 'build', {
          withdrawalId: id,
          unsignedTx: psbt.toHex(),
          digests,
        });
        expect(result.code).toBe('CUSTODY_E_TX_MISMATCH');
      }
      expect(await withdrawal(id)).toMatchObject({ state: 'approved', digests: null });
    } finally {
      btcWorker.kill('SIGCONT');
    }
    await until(
      async () => (await withdrawal(id)).state === 'built',
      'the honest build',
      'bitcoin',
    );
    const built = await withdrawal(id);
    const digests = built.digests ?? [];

    // The service's signature alone (or twice) in every input: the node refuses the spend.
    const mempoolBefore = await bcoin.rpc<string[]>('getrawmempool');
    for (const times of [1, 2]) {
      const tx = withServiceSignatureOnly(built.unsignedTx ?? '', wallet, times);
      await expect(bcoin.broadcast(tx.toHex())).rejects.toThrow(/refused/);
      expect(await bcoin.rpc<string[]>('getrawmempool')).toEqual(mempoolBefore);
    }
    expect(await satsOf(address)).toBe(walletBefore);

    expect(await service.custody.signBuilt(walletId, signService)).toEqual([id]);
    const receipt = await serviceSignReceipt(id);
    const platformKeyId = platformKeys.bitcoin?.keyId ?? '';
    for (const asked of [attackDigests, [...digests].reverse().concat(digests)]) {
      await expect(
        signer.sign({ walletId, withdrawalId: id, digests: asked, keyId: platformKeyId, receipt }),
      ).rejects.toMatchObject({ code: 'SIGNER_E_DIGEST_NOT_APPROVED' });
    }
    await expectApprovedSigned(built, platformKeys.bitcoin, receipt);

    await until(
      async () => (await withdrawal(id)).state === 'confirmed',
      'the withdrawal confirmed',
      'bitcoin',
      {
        onPass: async () => {
          if ((await withdrawal(id)).state === 'broadcast') await mineOne();
        },
      },
    );
    const fee = BigInt((await withdrawal(id)).fee ?? '-1');
    expect(await satsOf(btcDestination)).toBe(destinationBefore + amount);
    expect(await satsOf(btcAttacker)).toBe(0n);
    expect(await satsOf(address)).toBe(walletBefore - amount - fee);
    expect(await ledgerBalance(walletId, 'BTC')).toEqual({
      total: walletBefore - amount - fee,
      reserved: 0n,
    });
  }, 60_000);

  it('refuses a destination off the whitelist', async () => {
    const before = await ledgerBalance(walletId, 'BTC');
    const result = await refused(service, 'request', {
      walletId,
      asset: 'BTC',
      amount: '10000',
      destination: btcAttacker,
      idempotencyKey: 'btc-not-whitelisted',
    });
    expect(result.code).toBe('CUSTODY_E_NOT_WHITELISTED');
    expect(await ledgerBalance(walletId, 'BTC')).toEqual(before);
  }, 30_000);
});

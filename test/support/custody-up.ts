// A custody consortium for end-to-end tests, with real parts: a node started by `coffer up`,
// governance naming Org2 User1 as the coffer chain's worker, the isolated signer (software key
// store) over mutual TLS, the chain worker and a 2-of-3 wallet of the service (Org1 User1):
// offline, service and platform keys, 500 CFR per withdrawal, whitelist off (optionally k admin
// approvals over the limit). Funding, the service's signing and worker passes are helpers; a
// background pump keeps withdrawals moving while something else (a browser) acts. `stop()`
// ends everything `startCustodyConsortium` started.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { expect } from 'vitest';
import {
  createClient,
  identityFromMspFolder,
  type Client,
  type ClientOptions,
} from '../../src/client/index.js';
import { createCustodyClient, type CustodyClient } from '../../src/client/custody.js';
import { multisigAccountOf } from '../../src/contracts/token.js';
import { openSoftKeyStore, type KeyInfo, type KeyStore } from '../../src/crypto/index.js';
import { generateScalarKey, signDigestWithScalar } from '../../src/crypto/keys.js';
import { createCofferChain } from '../../src/custody/chains/coffer.js';
import {
  createCustodyWorker,
  createSignerClient,
  type CustodyWorker,
  type SignerPort,
} from '../../src/custody/worker.js';
import type { WithdrawalRecord } from '../../src/custody/index.js';
import {
  createSignerServer,
  loadConsortiumMsps,
  openAuditLog,
  type SignerServer,
} from '../../src/signer/index.js';
import { coffer } from '../cli/run.js';
import { userMspDir } from './clients.js';

/** The token the wallets hold and the limits are set in. */
export const custodySymbol = 'CFR';
/** `coffer up` must print its started line within this long. */
export const upStartMsMax = 60_000;
/** After SIGINT, `coffer up` gets this long to exit before SIGKILL. */
export const upStopMsMax = 30_000;
/** The background pump's pause between passes. */
export const pumpIntervalMs = 100;
/** `until` gives up after this many passes (each a worker step, signBuilt and 50 ms). */
export const untilPassesMax = 200;

/** A ledger client and a custody API client, both as one identity (its cert is its TLS cert). */
export type Party = Client & { readonly custody: CustodyClient };

/** An identity of cryptogen's layout: its MSP folder, PEM cert and key, and Coffer identity id. */
export type IdentityFiles = {
  readonly msp: string;
  readonly cert: string;
  readonly key: string;
  readonly identityId: string;
};

/** Which worker and wallet a pass drives (default: the consortium's own). */
export type PassTarget = { readonly worker?: CustodyWorker; readonly walletId?: string };

export type Pump = { readonly stop: () => Promise<void> };

export type CustodyConsortiumOptions = {
  /**
   * Extra `coffer up` arguments (e.g. `['--console-port', '0']`), or a function of the
   * consortium's folder returning them (for files that must exist before the node starts).
   */
  readonly upArgs?: readonly string[] | ((dir: string) => Promise<readonly string[]>);
  /**
   * Admin approvals a withdrawal over the limit needs in the wallets `newWallet` makes (a
   * `set_approvals` policy change); absent: the consortium's `defaultApprovalsRequired` (one
   * on `coffer up`).
   */
  readonly approvalsRequired?: number;
};

export type CustodyConsortium = {
  /** Temporary folder of the node, its crypto material and the signer's files (removed on stop). */
  readonly dir: string;
  /** The node's API (mutual TLS). */
  readonly url: string;
  /** The console's URL, when `coffer up` printed one (`console` field, or `console listening on`). */
  readonly consoleUrl: string | undefined;
  /** The TLS CA file and server name clients use for the node (from client.json). */
  readonly tls: { readonly caFile: string; readonly servername: string };
  /** Org1 User1: owns the wallet, requests withdrawals, signs built ones with `serviceKey`. */
  readonly service: Party;
  readonly admin1: Party;
  readonly admin2: Party;
  /** Org2 User1: the coffer chain's worker by governance, and the signer's only caller. */
  readonly workerClient: Party;
  readonly keyStore: KeyStore;
  /** The platform key in the signer's software key store. */
  readonly platform: KeyInfo;
  readonly signer: SignerPort;
  readonly worker: CustodyWorker;
  /** The service's 2-of-3 wallet over `platform` (not funded: see `fund`). */
  readonly walletId: string;
  readonly offline: { readonly secretKey: Uint8Array; readonly publicKey: string };
  readonly serviceKey: { readonly secretKey: Uint8Array; readonly publicKey: string };
  /** Errors the workers (and the pumps) reported, oldest first. */
  readonly errors: readonly string[];
  readonly signService: (digest: Uint8Array) => Promise<Uint8Array>;
  readonly identityFiles: (org: number, user: string) => Promise<IdentityFiles>;
  /** A new client pair as `user` (`Admin`, `User1`) of organisation `org`; the caller closes it. */
  readonly party: (org: number, user: string) => Promise<Party>;
  readonly withdrawal: (id: string) => Promise<WithdrawalRecord>;
  readonly tokenBalance: (account: string) => Promise<string>;
  /** A signer over `keyStore` writing `auditFile` in `dir`; the caller closes its server. */
  readonly startSigner: (
    keyStore: KeyStore,
    auditFile: string,
  ) => Promise<{ server: SignerServer; client: SignerPort }>;
  /** A coffer chain worker as `workerClient` asking `signer`; the caller stops it. */
  readonly workerWith: (signer: SignerPort) => CustodyWorker;
  /** A new 2-of-3 wallet of the service over `platformKey`, with the 500 CFR policy. */
  readonly newWallet: (platformKey: KeyInfo) => Promise<string>;
  /** Mints `amount` to the wallet's multisig account and runs passes until it is credited. */
  readonly fund: (walletId: string, amount: string, on?: PassTarget) => Promise<void>;
  /** One worker step, then the service signs what is built (passes never overlap). */
  readonly pass: (on?: PassTarget) => Promise<void>;
  /** Runs passes until `done` holds (receipts can take a signature interval). */
  readonly until: (done: () => Promise<boolean>, what: string, on?: PassTarget) => Promise<void>;
  /** Passes every `pumpIntervalMs` in the background until stopped (errors go to `errors`). */
  readonly startPump: (on?: PassTarget) => Pump;
  /** Stops pumps, worker, signer, clients and `coffer up`, and removes `dir`. */
  readonly stop: () => Promise<void>;
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

/** Submits and waits for the commit; the test fails unless it committed. */
export async function must(
  client: Client,
  app: string,
  action: string,
  args: Record<string, unknown>,
): Promise<{ txId: string; result: Record<string, unknown> }> {
  const result = await client.submit(app, action, args, { wait: 'commit' });
  expect(result, `${app} ${action}: ${result.code ?? ''} ${result.message ?? ''}`).toMatchObject({
    status: 'Committed',
  });
  return { txId: result.txId, result: result.result as Record<string, unknown> };
}

type Started = { child: ChildProcess; url: string; consoleUrl: string | undefined };

/** `coffer up --json` in `dir`; resolves on its started line, with the URLs it printed. */
async function startUp(dir: string, extra: readonly string[]): Promise<Started> {
  const child = spawn(
    coffer,
    ['up', '--dir', dir, '--port', '0', '--json', '--log-level', 'warn', ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout });
  let url = '';
  let consoleUrl: string | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`node did not start: ${stderr}`));
      }, upStartMsMax);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`node exited with ${String(code)}: ${stderr}`));
      });
      lines.on('line', (line) => {
        const consoleListening = /console listening on (https:\/\/\S+)/.exec(line)?.[1];
        const listening = /listening on (https:\/\/\S+)/.exec(line)?.[1];
        if (consoleListening !== undefined) consoleUrl = consoleListening;
        else if (listening !== undefined) url = listening;
        if (!line.includes('"event":"started"')) return;
        const started = JSON.parse(line) as { url?: unknown; console?: unknown };
        if (typeof started.url === 'string') url = started.url;
        if (typeof started.console === 'string') consoleUrl = started.console;
        clearTimeout(timer);
        resolve();
      });
    });
  } catch (error) {
    if (child.exitCode === null) child.kill('SIGKILL');
    throw error;
  }
  child.removeAllListeners('exit');
  return { child, url, consoleUrl };
}

/** SIGINT, then SIGKILL if it has not exited after `upStopMsMax`. */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), upStopMsMax);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts `coffer up` in a new temporary folder and sets custody up on it as described at the top
 * of this file. On failure, whatever was started is stopped before the error is thrown.
 */
export async function startCustodyConsortium(
  options: CustodyConsortiumOptions = {},
): Promise<CustodyConsortium> {
  const dir = await mkdtemp(path.join(tmpdir(), 'coffer-e2e-custody-'));
  const errors: string[] = [];
  const clients: Party[] = [];
  const pumps = new Set<Pump>();
  let node: ChildProcess | undefined;
  let keyStore: KeyStore | undefined;
  let signerServer: SignerServer | undefined;
  let worker: CustodyWorker | undefined;
  let stopped = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const failures: unknown[] = [];
    const attempt = async (work: () => Promise<void> | void): Promise<void> => {
      try {
        await work();
      } catch (error) {
        failures.push(error);
      }
    };
    for (const pump of pumps) await attempt(() => pump.stop());
    await attempt(() => worker?.stop());
    await attempt(() => signerServer?.close());
    await attempt(() => keyStore?.close());
    for (const client of clients) {
      await attempt(() => {
        client.close();
        client.custody.close();
      });
    }
    const child = node;
    if (child !== undefined) await attempt(() => stopProcess(child));
    await attempt(() => rm(dir, { recursive: true, force: true }));
    if (failures.length > 0) throw new AggregateError(failures, 'custody consortium stop failed');
  };

  try {
    const extra =
      typeof options.upArgs === 'function' ? await options.upArgs(dir) : (options.upArgs ?? []);
    const started = await startUp(dir, extra);
    node = started.child;
    const profile = JSON.parse(await readFile(path.join(dir, 'client.json'), 'utf8')) as Record<
      string,
      string
    >;
    const tls = { caFile: String(profile['caFile']), servername: String(profile['servername']) };
    const ca = await readFile(tls.caFile, 'utf8');

    const identityFiles = async (org: number, user: string): Promise<IdentityFiles> => {
      const msp = userMspDir(path.join(dir, 'crypto'), org, user);
      const [certFile] = await readdir(path.join(msp, 'signcerts'));
      const [keyFile] = await readdir(path.join(msp, 'keystore'));
      const cert = await readFile(path.join(msp, 'signcerts', certFile ?? ''), 'utf8');
      const key = await readFile(path.join(msp, 'keystore', keyFile ?? ''), 'utf8');
      const identityId = createHash('sha256').update(new X509Certificate(cert).raw).digest('hex');
      return { msp, cert, key, identityId };
    };

    const party = async (org: number, user: string): Promise<Party> => {
      const files = await identityFiles(org, user);
      const clientOptions: ClientOptions = {
        url: started.url,
        servername: tls.servername,
        ca,
        tlsCert: files.cert,
        tlsKey: files.key,
        ...(await identityFromMspFolder(files.msp, `Org${org}MSP`)),
      };
      return { ...createClient(clientOptions), custody: createCustodyClient(clientOptions) };
    };
    const owned = async (org: number, user: string): Promise<Party> => {
      const client = await party(org, user);
      clients.push(client);
      return client;
    };

    const service = await owned(1, 'User1');
    const admin1 = await owned(1, 'Admin');
    const admin2 = await owned(2, 'Admin');
    const workerIdentity = await identityFiles(2, 'User1');
    const workerClient = await owned(2, 'User1');
    const offline = generateScalarKey('P-256');
    const serviceKey = generateScalarKey('P-256');
    const signService = (digest: Uint8Array): Promise<Uint8Array> =>
      Promise.resolve(signDigestWithScalar('P-256', serviceKey.secretKey, digest));

    const startSigner = async (
      store: KeyStore,
      auditFile: string,
    ): Promise<{ server: SignerServer; client: SignerPort }> => {
      const crypto = path.join(dir, 'crypto');
      const msps = await loadConsortiumMsps(
        [1, 2, 3].map((n) => ({
          mspId: `Org${n}MSP`,
          mspDir: path.join(crypto, 'peerOrganizations', `org${n}.coffer.local`, 'msp'),
        })),
      );
      const peers = path.join(crypto, 'peerOrganizations', 'org1.coffer.local', 'peers');
      const [peer] = await readdir(peers);
      const tlsDir = path.join(peers, peer ?? '', 'tls');
      const server = await createSignerServer({
        config: {
          authorisedCallers: [{ mspId: 'Org2MSP', identityId: workerIdentity.identityId }],
          organisationsMin: 1,
          receiptAgeMsMax: 600_000,
          requestsInFlightMax: 64,
        },
        msps,
        keyStore: store,
        audit: await openAuditLog(path.join(dir, auditFile), () => Date.now()),
        logger: pino({ level: 'silent' }),
        tls: {
          cert: await readFile(path.join(tlsDir, 'server.crt'), 'utf8'),
          key: await readFile(path.join(tlsDir, 'server.key'), 'utf8'),
        },
      });
      const client = createSignerClient({
        url: await server.listen('127.0.0.1', 0),
        ca: await readFile(path.join(tlsDir, 'ca.crt'), 'utf8'),
        servername: peer ?? '',
        cert: workerIdentity.cert,
        key: workerIdentity.key,
      });
      return { server, client };
    };

    const workerWith = (signerPort: SignerPort): CustodyWorker =>
      createCustodyWorker({
        ledger: workerClient,
        custody: workerClient.custody,
        signer: signerPort,
        chain: createCofferChain(workerClient),
        onEvent: (event) => {
          if (event.kind === 'error') errors.push(`${event.action} ${event.id}: ${event.error}`);
        },
      });

    const newWallet = async (platformKey: KeyInfo): Promise<string> => {
      const created = await must(service, 'custody', 'create_wallet', {
        chain: 'coffer',
        label: 'e2e',
        keys: {
          offline: offline.publicKey,
          service: serviceKey.publicKey,
          platform: { keyId: platformKey.keyId, publicKey: platformKey.publicKey, curve: 'P-256' },
        },
      });
      const id = created.txId;
      const { approvalsRequired } = options;
      for (const change of [
        { kind: 'set_limits', asset: custodySymbol, perTransaction: '500', rolling24h: '100000' },
        { kind: 'set_whitelist_enabled', enabled: false },
        ...(approvalsRequired === undefined ? [] : [{ kind: 'set_approvals', approvalsRequired }]),
      ]) {
        const proposal = await must(service, 'custody', 'propose_policy', { walletId: id, change });
        await must(admin1, 'custody', 'approve_policy', { changeId: proposal.txId });
        await must(admin2, 'custody', 'approve_policy', { changeId: proposal.txId });
      }
      return id;
    };

    // The consortium names the worker (set_custody: Org1 proposes, Org2's vote accepts).
    const custody = { chains: { coffer: { workers: [`Org2MSP:${workerIdentity.identityId}`] } } };
    const proposed = await must(admin1, 'gov', 'propose', {
      actions: [{ name: 'set_custody', args: { custody } }],
    });
    const voted = await must(admin2, 'gov', 'vote', { proposalId: proposed.txId, ballot: 'yes' });
    expect(voted.result, JSON.stringify(proposed.result)).toMatchObject({ state: 'Accepted' });

    // The signer: software key store, consortium MSPs, one organisation's node signs roots.
    keyStore = await openSoftKeyStore({
      file: path.join(dir, 'signer-keys.json'),
      passphrase: 'custody e2e passphrase',
      create: true,
      kdfLog2N: 14,
    });
    const platform = await keyStore.generate({ curve: 'P-256', label: 'platform' });
    const signerStarted = await startSigner(keyStore, 'signer-audit.log');
    signerServer = signerStarted.server;
    const defaultWorker = workerWith(signerStarted.client);
    worker = defaultWorker;
    const walletId = await newWallet(platform);

    // Passes run one at a time: a pump and an `until` may both be driving the same worker.
    let passing: Promise<void> = Promise.resolve();
    const pass = (on: PassTarget = {}): Promise<void> => {
      const run = passing.then(async () => {
        await (on.worker ?? defaultWorker).step();
        await service.custody.signBuilt(on.walletId ?? walletId, signService);
      });
      passing = run.catch(() => undefined);
      return run;
    };

    const until = async (
      done: () => Promise<boolean>,
      what: string,
      on: PassTarget = {},
    ): Promise<void> => {
      for (let count = 0; count < untilPassesMax; count += 1) {
        if (await done()) return;
        await pass(on);
        await sleep(50);
      }
      throw new Error(`${what} did not happen; worker errors: ${errors.slice(-5).join(' | ')}`);
    };

    const startPump = (on: PassTarget = {}): Pump => {
      const state = { running: true };
      const loop = (async () => {
        while (state.running) {
          try {
            await pass(on);
          } catch (error) {
            errors.push(`pump: ${messageOf(error)}`);
          }
          await sleep(pumpIntervalMs);
        }
      })();
      const pump: Pump = {
        stop: async () => {
          state.running = false;
          pumps.delete(pump);
          await loop;
        },
      };
      pumps.add(pump);
      return pump;
    };

    const balanceOf = async (id: string): Promise<bigint> => {
      const answer = (await service.custody.balances(id)) as {
        balances: { asset: string; total: string }[];
      };
      const item = answer.balances.find((entry) => entry.asset === custodySymbol);
      return BigInt(item?.total ?? '0');
    };

    const fund = async (id: string, amount: string, on: PassTarget = {}): Promise<void> => {
      const expected = (await balanceOf(id)) + BigInt(amount);
      await must(admin1, 'token', 'mint', {
        symbol: custodySymbol,
        to: multisigAccountOf(id),
        amount,
      });
      await until(async () => (await balanceOf(id)) === expected, `the deposit of ${amount}`, {
        ...on,
        walletId: id,
      });
    };

    return {
      dir,
      url: started.url,
      consoleUrl: started.consoleUrl,
      tls,
      service,
      admin1,
      admin2,
      workerClient,
      keyStore,
      platform,
      signer: signerStarted.client,
      worker: defaultWorker,
      walletId,
      offline,
      serviceKey,
      errors,
      signService,
      identityFiles,
      party,
      withdrawal: async (id) =>
        (
          (await service.query('custody', 'withdrawal', { withdrawalId: id })) as {
            withdrawal: WithdrawalRecord;
          }
        ).withdrawal,
      tokenBalance: async (account) =>
        (
          (await admin1.query('token', 'balance', { symbol: custodySymbol, account })) as {
            balance: string;
          }
        ).balance,
      startSigner,
      workerWith,
      newWallet,
      fund,
      pass,
      until,
      startPump,
      stop,
    };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}

// A Coffer node in-process with the EVM app and its Ethereum JSON-RPC endpoint (issue 9):
// engine + mutual-TLS API on 127.0.0.1, Org1's peer relaying Ethereum transactions, Org1's
// User1 as a Coffer client, and an unmodified ethers.js provider over the node's mutual TLS
// (a FetchRequest with the client's agent). `bind` binds an Ethereum account to User1.
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FetchRequest, JsonRpcProvider, type Wallet } from 'ethers';
import { pino } from 'pino';
import { expect } from 'vitest';
import { createClient, identityFromMspFolder, type Client } from '../../src/client/index.js';
import { builtInApps, type App, type AppRegistry } from '../../src/contracts/index.js';
import { bindingMessage, defaultChainId, evmApp } from '../../src/evm/index.js';
import { createApi, type ApiServer } from '../../src/node/api.js';
import type { Engine } from '../../src/node/engine.js';
import { evmNodeOf } from '../../src/node/evm-rpc.js';
import type { EvmNode } from '../../src/evm/rpc.js';
import {
  org1Material,
  org1PeerDir,
  org1PeerTls,
  org1UserClientOptions,
  startOrg1Engine,
  type Org1,
} from './org1.js';

export type EvmTestNode = {
  readonly engine: Engine;
  readonly org1: Org1;
  /** The JSON-RPC URL (https://127.0.0.1:PORT/v1/evm/rpc). */
  readonly rpcUrl: string;
  /** User1's TLS credentials towards the node (what an Ethereum client needs besides the URL). */
  readonly tls: {
    readonly ca: string;
    readonly cert: string;
    readonly key: string;
    readonly servername: string;
  };
  readonly agent: Agent;
  /** ethers over mutual TLS, polling every 50 ms, no answer cache. */
  readonly provider: JsonRpcProvider;
  readonly user: Client;
  /** Binds `wallet`'s account to User1 (evm/bind, committed). */
  readonly bind: (wallet: Wallet) => Promise<void>;
  readonly close: () => Promise<void>;
};

/** What `promise` rejected with; undefined when it resolved (a refusal the test expects). */
export function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (failure: unknown) => failure,
  );
}

/** A FetchRequest for `url` over `agent`: how ethers reaches a mutual-TLS endpoint. */
export function tlsConnection(url: string, agent: Agent): FetchRequest {
  const connection = new FetchRequest(url);
  connection.getUrlFunc = FetchRequest.createGetUrlFunc({ agent });
  return connection;
}

/**
 * The engine of Org1's node on `work`/node (started again on the same folder, it recovers from
 * it) with the EVM app, and its EvmNode relaying as the peer: what the API serves, without it.
 */
export async function startEvmEngine(
  work: string,
  org1: Org1,
  apps: AppRegistry = new Map([...builtInApps(), [evmApp.name, evmApp]]),
): Promise<{ readonly engine: Engine; readonly evm: EvmNode }> {
  const engine = await startOrg1Engine(work, org1, {
    dir: 'node',
    nodeId: 'n0',
    apps,
    signatureIntervalMs: 50,
  });
  const relayer = await identityFromMspFolder(path.join(org1PeerDir(work), 'msp'), 'Org1MSP');
  return { engine, evm: evmNodeOf(engine, relayer.identity, { signer: relayer.signer }) };
}

export async function startEvmNode(extraApps: readonly App[] = []): Promise<EvmTestNode> {
  const work = await mkdtemp(path.join(tmpdir(), 'coffer-evm-node-'));
  const org1 = await org1Material(work);
  const apps = new Map([
    ...builtInApps(),
    [evmApp.name, evmApp],
    ...extraApps.map((app) => [app.name, app] as const),
  ]);
  const { engine, evm } = await startEvmEngine(work, org1, apps);
  let api: ApiServer;
  try {
    api = await createApi({
      engine,
      consortium: () => org1.consortium,
      apps,
      tls: await org1PeerTls(work),
      logger: pino({ level: 'silent' }),
      evm,
    });
  } catch (error) {
    await engine.stop();
    throw error;
  }
  const url = await api.listen('127.0.0.1', 0);
  const userOptions = await org1UserClientOptions(work, org1);
  const tls = {
    ca: userOptions.ca,
    cert: userOptions.tlsCert,
    key: userOptions.tlsKey,
    servername: userOptions.servername,
  };
  const user = createClient({ url, ...userOptions });
  const agent = new Agent({ ...tls });
  const rpcUrl = `${url}/v1/evm/rpc`;
  // No 250 ms answer cache: transactions here follow each other faster than that (as on anvil).
  const provider = new JsonRpcProvider(tlsConnection(rpcUrl, agent), undefined, {
    pollingInterval: 50,
    cacheTimeout: -1,
  });
  const bind = async (wallet: Wallet): Promise<void> => {
    const message = bindingMessage(
      defaultChainId,
      wallet.address,
      'Org1MSP',
      org1.user.identity.certRef,
    );
    const bound = await user.submit(
      'evm',
      'bind',
      { address: wallet.address, signature: await wallet.signMessage(message) },
      { wait: 'commit' },
    );
    expect(bound.status, `${bound.code ?? ''} ${bound.message ?? ''}`).toBe('Committed');
  };
  return {
    engine,
    org1,
    rpcUrl,
    tls,
    agent,
    provider,
    user,
    bind,
    close: async () => {
      provider.destroy();
      user.close();
      agent.destroy();
      await api.close();
      await engine.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}

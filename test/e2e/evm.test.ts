// Ethereum contracts on a Coffer network (issue 9), as users run it: `coffer network up --nodes 3`
// (3 etcd members and 3 nodes, real processes on loopback), accounts bound with
// `coffer evm bind`, and unmodified ethers.js on each organisation's node over its mutual TLS.
// OpenZeppelin's ERC-20 (solc) is deployed through one node, used through the others, its
// events read from a third; a revert is refused by estimation and recorded with status 0 when
// mined; every node holds the same balances.
import { readFile, writeFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import path from 'node:path';
import {
  Contract,
  BaseWallet,
  ContractFactory,
  JsonRpcProvider,
  Wallet,
  isError,
  type ContractTransactionResponse,
} from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientProfile } from '../../src/cli/profile.js';
import { runCoffer } from '../cli/run.js';
import { cofferToken } from '../support/erc20.js';
import { rejectionOf, tlsConnection } from '../support/evm-node.js';
import { networkDown, networkUp, type TestNetwork } from './network-support.js';

let network: TestNetwork;
const agents: Agent[] = [];
const providers: JsonRpcProvider[] = [];
const alice = Wallet.createRandom();
const bob = Wallet.createRandom();
let tokenAddress = '';

const profileOf = (org: number) => path.join(network.dir, `client-org${org}.json`);

/** ethers on organisation `org`'s node, with its client profile's TLS credentials. */
async function providerOf(org: number): Promise<JsonRpcProvider> {
  const profile = JSON.parse(await readFile(profileOf(org), 'utf8')) as ClientProfile;
  const agent = new Agent({
    ca: await readFile(profile.caFile, 'utf8'),
    cert: await readFile(profile.tlsCertFile, 'utf8'),
    key: await readFile(profile.tlsKeyFile, 'utf8'),
    servername: profile.servername,
  });
  agents.push(agent);
  const provider = new JsonRpcProvider(
    tlsConnection(`${profile.url}/v1/evm/rpc`, agent),
    undefined,
    {
      pollingInterval: 100,
      cacheTimeout: -1,
    },
  );
  providers.push(provider);
  return provider;
}

beforeAll(async () => {
  network = await networkUp();
  for (const org of [1, 2, 3]) await providerOf(org);
}, 120_000);

afterAll(async () => {
  for (const provider of providers) provider.destroy();
  for (const agent of agents) agent.destroy();
  await networkDown(network);
}, 60_000);

function token(org: number, wallet: BaseWallet): Contract {
  const provider = providers[org - 1];
  if (provider === undefined) throw new Error(`no provider for org ${org}`);
  return new Contract(tokenAddress, cofferToken().abi as never, wallet.connect(provider));
}

describe('Ethereum contracts on a 3-node Coffer network', () => {
  it('binds accounts with coffer evm bind, by key file and by a signature made elsewhere', async () => {
    const keyFile = path.join(network.dir, 'alice.key');
    await writeFile(keyFile, `${alice.privateKey}\n`, { mode: 0o600 });
    const byKey = await runCoffer([
      'evm',
      'bind',
      '--key-file',
      keyFile,
      '--profile',
      profileOf(1),
    ]);
    expect(byKey.code, byKey.stderr + byKey.stdout).toBe(0);
    expect(JSON.parse(byKey.stdout)).toMatchObject({ status: 'Committed' });

    const message = await runCoffer([
      'evm',
      'message',
      '--address',
      bob.address,
      '--profile',
      profileOf(2),
    ]);
    expect(message.code, message.stderr).toBe(0);
    expect(message.stdout).toContain(`account: ${bob.address.toLowerCase()}`);
    expect(message.stdout).toContain('msp: Org2MSP');
    const signature = await bob.signMessage(message.stdout.replace(/\n$/, ''));
    const bySignature = await runCoffer([
      'evm',
      'bind',
      '--address',
      bob.address,
      '--signature',
      signature,
      '--profile',
      profileOf(2),
    ]);
    expect(bySignature.code, bySignature.stderr + bySignature.stdout).toBe(0);

    const accounts = await runCoffer(['evm', 'accounts', '--profile', profileOf(2)]);
    expect(JSON.parse(accounts.stdout)).toEqual({ accounts: [bob.address.toLowerCase()] });
  });

  it('deploys the ERC-20 through one node and uses it through the others', async () => {
    const [one, two, three] = providers as [JsonRpcProvider, JsonRpcProvider, JsonRpcProvider];
    const compiled = cofferToken();
    const factory = new ContractFactory(
      compiled.abi as never,
      compiled.bytecode,
      alice.connect(one),
    );
    const deployed = await factory.deploy(1_000_000n);
    await deployed.waitForDeployment();
    tokenAddress = await deployed.getAddress();

    const sent = (await token(1, alice).getFunction('transfer')(
      bob.address,
      5_000n,
    )) as ContractTransactionResponse;
    expect((await sent.wait())?.status).toBe(1);
    // Bob spends through Org2's node what Alice sent through Org1's (once that node ran it).
    await two.waitForTransaction(sent.hash);
    const back = (await token(2, bob).getFunction('transfer')(
      alice.address,
      1_500n,
    )) as ContractTransactionResponse;
    const backReceipt = await back.wait();
    expect(backReceipt?.status).toBe(1);

    // Org3's node, which neither sent, reads both transfers' events.
    const readable = token(3, Wallet.createRandom());
    const transfers = await readable.queryFilter(readable.filters['Transfer']?.() ?? 'Transfer', 0);
    const amounts = transfers.map((event) => ('args' in event ? event.args.map(String) : []));
    expect(amounts).toContainEqual([alice.address, bob.address, '5000']);
    expect(amounts).toContainEqual([bob.address, alice.address, '1500']);
    const onThree = await three.waitForTransaction(back.hash);
    expect(onThree?.blockNumber).toBe(backReceipt?.blockNumber);
    expect(onThree?.blockHash).toBe(backReceipt?.blockHash);
    expect(await two.getCode(tokenAddress)).toBe(await three.getCode(tokenAddress));
  });

  it('handles a revert on any node, and refuses an account bound to no identity', async () => {
    const transfer = token(3, bob).getFunction('transfer');
    const estimated = await rejectionOf(transfer(alice.address, 10n ** 9n));
    expect(isError(estimated, 'CALL_EXCEPTION')).toBe(true);
    const mined = (await transfer(alice.address, 10n ** 9n, {
      gasLimit: 200_000n,
    })) as ContractTransactionResponse;
    const failed = await rejectionOf(mined.wait());
    expect(isError(failed, 'CALL_EXCEPTION')).toBe(true);
    expect((await providers[0]?.waitForTransaction(mined.hash))?.status).toBe(0);

    const stranger = Wallet.createRandom();
    const refused = await rejectionOf(
      token(2, stranger).getFunction('transfer')(alice.address, 1n, { gasLimit: 100_000n }),
    );
    expect(String(refused)).toMatch(/EVM_E_ACCOUNT_UNBOUND/);
  });

  it('holds the same balances on every node', async () => {
    const expected = { alice: 1_000_000n - 5_000n + 1_500n, bob: 5_000n - 1_500n };
    for (const org of [1, 2, 3]) {
      const view = token(org, Wallet.createRandom());
      // A node that has not yet run the last batch catches up within moments.
      for (let attempt = 0; ; attempt += 1) {
        const balances = {
          alice: (await view.getFunction('balanceOf')(alice.address)) as bigint,
          bob: (await view.getFunction('balanceOf')(bob.address)) as bigint,
        };
        if (balances.alice === expected.alice && balances.bob === expected.bob) break;
        if (attempt > 50) expect(balances).toEqual(expected);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  });
});

// The chain files of `coffer custody worker --chain ethereum|bitcoin --chain-config F`
// (src/cli/custody-chains.ts): what each must name, secrets read from files next to it, and a
// clear CLI_E_USAGE naming the file and field for anything else. Opening a chain talks to no
// node yet (the worker's first step does).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openChain } from '../../src/cli/custody-chains.js';
import type { LedgerPort } from '../../src/custody/chains/types.js';
import { defaultCustodyParams } from '../../src/custody/index.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-cli-custody-chains-'));
  await writeFile(path.join(work, 'relayer.key'), `0x${'11'.repeat(32)}\n`);
  await writeFile(path.join(work, 'rpc.password'), 'hunter2-but-longer\n');
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const ledger: LedgerPort = {
  submit: () => Promise.reject(new Error('no ledger here')),
  status: () => Promise.reject(new Error('no ledger here')),
  query: () => Promise.reject(new Error('no ledger here')),
  receipt: () => Promise.reject(new Error('no ledger here')),
};
const safe = {
  singleton: `0x${'01'.repeat(20)}`,
  factory: `0x${'02'.repeat(20)}`,
  fallbackHandler: `0x${'03'.repeat(20)}`,
};

async function file(name: string, json: unknown): Promise<string> {
  const at = path.join(work, name);
  await writeFile(at, typeof json === 'string' ? json : JSON.stringify(json));
  return at;
}

const open = (chain: string, config: string | undefined) =>
  openChain(chain, config, defaultCustodyParams, ledger);

describe('coffer custody worker chain files', () => {
  it('opens coffer without a file, ethereum and bitcoin with one', async () => {
    const coffer = await open('coffer', undefined);
    expect(coffer.chain.chain).toBe('coffer');
    const eth = await open(
      'ethereum',
      await file('eth.json', { rpcUrl: 'http://127.0.0.1:1', relayerKeyFile: 'relayer.key', safe }),
    );
    expect(eth.chain).toMatchObject({ chain: 'ethereum', confirmations: 12 });
    eth.close();
    const btc = await open(
      'bitcoin',
      await file('btc.json', {
        rpcUrl: 'http://127.0.0.1:1',
        network: 'regtest',
        rpcUser: 'coffer',
        rpcPasswordFile: 'rpc.password',
        feeRateFallbackSatPerVb: 5,
      }),
    );
    expect(btc.chain).toMatchObject({ chain: 'bitcoin', confirmations: 6 });
    btc.close();
  });

  it('names the file and field of every mistake', async () => {
    await expect(open('coffer', 'x.json')).rejects.toMatchObject({ code: 'CLI_E_USAGE' });
    await expect(open('ethereum', undefined)).rejects.toMatchObject({
      code: 'CLI_E_USAGE',
      message: expect.stringContaining('--chain-config') as unknown,
    });
    await expect(open('dogecoin', undefined)).rejects.toMatchObject({ code: 'CLI_E_USAGE' });
    await expect(open('ethereum', path.join(work, 'missing.json'))).rejects.toMatchObject({
      code: 'CLI_E_FILE_UNREADABLE',
    });
    const cases: [string, unknown, RegExp][] = [
      ['ethereum', 'not json', /is not JSON/],
      ['ethereum', { rpcUrl: 'ftp://x', relayerKeyFile: 'relayer.key', safe }, /rpcUrl/],
      [
        'ethereum',
        { rpcUrl: 'http://127.0.0.1:1', relayerKeyFile: 'rpc.password', safe },
        /relayerKeyFile must hold a private key/,
      ],
      [
        'ethereum',
        {
          rpcUrl: 'http://127.0.0.1:1',
          relayerKeyFile: 'relayer.key',
          safe: { ...safe, factory: '0x12' },
        },
        /factory/,
      ],
      [
        'ethereum',
        { rpcUrl: 'http://127.0.0.1:1', relayerKeyFile: 'relayer.key', safe, relayerKey: '0x' },
        /relayerKey is not a field/,
      ],
      ['bitcoin', { rpcUrl: 'http://127.0.0.1:1', network: 'dogenet' }, /network must be one of/],
      [
        'bitcoin',
        { rpcUrl: 'http://127.0.0.1:1', network: 'mainnet', feeRateMaxSatPerVb: 0 },
        /feeRateMaxSatPerVb/,
      ],
    ];
    for (const [chain, json, message] of cases) {
      await expect(open(chain, await file(`${chain}-bad.json`, json))).rejects.toMatchObject({
        code: 'CLI_E_USAGE',
        message: expect.stringMatching(message) as unknown,
      });
    }
  });
});

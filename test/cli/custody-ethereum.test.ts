// `coffer custody ethereum deploy-safe` (src/cli/custody-ethereum.ts) against a real anvil:
// the three Safe contracts are deployed and their addresses written in the chain file's shape;
// an existing --out is never overwritten (and nothing is deployed); a bad key file is refused.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ethereumCommand } from '../../src/cli/custody-ethereum.js';
import { anvilKeys, startAnvil, type Anvil } from '../support/anvil.js';

let anvil: Anvil;
let work: string;
beforeAll(async () => {
  anvil = await startAnvil();
  work = await mkdtemp(path.join(tmpdir(), 'coffer-cli-custody-ethereum-'));
  await writeFile(path.join(work, 'deployer.key'), `${anvilKeys[0]}\n`);
  await writeFile(path.join(work, 'bad.key'), 'not a key\n');
});
afterAll(async () => {
  await anvil.stop();
  await rm(work, { recursive: true, force: true });
});

const io = { stdout: () => undefined, stderr: () => undefined };

describe('coffer custody ethereum deploy-safe', () => {
  it('deploys Safe 1.4.1 and writes {singleton, factory, fallbackHandler}', async () => {
    const out = path.join(work, 'safe.json');
    const args = [
      'deploy-safe',
      '--rpc-url',
      anvil.url,
      '--key-file',
      path.join(work, 'deployer.key'),
    ];
    expect(await ethereumCommand([...args, '--out', out], io)).toBe(0);
    const safe = JSON.parse(await readFile(out, 'utf8')) as Record<string, string>;
    expect(Object.keys(safe).sort()).toEqual(['factory', 'fallbackHandler', 'singleton']);
    for (const address of Object.values(safe)) {
      expect(address).toMatch(/^0x[0-9a-fA-F]{40}$/);
      expect(await anvil.rpc('eth_getCode', [address, 'latest'])).not.toBe('0x');
    }
    const nonce = await anvil.rpc('eth_getTransactionCount', [
      '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
      'latest',
    ]);
    await expect(ethereumCommand([...args, '--out', out], io)).rejects.toMatchObject({
      code: 'CLI_E_FILE_UNREADABLE',
      message: expect.stringContaining('never overwritten') as unknown,
    });
    expect(
      await anvil.rpc('eth_getTransactionCount', [
        '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
        'latest',
      ]),
    ).toBe(nonce);
  });

  it('refuses a key file without a private key, and unknown commands', async () => {
    await expect(
      ethereumCommand(
        [
          'deploy-safe',
          '--rpc-url',
          anvil.url,
          '--key-file',
          path.join(work, 'bad.key'),
          '--out',
          path.join(work, 'x.json'),
        ],
        io,
      ),
    ).rejects.toMatchObject({ code: 'CLI_E_USAGE' });
    await expect(ethereumCommand(['deploy-token'], io)).rejects.toMatchObject({
      code: 'CLI_E_USAGE',
    });
  });
});

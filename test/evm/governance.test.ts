// The EVM's chain id through governance (issue 9): a set_evm proposal, once accepted, has the
// evm app set its parameters (through the governance trigger only, on the real execution path:
// runCall's map ownership and invoke); nobody sets them directly.
import { beforeAll, describe, expect, it } from 'vitest';
import { createAppHarness } from '../../src/contracts/harness.js';
import { defaultChainId, evmApp } from '../../src/evm/index.js';
import { checkGenesis, configWrites, governanceApp } from '../../src/governance/index.js';
import { material, type Material } from '../governance/support.js';

let m: Material;

beforeAll(async () => {
  m = await material();
}, 120_000);

describe('the EVM chain id through governance', () => {
  it('changes by an accepted set_evm proposal, never by a direct call', () => {
    const h = createAppHarness({ extraApps: [governanceApp, evmApp] });
    // One member: its admin's proposal is accepted at once.
    const solo = checkGenesis({ msps: { Org1MSP: m.json('Org1MSP') }, members: ['Org1MSP'] });
    const genesisTx = h.store.begin();
    for (const write of configWrites(solo)) genesisTx.put(write.map, write.key, write.value);
    h.store.apply(genesisTx.writeSet(), 1);
    const admin = h.caller('Org1MSP', 'admin');
    const chainId = () => {
      const params = h.query('evm', 'params', {}, admin);
      return params.status === 'committed' ? (params.result as { chainId: number }).chainId : -1;
    };
    expect(chainId()).toBe(defaultChainId);

    const direct = h.call({
      app: 'evm',
      action: 'set_params',
      caller: admin,
      args: { chainId: 9 },
    });
    expect(direct.status === 'invalid' && direct.code).toBe('APP_E_FORBIDDEN');
    expect(chainId()).toBe(defaultChainId);

    const proposed = h.call({
      app: 'gov',
      action: 'propose',
      caller: admin,
      args: { actions: [{ name: 'set_evm', args: { chainId: 424242 } }] },
    });
    expect(proposed.status, JSON.stringify(proposed)).toBe('committed');
    expect(proposed.status === 'committed' && proposed.result).toMatchObject({ state: 'Accepted' });
    expect(chainId()).toBe(424242);
  });
});

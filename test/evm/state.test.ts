// The EVM's state in Coffer's key-value store (src/evm/state.ts, issue 9): what one call
// writes (storage, nonce, code) is in the store afterwards and a second EVM over the same store
// reads it; a reverted call's storage writes never reach the store; an account deleted goes from
// the store.
import { createEVM } from '@ethereumjs/evm';
import { Common, Hardfork, Mainnet } from '@ethereumjs/common';
import { createAddressFromString, hexToBytes, bytesToHex } from '@ethereumjs/util';
import { describe, expect, it } from 'vitest';
import type { KvWriter } from '../../src/contracts/index.js';
import { KvStateManager, evmMaps } from '../../src/evm/index.js';

const common = new Common({ chain: Mainnet, hardfork: Hardfork.Cancun });
const contract = createAddressFromString(`0x${'11'.repeat(20)}`);
const caller = createAddressFromString(`0x${'22'.repeat(20)}`);
// Stores calldata word 0 at slot 0, then returns slot 0: CALLDATALOAD(0) SSTORE(0) SLOAD(0) RETURN.
const storeAndReturn = hexToBytes('0x60003560005560005460005260206000f3');
// Stores 7 at slot 1, then REVERTs.
const storeThenRevert = hexToBytes('0x600760015560006000fd');

function memoryKv(): KvWriter & { readonly maps: Map<string, Map<string, string>> } {
  const maps = new Map<string, Map<string, string>>();
  return {
    maps,
    get: (map, key) => maps.get(map)?.get(key),
    put: (map, key, value) => {
      const entries = maps.get(map) ?? new Map<string, string>();
      entries.set(key, value);
      maps.set(map, entries);
    },
    delete: (map, key) => {
      maps.get(map)?.delete(key);
    },
  };
}

async function call(kv: KvWriter, to: typeof contract, data: Uint8Array) {
  const state = new KvStateManager(kv, common);
  const evm = await createEVM({ common, stateManager: state });
  const result = await evm.runCall({ to, caller, data, gasLimit: 100_000n });
  // Persisted even after a revert: the EVM has reverted its own checkpoint by then, so the
  // reverted writes must not be in the outermost layer.
  state.persist();
  return result.execResult;
}

describe('EVM state in the key-value store', () => {
  it('keeps code and storage across EVM instances; a reverted call stores nothing', async () => {
    const kv = memoryKv();
    const setup = new KvStateManager(kv, common);
    await setup.putCode(contract, storeAndReturn);
    setup.persist();
    expect(kv.get(evmMaps.code, contract.toString())).toBe(bytesToHex(storeAndReturn).slice(2));

    const word: `0x${string}` = `0x${'00'.repeat(31)}2a`;
    const first = await call(kv, contract, hexToBytes(word));
    expect(first.exceptionError).toBeUndefined();
    expect(bytesToHex(first.returnValue)).toBe(word);
    const slot0 = `${contract.toString()}_0x${'00'.repeat(32)}`;
    expect(kv.get(evmMaps.storage, slot0)).toBe('2a');

    // A new EVM over the same store reads slot 0 back (calldata 0 stores 0 again after it).
    const readBack = new KvStateManager(kv, common);
    expect(bytesToHex(await readBack.getStorage(contract, new Uint8Array(32)))).toBe('0x2a');
    const cleared = await call(kv, contract, new Uint8Array(32));
    expect(cleared.exceptionError).toBeUndefined();
    expect(kv.get(evmMaps.storage, slot0)).toBeUndefined();

    const reverting = createAddressFromString(`0x${'33'.repeat(20)}`);
    const deploy = new KvStateManager(kv, common);
    await deploy.putCode(reverting, storeThenRevert);
    deploy.persist();
    const reverted = await call(kv, reverting, new Uint8Array(0));
    expect(reverted.exceptionError?.error).toBe('revert');
    // Its SSTORE was reverted with the call's checkpoint: slot 1 never reaches the store. (The
    // caller's account is written: runCall bumps its nonce outside the checkpoint, as a
    // transaction's nonce goes up whether it reverts or not.)
    expect(
      kv.get(evmMaps.storage, `${reverting.toString()}_0x${'00'.repeat(31)}01`),
    ).toBeUndefined();
    expect([...(kv.maps.get(evmMaps.storage)?.keys() ?? [])]).toEqual([]);
  });

  it('stores accounts as RLP and removes a deleted one', async () => {
    const kv = memoryKv();
    const state = new KvStateManager(kv, common);
    await state.modifyAccountFields(caller, { nonce: 3n, balance: 1000n });
    state.persist();
    const again = new KvStateManager(kv, common);
    expect((await again.getAccount(caller))?.nonce).toBe(3n);
    await again.deleteAccount(caller);
    again.persist();
    expect(kv.get(evmMaps.accounts, caller.toString())).toBeUndefined();
  });

  it('refuses to persist with a checkpoint open', async () => {
    const state = new KvStateManager(memoryKv(), common);
    await state.checkpoint();
    expect(() => {
      state.persist();
    }).toThrow(/checkpoints open/);
  });
});

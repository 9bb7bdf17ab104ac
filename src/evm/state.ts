// The EVM's state in Coffer's key-value store (issue 9, decision 0025): accounts, code and
// storage under the `evm.` maps of the transaction's KV view, read lazily and written back when
// the call is done (`persist`). @ethereumjs's SimpleStateManager keeps the checkpoint stack (nested calls,
// reverts); this subclass only adds the store underneath: a miss in its maps reads the store,
// and `persist` writes what the outermost layer holds. The store is the EVM app's, never shared.
import { SimpleStateManager } from '@ethereumjs/statemanager';
import {
  Account,
  bytesToHex,
  createAccountFromRLP,
  hexToBytes,
  type Address,
} from '@ethereumjs/util';
import type { Common } from '@ethereumjs/common';
import type { KvWriter } from '../contracts/index.js';

/** The maps of the EVM's state (owned by the EVM app). */
export const evmMaps = {
  accounts: 'evm.accounts',
  code: 'evm.code',
  storage: 'evm.storage',
} as const;

const hex = (bytes: Uint8Array): string => bytesToHex(bytes).slice(2);
const storageKey = (address: string, slot: Uint8Array): string => `${address}_${bytesToHex(slot)}`;

export class KvStateManager extends SimpleStateManager {
  readonly #kv: KvWriter;

  constructor(kv: KvWriter, common?: Common) {
    super(common === undefined ? {} : { common });
    this.#kv = kv;
  }

  override getAccount(address: Address): Promise<Account | undefined> {
    const key = address.toString();
    const top = this.topAccountStack();
    if (!top.has(key)) {
      const stored = this.#kv.get(evmMaps.accounts, key);
      top.set(
        key,
        stored === undefined ? undefined : createAccountFromRLP(hexToBytes(`0x${stored}`)),
      );
    }
    return super.getAccount(address);
  }

  override getCode(address: Address): Promise<Uint8Array> {
    const key = address.toString();
    const top = this.topCodeStack();
    if (!top.has(key)) {
      const stored = this.#kv.get(evmMaps.code, key);
      if (stored !== undefined) top.set(key, hexToBytes(`0x${stored}`));
    }
    return super.getCode(address);
  }

  override getStorage(address: Address, slot: Uint8Array): Promise<Uint8Array> {
    const key = storageKey(address.toString(), slot);
    const top = this.topStorageStack();
    if (!top.has(key)) {
      const stored = this.#kv.get(evmMaps.storage, key);
      if (stored !== undefined) top.set(key, hexToBytes(`0x${stored}`));
    }
    return super.getStorage(address, slot);
  }

  /**
   * Writes the outermost layer to the store: accounts (RLP, deleted ones removed), code, and
   * storage slots (empty values removed). Call it once the EVM's own checkpoints are committed.
   */
  persist(): void {
    if (this.accountStack.length !== 1)
      throw new Error(
        `EVM state invariant: ${this.accountStack.length - 1} checkpoints open at persist`,
      );
    for (const [key, account] of this.topAccountStack()) {
      if (account === undefined) this.#kv.delete(evmMaps.accounts, key);
      else this.#kv.put(evmMaps.accounts, key, hex(account.serialize()));
    }
    for (const [key, code] of this.topCodeStack()) {
      if (code.length === 0) this.#kv.delete(evmMaps.code, key);
      else this.#kv.put(evmMaps.code, key, hex(code));
    }
    for (const [key, value] of this.topStorageStack()) {
      if (value.length === 0) this.#kv.delete(evmMaps.storage, key);
      else this.#kv.put(evmMaps.storage, key, hex(value));
    }
  }
}

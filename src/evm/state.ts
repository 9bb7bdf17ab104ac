// The EVM's state in Coffer's key-value store (issue 9, decision 0025): accounts, code and
// storage under the `evm.` maps of the transaction's KV view, read lazily and written back when
// the call is done (`persist`). @ethereumjs's SimpleStateManager keeps the checkpoint stack
// (nested calls, reverts); this subclass adds the store underneath: a miss in its maps reads
// the store, and `persist` writes what the outermost layer changed. The store is the EVM app's,
// never shared; one manager serves one transaction at a time (`use` points it at the next).
import { SimpleStateManager } from '@ethereumjs/statemanager';
import {
  Account,
  bytesToHex,
  createAccountFromRLP,
  hexToBytes,
  type Address,
} from '@ethereumjs/util';
import type { Common } from '@ethereumjs/common';
import type { KvView, KvWriter } from '../contracts/index.js';

/** The maps of the EVM's state (owned by the EVM app). */
export const evmMaps = {
  accounts: 'evm.accounts',
  code: 'evm.code',
  storage: 'evm.storage',
} as const;

const hex = (bytes: Uint8Array): string => bytesToHex(bytes).slice(2);
const storageKey = (address: string, slot: Uint8Array): string => `${address}_${bytesToHex(slot)}`;

/** An account from its stored form (RLP hex). */
const accountOf = (stored: string): Account => createAccountFromRLP(hexToBytes(`0x${stored}`));

/** An account as the store holds it (RLP hex), or undefined. */
export function storedAccount(kv: KvView, address: string): Account | undefined {
  const stored = kv.get(evmMaps.accounts, address.toLowerCase());
  return stored === undefined ? undefined : accountOf(stored);
}

/** A contract's code as the store holds it (empty when none). */
export function storedCode(kv: KvView, address: string): Uint8Array {
  const stored = kv.get(evmMaps.code, address.toLowerCase());
  return stored === undefined ? new Uint8Array() : codeOf(stored);
}

/** A storage slot (32-byte key) as the store holds it, without leading zeros (empty when 0). */
export function storedSlot(kv: KvView, address: string, slot: Uint8Array): Uint8Array {
  const stored = kv.get(evmMaps.storage, storageKey(address.toLowerCase(), slot));
  return stored === undefined ? new Uint8Array() : hexToBytes(`0x${stored}`);
}

/** Contract code decoded from the store, by its stored hex (the same string every read). */
const decodedCode = new Map<string, Uint8Array>();
const decodedCodeMax = 256;

function codeOf(stored: string): Uint8Array {
  let code = decodedCode.get(stored);
  if (code === undefined) {
    code = hexToBytes(`0x${stored}`);
    if (decodedCode.size >= decodedCodeMax) decodedCode.clear();
    decodedCode.set(stored, code);
  }
  return code;
}

export class KvStateManager extends SimpleStateManager {
  #kv: KvWriter | KvView;
  /** What each key read from the store held (hex; undefined: absent), to write back only changes. */
  #loaded = new Map<string, string | undefined>();

  /** A read-only view (`KvView`) serves calls whose state is thrown away: `persist` refuses it. */
  constructor(kv: KvWriter | KvView, common?: Common) {
    super(common === undefined ? {} : { common });
    this.#kv = kv;
  }

  /** Points the manager at another transaction's view, forgetting everything it held. */
  use(kv: KvWriter | KvView): void {
    this.#kv = kv;
    this.#loaded = new Map();
    this.accountStack = [new Map<`0x${string}`, Account | undefined>()];
    this.codeStack = [new Map<`0x${string}`, Uint8Array>()];
    this.storageStack = [new Map<string, Uint8Array>()];
    this.originalStorageCache.clear();
  }

  #load(map: string, key: string): string | undefined {
    const id = `${map}\n${key}`;
    if (this.#loaded.has(id)) return this.#loaded.get(id);
    const stored = this.#kv.get(map, key);
    this.#loaded.set(id, stored);
    return stored;
  }

  override getAccount(address: Address): Promise<Account | undefined> {
    const key = address.toString();
    const top = this.topAccountStack();
    if (!top.has(key)) {
      const stored = this.#load(evmMaps.accounts, key);
      top.set(key, stored === undefined ? undefined : accountOf(stored));
    }
    return super.getAccount(address);
  }

  override getCode(address: Address): Promise<Uint8Array> {
    const key = address.toString();
    const top = this.topCodeStack();
    if (!top.has(key)) {
      const stored = this.#load(evmMaps.code, key);
      if (stored !== undefined) top.set(key, codeOf(stored));
    }
    return super.getCode(address);
  }

  override getStorage(address: Address, slot: Uint8Array): Promise<Uint8Array> {
    const key = storageKey(address.toString(), slot);
    const top = this.topStorageStack();
    if (!top.has(key)) {
      const stored = this.#load(evmMaps.storage, key);
      if (stored !== undefined) top.set(key, hexToBytes(`0x${stored}`));
    }
    return super.getStorage(address, slot);
  }

  /**
   * Writes what the outermost layer changed to the store: accounts (RLP, deleted ones
   * removed), code, and storage slots (empty values removed); values read and left as they
   * were are not written. Call it once the EVM's own checkpoints are committed.
   */
  persist(): void {
    if (this.accountStack.length !== 1)
      throw new Error(
        `EVM state invariant: ${this.accountStack.length - 1} checkpoints open at persist`,
      );
    const kv = this.#kv;
    if (!('put' in kv)) throw new Error('EVM state invariant: persist on a read-only view');
    const write = (map: string, key: string, value: string | undefined): void => {
      const id = `${map}\n${key}`;
      if (this.#loaded.has(id) && this.#loaded.get(id) === value) return;
      if (value === undefined) kv.delete(map, key);
      else kv.put(map, key, value);
    };
    for (const [key, account] of this.topAccountStack()) {
      write(evmMaps.accounts, key, account === undefined ? undefined : hex(account.serialize()));
    }
    for (const [key, code] of this.topCodeStack()) {
      // Code read and left alone is the very array the store's string decoded to: not re-encoded.
      const stored = this.#loaded.get(`${evmMaps.code}\n${key}`);
      if (stored !== undefined && decodedCode.get(stored) === code) continue;
      write(evmMaps.code, key, code.length === 0 ? undefined : hex(code));
    }
    for (const [key, value] of this.topStorageStack()) {
      write(evmMaps.storage, key, value.length === 0 ? undefined : hex(value));
    }
  }
}

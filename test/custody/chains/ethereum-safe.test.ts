// Safe 1.4.1 signing maths (src/custody/chains/safe.ts) against the Safe contracts themselves
// on anvil: the SafeTx digest is Safe.getTransactionHash's, the predicted proxy address is the
// factory's, and a 2-of-3 Safe whose owners are a software key and a SoftHSM2 key executes a
// transfer signed by them (raw r‖s → low-S → recovery id → packed by owner address), while a
// stranger's signature is refused by the contract.
import { Contract, JsonRpcProvider, Wallet, getAddress, hexlify, randomBytes } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPkcs11KeyStore, type Pkcs11KeyStore, type Signer } from '../../../src/crypto/index.js';
import { generateScalarKey, signDigestWithScalar } from '../../../src/crypto/keys.js';
import {
  ethereumProvider,
  deploySafeContracts,
  receiptOf,
  safeArtifact,
  type SafeDeployment,
} from '../../../src/custody/chains/ethereum.js';
import {
  callSafeTx,
  decodeSafeTxEnvelope,
  encodeSafeTxEnvelope,
  ownerAddressOf,
  packSafeSignatures,
  safeInitializer,
  safeProxyAddress,
  safeSignatureOf,
  safeTxHash,
  safeWithdrawalMismatch,
  erc20TransferData,
  execTransactionArgs,
  type SafeTx,
  type SafeTxEnvelope,
} from '../../../src/custody/chains/safe.js';
import { anvilChainId, anvilKeys, startAnvil, type Anvil } from '../../support/anvil.js';
import { createSoftHsm, userPin, type SoftHsm } from '../../crypto/softhsm.js';

const secp256k1Order = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

type Owner = { readonly publicKey: string; readonly sign: Signer };

let anvil: Anvil;
let provider: JsonRpcProvider;
let deployer: Wallet;
let contracts: SafeDeployment;
let hsm: SoftHsm;
let store: Pkcs11KeyStore;
/** What beforeAll started, stopped in reverse order by afterAll, also after a failed start. */
const started: (() => unknown)[] = [];
/** Waits for a sent transaction's receipt by polling (anvil mines no block after it). */
const mined = async (sent: Promise<{ readonly hash: string }>) =>
  receiptOf(provider, (await sent).hash, 10_000, 20);
let offline: Owner;
let service: Owner;
let platform: Owner;
let stranger: Owner;
let safe: Contract;

function scalarOwner(): Owner {
  const key = generateScalarKey('secp256k1');
  return {
    publicKey: key.publicKey,
    sign: (digest) => Promise.resolve(signDigestWithScalar('secp256k1', key.secretKey, digest)),
  };
}

const bytes = (hex: string) => new Uint8Array(Buffer.from(hex.replace(/^0x/, ''), 'hex'));
const hexOf = (value: Uint8Array) => Buffer.from(value).toString('hex');

async function signedBy(owner: Owner, digest: string) {
  const raw = hexOf(await owner.sign(bytes(digest)));
  return {
    owner: ownerAddressOf(owner.publicKey),
    signature: safeSignatureOf(digest, raw, owner.publicKey),
  };
}

beforeAll(async () => {
  anvil = await startAnvil();
  started.push(() => anvil.stop());
  hsm = await createSoftHsm(['coffer-eth']);
  started.push(() => hsm.cleanup());
  provider = ethereumProvider(anvil.url, 20);
  started.push(() => {
    provider.destroy();
  });
  deployer = new Wallet(anvilKeys[0], provider);
  contracts = await deploySafeContracts(deployer);
  store = await openPkcs11KeyStore({
    library: hsm.library,
    tokenLabel: 'coffer-eth',
    pin: userPin,
  });
  started.push(() => store.close());
  const hsmKey = await store.generate({ curve: 'secp256k1', label: 'platform-eth' });
  platform = { publicKey: hsmKey.publicKey, sign: await store.signer(hsmKey.keyId) };
  offline = scalarOwner();
  service = scalarOwner();
  stranger = scalarOwner();
});

afterAll(async () => {
  for (const stop of started.reverse()) await stop();
});

describe('Safe deployment', () => {
  it('deploys a 2-of-3 Safe at the address predicted from the factory, singleton and setup', async () => {
    const owners = [offline, service, platform].map((owner) => ownerAddressOf(owner.publicKey));
    const initializer = safeInitializer(owners, 2, contracts.fallbackHandler);
    const saltNonce = 0xc0ffeen;
    const predicted = safeProxyAddress({
      factory: contracts.factory,
      singleton: contracts.singleton,
      proxyCreationCode: safeArtifact('SafeProxy').bytecode,
      initializer,
      saltNonce,
    });
    const factory = new Contract(
      contracts.factory,
      safeArtifact('SafeProxyFactory').abi as never,
      deployer,
    );
    const created = factory.getFunction('createProxyWithNonce');
    expect(await created.staticCall(contracts.singleton, initializer, saltNonce)).toBe(predicted);
    await mined(created.send(contracts.singleton, initializer, saltNonce));
    safe = new Contract(predicted, safeArtifact('Safe').abi as never, deployer);
    expect(await safe.getFunction('getThreshold')()).toBe(2n);
    const onChain = (await safe.getFunction('getOwners')()) as string[];
    expect([...onChain].sort()).toEqual([...owners].sort());
    // A second deployment of the same wallet cannot happen (CREATE2 collision).
    await expect(created.staticCall(contracts.singleton, initializer, saltNonce)).rejects.toThrow();
  });
});

describe('SafeTx digest', () => {
  it('is what Safe.getTransactionHash returns, for transfers and calls with every field set', async () => {
    const cases: SafeTx[] = [
      callSafeTx(deployer.address, 10n ** 18n, '0x', 0n),
      callSafeTx(contracts.factory, 0n, hexlify(randomBytes(68)), 7n),
      {
        ...callSafeTx(getAddress(hexlify(randomBytes(20))), 123n, hexlify(randomBytes(5)), 99n),
        safeTxGas: '50000',
        baseGas: '21000',
        gasPrice: '1000000000',
        gasToken: getAddress(hexlify(randomBytes(20))),
        refundReceiver: getAddress(hexlify(randomBytes(20))),
      },
    ];
    const address = await safe.getAddress();
    for (const tx of cases) {
      const ours = safeTxHash({ chainId: String(anvilChainId), safe: address, tx });
      const theirs = (await safe.getFunction('getTransactionHash')(
        ...execTransactionArgs(tx, '0x').slice(0, 9),
        tx.nonce,
      )) as string;
      expect(ours).toBe(theirs);
    }
  });

  it('round-trips through the unsigned-tx encoding, and refuses a non-canonical one', () => {
    const envelope = {
      chainId: '1',
      safe: deployer.address,
      tx: callSafeTx(deployer.address, 5n, '0xabcd', 3n),
    };
    const encoded = encodeSafeTxEnvelope(envelope);
    expect(decodeSafeTxEnvelope(encoded)).toEqual(envelope);
    const spaced = Buffer.from(
      JSON.stringify(JSON.parse(Buffer.from(encoded, 'hex').toString()), null, 1),
    ).toString('hex');
    expect(() => decodeSafeTxEnvelope(spaced)).toThrow(/canonical/);
    const delegate = Buffer.from(
      Buffer.from(encoded, 'hex').toString().replace('"operation":0', '"operation":1'),
    ).toString('hex');
    expect(() => decodeSafeTxEnvelope(delegate)).toThrow(/operation/);
  });
});

describe('Safe signatures', () => {
  it('normalises a high-S signature to the same Safe signature as its low-S twin', async () => {
    const digest = hexlify(randomBytes(32));
    const raw = await service.sign(bytes(digest));
    const s = BigInt(`0x${hexOf(raw.subarray(32))}`);
    const high = hexOf(raw.subarray(0, 32)) + (secp256k1Order - s).toString(16).padStart(64, '0');
    expect(safeSignatureOf(digest, high, service.publicKey)).toBe(
      safeSignatureOf(digest, hexOf(raw), service.publicKey),
    );
  });

  it("refuses to turn a signature into another owner's", async () => {
    const digest = hexlify(randomBytes(32));
    const raw = hexOf(await stranger.sign(bytes(digest)));
    expect(() => safeSignatureOf(digest, raw, service.publicKey)).toThrow(
      expect.objectContaining({ code: 'CUSTODY_E_SIGNATURE_INVALID' }) as Error,
    );
  });

  it('packs signatures in ascending owner order whatever order they come in', () => {
    const a = {
      owner: '0x00000000000000000000000000000000000000ff',
      signature: `0x${'aa'.repeat(65)}`,
    };
    const b = {
      owner: '0x0100000000000000000000000000000000000000',
      signature: `0x${'bb'.repeat(65)}`,
    };
    expect(packSafeSignatures([b, a])).toBe(`0x${'aa'.repeat(65)}${'bb'.repeat(65)}`);
    expect(() => packSafeSignatures([a, a])).toThrow(/two signatures/);
  });
});

describe('execTransaction with 2 of 3', () => {
  const oneEth = 10n ** 18n;

  it('moves ETH with the offline and the HSM (SoftHSM2) signatures, then service + HSM', async () => {
    const address = await safe.getAddress();
    await mined(deployer.sendTransaction({ to: address, value: 3n * oneEth }));
    const destination = getAddress(hexlify(randomBytes(20)));
    for (const pair of [
      [offline, platform],
      [platform, service],
    ] as const) {
      const nonce = (await safe.getFunction('nonce')()) as bigint;
      const tx = callSafeTx(destination, oneEth, '0x', nonce);
      const digest = safeTxHash({ chainId: String(anvilChainId), safe: address, tx });
      const signatures = packSafeSignatures([
        await signedBy(pair[0], digest),
        await signedBy(pair[1], digest),
      ]);
      await mined(safe.getFunction('execTransaction').send(...execTransactionArgs(tx, signatures)));
    }
    expect(await provider.getBalance(destination)).toBe(2n * oneEth);
    expect(await safe.getFunction('nonce')()).toBe(2n);
  });

  it("is refused by the Safe with one owner's and a stranger's signature (GS026)", async () => {
    const address = await safe.getAddress();
    const nonce = (await safe.getFunction('nonce')()) as bigint;
    const tx = callSafeTx(deployer.address, 1n, '0x', nonce);
    const digest = safeTxHash({ chainId: String(anvilChainId), safe: address, tx });
    const signatures = packSafeSignatures([
      await signedBy(service, digest),
      await signedBy(stranger, digest),
    ]);
    await expect(
      safe.getFunction('execTransaction').staticCall(...execTransactionArgs(tx, signatures)),
    ).rejects.toThrow(/GS026/);
    // One owner alone is not enough either (threshold 2: GS020, signatures too short).
    const one = packSafeSignatures([await signedBy(service, digest)]);
    await expect(
      safe.getFunction('execTransaction').staticCall(...execTransactionArgs(tx, one)),
    ).rejects.toThrow(/GS020/);
  });
});

describe('an unsigned SafeTx checked against the approved payment', () => {
  const safeAddress = getAddress(hexlify(randomBytes(20)));
  const destination = getAddress(hexlify(randomBytes(20)));
  const token = getAddress(hexlify(randomBytes(20)));
  const ether = { chainId: '1', safe: safeAddress, token: null, destination, amount: '700' };
  const built = (envelope: SafeTxEnvelope) =>
    [encodeSafeTxEnvelope(envelope), safeTxHash(envelope).slice(2)] as const;
  const etherTx = { chainId: '1', safe: safeAddress, tx: callSafeTx(destination, 700n, '0x', 4n) };

  it('passes the built ether and token transfers', () => {
    expect(safeWithdrawalMismatch(...built(etherTx), ether)).toBeNull();
    const tokenTx = {
      ...etherTx,
      tx: callSafeTx(token, 0n, erc20TransferData(destination, 700n), 4n),
    };
    expect(safeWithdrawalMismatch(...built(tokenTx), { ...ether, token })).toBeNull();
  });

  it.each([
    [
      'another destination',
      { tx: { ...etherTx.tx, to: getAddress(hexlify(randomBytes(20))) } },
      /not a transfer/,
    ],
    ['another amount', { tx: { ...etherTx.tx, value: '701' } }, /not a transfer/],
    ['calldata on an ether transfer', { tx: { ...etherTx.tx, data: '0x00' } }, /not a transfer/],
    ['another Safe', { safe: getAddress(hexlify(randomBytes(20))) }, /Safe/],
    ['another chain', { chainId: '5' }, /chain id/],
    ['a gas refund', { tx: { ...etherTx.tx, gasPrice: '1' } }, /refund/],
    ['a refund receiver', { tx: { ...etherTx.tx, refundReceiver: destination } }, /refund/],
  ] as const)('refuses %s', (_name, change, why) => {
    expect(safeWithdrawalMismatch(...built({ ...etherTx, ...change }), ether)).toMatch(why);
  });

  it('refuses a digest that is not the SafeTx hash, and bytes that are not an envelope', () => {
    const [unsignedTx] = built(etherTx);
    expect(safeWithdrawalMismatch(unsignedTx, 'ab'.repeat(32), ether)).toMatch(/digest/);
    expect(safeWithdrawalMismatch('00ff', 'ab'.repeat(32), ether)).toMatch(/not a Safe/);
  });
});

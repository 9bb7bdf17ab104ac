// The binding message (decision 0025): what an Ethereum account signs (EIP-191 personal_sign)
// to be bound to a consortium identity. Dependency-free, so that clients (the SDK, the CLI)
// can make it without loading the EVM.

/** The chain id when the consortium sets none (Coffer's default network). */
export const defaultChainId = 7331;

/** The message an account signs (EIP-191 personal_sign) to be bound to an identity. */
export function bindingMessage(
  chainId: number,
  address: string,
  mspId: string,
  identityId: string,
): string {
  return [
    'Coffer: bind this Ethereum account to a consortium identity.',
    `account: ${address.toLowerCase()}`,
    `chain: ${chainId}`,
    `msp: ${mspId}`,
    `identity: ${identityId}`,
  ].join('\n');
}

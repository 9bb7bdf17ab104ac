// `coffer evm message|bind|accounts`: Ethereum accounts of the profile's identity (issue 9,
// decision 0025). An account sends transactions through a node's Ethereum JSON-RPC only once
// an identity bound it, proving it holds the account's key.
import { parseArgs } from 'node:util';
import { Wallet } from 'ethers';
import { bindEthereumAccount, ethereumBindingMessage } from '../client/index.js';
import { readSecretFile } from '../crypto/index.js';
import { cofferError } from '../errors/index.js';
import type { Command } from './main.js';
import { clientFromProfile, defaultProfile } from './profile.js';

const usage = `Usage:
  coffer evm message --address ADDR [--profile FILE]
      the message ADDR signs (EIP-191 personal_sign) to be bound to the profile's identity
  coffer evm bind --key-file FILE [--profile FILE]
      binds the account whose private key (0x + 64 hex) is the first line of FILE
  coffer evm bind --address ADDR --signature SIG [--profile FILE]
      binds ADDR with its signature of the message (signed in a wallet, never here)
  coffer evm accounts [--profile FILE]
      the accounts bound to the profile's identity

The profile (default ${defaultProfile}) names the node and the identity; Ethereum clients then
use https://<node>/v1/evm/rpc with the profile's TLS certificate (README "Ethereum contracts").`;

const addressPattern = /^0x[0-9a-fA-F]{40}$/;
const signaturePattern = /^0x[0-9a-fA-F]{130}$/;
const privateKeyPattern = /^0x[0-9a-fA-F]{64}$/;
/** Longest key file read, in bytes. */
const keyFileBytesMax = 4096;

function usageError(message: string) {
  return cofferError('CLI_E_USAGE', `${message}\n\n${usage}`);
}

export const evmCommand: Command = async (args, io) => {
  const [sub, ...rest] = args;
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        address: { type: 'string' },
        signature: { type: 'string' },
        'key-file': { type: 'string' },
        profile: { type: 'string', default: defaultProfile },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw usageError((error as Error).message);
  }
  if (values.help || sub === undefined || sub === '--help' || sub === '-h') {
    io.stdout(usage);
    return sub === undefined ? 2 : 0;
  }
  if (!['message', 'bind', 'accounts'].includes(sub)) throw usageError(`unknown: evm ${sub}`);
  const address = values.address;
  if (address !== undefined && !addressPattern.test(address))
    throw usageError('--address must be 0x and 40 hex characters');
  if (values.signature !== undefined && !signaturePattern.test(values.signature))
    throw usageError('--signature must be 0x and 130 hex characters (65 bytes)');
  const client = await clientFromProfile(values.profile);
  try {
    if (sub === 'message') {
      if (address === undefined) throw usageError('--address is required');
      io.stdout(await ethereumBindingMessage(client, address));
      return 0;
    }
    if (sub === 'accounts') {
      const answer = await client.query('evm', 'accounts', {
        mspId: client.identity.mspId,
        identityId: client.identity.certRef,
      });
      io.stdout(JSON.stringify(answer));
      return 0;
    }
    let bound;
    if (values['key-file'] !== undefined) {
      if (address !== undefined || values.signature !== undefined)
        throw usageError('give --key-file, or --address with --signature, not both');
      const key = (await readSecretFile(values['key-file'], keyFileBytesMax, 'account key')).trim();
      if (!privateKeyPattern.test(key))
        throw usageError('--key-file must hold a private key: 0x and 64 hex characters');
      const wallet = new Wallet(key);
      bound = await bindEthereumAccount(client, wallet.address, (message) =>
        wallet.signMessage(message),
      );
    } else {
      const signature = values.signature;
      if (address === undefined || signature === undefined)
        throw usageError('give --key-file, or --address with --signature');
      bound = await bindEthereumAccount(client, address, () => Promise.resolve(signature));
    }
    io.stdout(JSON.stringify(bound));
    return bound.status === 'Committed' ? 0 : 1;
  } finally {
    client.close();
  }
};

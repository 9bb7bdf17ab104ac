// `coffer tx` and `coffer query`: signed transactions and reads for people, through the SDK.
import { parseArgs } from 'node:util';
import { cofferError } from '../errors/index.js';
import type { Command } from './main.js';
import { clientFromProfile, defaultProfile } from './profile.js';

const txUsage = `Usage:
  coffer tx APP ACTION [--args JSON] [--wait] [--profile FILE]   sign and submit a transaction
  coffer tx status TXID [--wait] [--profile FILE]                  Unknown/Pending/Committed/Invalid
  coffer tx receipt TXID [--profile FILE] > receipt.json          a receipt to verify offline
The profile (default ${defaultProfile}) names the node and your credentials; \`coffer up\` writes it.`;

const queryUsage = `Usage: coffer query APP QUERY [--args JSON] [--profile FILE]`;

function parse(args: readonly string[], usage: string) {
  try {
    return parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        args: { type: 'string', default: '{}' },
        wait: { type: 'boolean', default: false },
        profile: { type: 'string', default: defaultProfile },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    throw cofferError('CLI_E_USAGE', `${(error as Error).message}\n\n${usage}`);
  }
}

function jsonArgs(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw cofferError('CLI_E_USAGE', `--args must be a JSON object, got ${text}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw cofferError('CLI_E_USAGE', '--args must be a JSON object');
  }
  return value as Record<string, unknown>;
}

export const txCommand: Command = async (args, io) => {
  const { values, positionals } = parse(args, txUsage);
  if (values.help || positionals.length === 0) {
    io.stdout(txUsage);
    return values.help ? 0 : 2;
  }
  const [first, second] = positionals;
  if (first === undefined || second === undefined || positionals.length > 2) {
    throw cofferError(
      'CLI_E_USAGE',
      `expected APP ACTION, status TXID or receipt TXID\n\n${txUsage}`,
    );
  }
  const client = await clientFromProfile(values.profile);
  try {
    if (first === 'status') {
      const status = await client.status(second, { wait: values.wait ? 'commit' : 'none' });
      io.stdout(JSON.stringify(status, null, 2));
      return status.status === 'Invalid' ? 1 : 0;
    }
    if (first === 'receipt') {
      io.stdout(JSON.stringify(await client.receipt(second), null, 2));
      return 0;
    }
    const result = await client.submit(first, second, jsonArgs(values.args), {
      wait: values.wait ? 'commit' : 'none',
    });
    io.stdout(JSON.stringify(result, null, 2));
    return result.status === 'Invalid' ? 1 : 0;
  } finally {
    client.close();
  }
};

export const queryCommand: Command = async (args, io) => {
  const { values, positionals } = parse(args, queryUsage);
  const [app, query] = positionals;
  if (values.help) {
    io.stdout(queryUsage);
    return 0;
  }
  if (app === undefined || query === undefined || positionals.length > 2) {
    throw cofferError('CLI_E_USAGE', `expected APP QUERY\n\n${queryUsage}`);
  }
  const client = await clientFromProfile(values.profile);
  try {
    io.stdout(JSON.stringify(await client.query(app, query, jsonArgs(values.args)), null, 2));
    return 0;
  } finally {
    client.close();
  }
};

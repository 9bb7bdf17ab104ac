// `coffer signer start|keygen|keys --config signer.json`: the isolated signing service
// (decision 0020). start runs it in the foreground until SIGINT/SIGTERM; keygen creates a
// platform key in the configured key store (on PKCS#11: on the token, sensitive, never
// extractable) and prints its keyId and public key; keys lists the keys and their checks.
import { untilSignalled } from './foreground.js';
import { parseArgs } from 'node:util';
import { keyCurves, type KeyStore, type Pkcs11KeyStore } from '../crypto/index.js';
import { cofferError } from '../errors/index.js';
import {
  checkKeys,
  openConfiguredKeyStore,
  readSignerConfig,
  startSigner,
} from '../signer/index.js';
import type { Command, CommandIo } from './main.js';
import { cliLogger } from './node.js';

const usage = `Usage:
  coffer signer start --config signer.json [--log-level info|debug|warn]
  coffer signer keygen --config signer.json --label LABEL [--curve secp256k1|P-256] [--json]
  coffer signer keys --config signer.json [--json]

The signer holds the HSM session and signs a withdrawal digest only when shown a ledger receipt
proving that exactly this digest was approved for this wallet (README: Signer isolation).
  start   runs the signer in the foreground (JSON logs on stderr) until Ctrl-C
  keygen  creates a platform key in the configured key store and prints its keyId and public
          key (give both to the custody app when the wallet is created)
  keys    lists the key store's keys with the start-up checks (sensitive, never extractable,
          known-answer signature)`;

function parse(args: readonly string[]) {
  try {
    return parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        label: { type: 'string' },
        curve: { type: 'string', default: 'secp256k1' },
        'log-level': { type: 'string', default: 'info' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    throw cofferError('CLI_E_USAGE', `${(error as Error).message}\n\n${usage}`);
  }
}

function requiredConfig(value: string | undefined): string {
  if (value === undefined) throw cofferError('CLI_E_USAGE', `--config is required\n\n${usage}`);
  return value;
}

async function start(values: ReturnType<typeof parse>['values'], io: CommandIo): Promise<number> {
  const config = await readSignerConfig(requiredConfig(values.config));
  const logger = cliLogger(values['log-level']);
  await untilSignalled(
    () => startSigner(config, logger),
    (signer) => {
      io.stdout(
        `signer listening on ${signer.url} with ${signer.keyStore.description}; ${signer.keys.filter((key) => key.ok).length} platform key(s) usable (Ctrl-C stops it)`,
      );
    },
  );
  io.stdout('signer stopped');
  return 0;
}

async function withStore<T>(
  values: ReturnType<typeof parse>['values'],
  create: boolean,
  run: (store: KeyStore) => Promise<T>,
): Promise<T> {
  const config = await readSignerConfig(requiredConfig(values.config));
  const store = await openConfiguredKeyStore(config.keyStore, { create });
  try {
    return await run(store);
  } finally {
    await store.close();
  }
}

async function keygen(values: ReturnType<typeof parse>['values'], io: CommandIo): Promise<number> {
  if (values.label === undefined) {
    throw cofferError('CLI_E_USAGE', `--label is required\n\n${usage}`);
  }
  const label = values.label;
  if (!(keyCurves as readonly string[]).includes(values.curve)) {
    throw cofferError(
      'CLI_E_USAGE',
      `--curve ${values.curve}: use one of ${keyCurves.join(', ')}\n\n${usage}`,
    );
  }
  const curve = values.curve as (typeof keyCurves)[number];
  return withStore(values, true, async (store) => {
    const key = await store.generate({ curve, label });
    const attributes =
      store.kind === 'pkcs11' ? await (store as Pkcs11KeyStore).attributes(key.keyId) : undefined;
    if (values.json) {
      io.stdout(JSON.stringify({ ...key, keyStore: store.description, attributes }));
    } else {
      io.stdout(
        `platform key created in ${store.description}\n  keyId:      ${key.keyId}\n  curve:      ${key.curve}\n  label:      ${key.label}\n  public key: ${key.publicKey}${attributes === undefined ? '' : `\n  on the token: sensitive=${String(attributes.sensitive)}, extractable=${String(attributes.extractable)}, never extractable=${String(attributes.neverExtractable)}`}`,
      );
    }
    return 0;
  });
}

async function keys(values: ReturnType<typeof parse>['values'], io: CommandIo): Promise<number> {
  return withStore(values, false, async (store) => {
    const listed = await store.list();
    const silent = cliLogger('silent');
    const checks = await checkKeys(store, silent);
    const rows = listed.map((key) => ({
      ...key,
      usable: checks.find((check) => check.keyId === key.keyId)?.ok ?? false,
      refusedWith: checks.find((check) => check.keyId === key.keyId)?.code ?? null,
    }));
    if (values.json) {
      io.stdout(JSON.stringify({ keyStore: store.description, keys: rows }));
    } else {
      io.stdout(`${store.description}: ${rows.length} key(s)`);
      for (const row of rows) {
        io.stdout(
          `  ${row.keyId}  ${row.curve.padEnd(9)}  ${row.usable ? 'usable ' : `REFUSED (${row.refusedWith ?? '?'})`}  ${row.label}\n    ${row.publicKey}`,
        );
      }
    }
    return rows.every((row) => row.usable) ? 0 : 1;
  });
}

export const signerCommand: Command = async (args, io) => {
  const { values, positionals } = parse(args);
  const [action] = positionals;
  if (values.help || action === undefined) {
    io.stdout(usage);
    return values.help ? 0 : 2;
  }
  if (action === 'start') return start(values, io);
  if (action === 'keygen') return keygen(values, io);
  if (action === 'keys') return keys(values, io);
  throw cofferError('CLI_E_USAGE', `unknown signer command "${action}"\n\n${usage}`);
};

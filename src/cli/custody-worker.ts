// `coffer custody worker --chain coffer|ethereum|bitcoin --profile P --signer-url U --state-dir D
// [--chain-config F] ...`: runs a
// custody chain worker (src/custody/worker.ts) until SIGINT/SIGTERM. It signs on the ledger as
// the profile's identity (which set_custody must name in chains.<chain>.workers) and calls the
// signer over mutual TLS with the same identity's certificate (which the signer must authorise).
// Its deposit-scan cursor survives restarts in D (src/custody/worker-state.ts).
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createClient, identityFromMspFolder, type ClientOptions } from '../client/index.js';
import { createCustodyClient } from '../client/custody.js';
import { checkCustodyParams, custodyChains } from '../custody/index.js';
import { openWorkerState, workerStateFile } from '../custody/worker-state.js';
import {
  createCustodyWorker,
  createSignerClient,
  workerBumpAfterMsDefault,
  workerPollMsDefault,
} from '../custody/worker.js';
import { cofferError } from '../errors/index.js';
import { lockDataDir } from '../node/index.js';
import { openChain } from './custody-chains.js';
import { untilSignalled } from './foreground.js';
import type { Command } from './main.js';
import { defaultProfile, type ClientProfile } from './profile.js';

const usage = `Usage:
  coffer custody worker --chain coffer|ethereum|bitcoin --signer-url URL --signer-ca FILE
                        --state-dir DIR [--chain-config FILE] [--signer-servername NAME]
                        [--profile FILE] [--poll-ms MS] [--bump-after-ms MS] [--json]

Runs the custody worker of one chain: reports deposits to custody addresses, builds approved
withdrawals, has the signer add the platform signature once the service has signed (with the
ledger receipt of that step), broadcasts and confirms; it also makes every new wallet of the
chain ready (an Ethereum Safe deployed, an address registered). Chains: coffer (the ledger's
own token app), ethereum (Safe 1.4.1 wallets) and bitcoin (P2WSH 2-of-3). The profile's
identity (default ${defaultProfile}) must be a worker of the chain in the custody parameters
(a set_custody proposal), and an authorised caller of the signer.

--chain-config FILE (ethereum, bitcoin) names the chain's node and the worker's secrets, each
in its own file next to it:
  ethereum {"rpcUrl","relayerKeyFile","safe":{"singleton","factory","fallbackHandler"},
            "startBlock"?,"pollMs"?,"tls"?:{"caFile","certFile","keyFile","servername"?}}
            (tls: a client certificate, e.g. for a Coffer network's EVM at /v1/evm/rpc)
  bitcoin  {"rpcUrl","network","rpcUser"+"rpcPasswordFile" | "apiKeyFile",
            "feeRateFallbackSatPerVb"?,"feeRateMaxSatPerVb"?,"startHeight"?,"pollMs"?}
Confirmation depth and ERC-20 tokens come from the custody parameters on the ledger.

--bump-after-ms MS: a broadcast left unconfirmed this long is replaced with a higher fee
(bitcoin: rebuilt and signed again; ethereum: the relayer's transaction sent again); default
${workerBumpAfterMsDefault} (30 minutes).

--state-dir DIR keeps the deposit-scan cursor in DIR/deposit-cursor-<chain>.json (the folder is
created if missing), saved once the ledger has committed the reports of the deposits before it,
so a restart scans on from there. Without the file the worker scans from the start. A file that
is not a cursor of the chain stops the worker with CUSTODY_E_WORKER_STATE_CORRUPT: delete it to
rescan from the start (reports are idempotent).`;

/** Shortest and longest poll interval, in milliseconds. */
const pollMsMin = 10;
const pollMsMax = 60_000;
/** Shortest and longest wait before a stuck broadcast is replaced, in milliseconds. */
const bumpAfterMsMin = 1000;
const bumpAfterMsMax = 7 * 24 * 3600 * 1000;

function usageError(message: string) {
  return cofferError('CLI_E_USAGE', `${message}\n\n${usage}`);
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
    throw cofferError('CLI_E_FILE_UNREADABLE', `${file} cannot be read (${code})`, { file }, error);
  }
}

export const workerCommand: Command = async (args, io) => {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        chain: { type: 'string' },
        'chain-config': { type: 'string' },
        profile: { type: 'string', default: defaultProfile },
        'signer-url': { type: 'string' },
        'signer-ca': { type: 'string' },
        'signer-servername': { type: 'string' },
        'state-dir': { type: 'string' },
        'poll-ms': { type: 'string', default: String(workerPollMsDefault) },
        'bump-after-ms': { type: 'string', default: String(workerBumpAfterMsDefault) },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw usageError((error as Error).message);
  }
  if (values.help) {
    io.stdout(usage);
    return 0;
  }
  const chainName = custodyChains.find((chain) => chain === values.chain);
  if (chainName === undefined) {
    throw usageError(
      values.chain === undefined
        ? '--chain is required'
        : `--chain ${values.chain}: give one of ${custodyChains.join(', ')}`,
    );
  }
  const chainConfig = values['chain-config'];
  const signerUrl = values['signer-url'];
  const signerCa = values['signer-ca'];
  if (signerUrl === undefined) throw usageError('--signer-url is required');
  if (signerCa === undefined) throw usageError('--signer-ca is required (the signer TLS CA)');
  const stateDir = values['state-dir'];
  if (stateDir === undefined || stateDir === '')
    throw usageError('--state-dir is required (where the deposit-scan cursor survives restarts)');
  const pollMs = Number(values['poll-ms']);
  if (!Number.isInteger(pollMs) || pollMs < pollMsMin || pollMs > pollMsMax)
    throw usageError(`--poll-ms: give a whole number from ${pollMsMin} to ${pollMsMax}`);
  const bumpAfterMs = Number(values['bump-after-ms']);
  if (
    !Number.isInteger(bumpAfterMs) ||
    bumpAfterMs < bumpAfterMsMin ||
    bumpAfterMs > bumpAfterMsMax
  )
    throw usageError(
      `--bump-after-ms: give a whole number from ${bumpAfterMsMin} to ${bumpAfterMsMax}`,
    );
  // First: a corrupt state file stops the worker before it connects anywhere, and so does a
  // second worker on the same folder (two would race on the cursor file).
  const cursorStore = await openWorkerState(stateDir, chainName);
  const lock = await lockDataDir(stateDir, 'custody worker');
  try {
    let profile: ClientProfile;
    try {
      profile = JSON.parse(await readText(values.profile)) as ClientProfile;
    } catch (error) {
      if (error instanceof SyntaxError)
        throw cofferError(
          'CLI_E_FILE_UNREADABLE',
          `${values.profile} is not a JSON client profile`,
        );
      throw error;
    }
    const tlsCert = await readText(profile.tlsCertFile);
    const tlsKey = await readText(profile.tlsKeyFile);
    const options: ClientOptions = {
      url: profile.url,
      servername: profile.servername,
      ca: await readText(profile.caFile),
      tlsCert,
      tlsKey,
      ...(await identityFromMspFolder(profile.mspDir, profile.mspId)),
    };
    const ledger = createClient(options);
    const custody = createCustodyClient(options);
    const signer = createSignerClient({
      url: signerUrl,
      ca: await readText(signerCa),
      ...(values['signer-servername'] === undefined
        ? {}
        : { servername: values['signer-servername'] }),
      cert: tlsCert,
      key: tlsKey,
    });
    // What the ledger governs (depth, tokens) decides how the chain worker builds.
    const params = checkCustodyParams(
      ((await ledger.query('custody', 'params')) as { params: unknown }).params,
    );
    const opened = await openChain(chainName, chainConfig, params, ledger);
    const json = values.json;
    await untilSignalled(
      () => {
        const worker = createCustodyWorker({
          ledger,
          custody,
          signer,
          chain: opened.chain,
          cursorStore,
          pollMs,
          bumpAfterMs,
          onEvent: (event) => {
            const line =
              event.kind === 'step'
                ? `${event.action} ${event.id}`
                : `error in ${event.action} ${event.id}: ${event.error}`;
            if (json) io.stdout(JSON.stringify(event));
            else if (event.kind === 'step') io.stdout(line);
            else io.stderr(line);
          },
        });
        worker.start();
        return Promise.resolve(worker);
      },
      () => {
        const from =
          cursorStore.saved === null
            ? 'deposits from the start'
            : `deposits from cursor ${cursorStore.saved}`;
        io.stdout(
          json
            ? JSON.stringify({
                event: 'started',
                chain: chainName,
                node: profile.url,
                stateFile: workerStateFile(stateDir, chainName),
                cursor: cursorStore.saved,
              })
            : `custody worker for ${chainName} on ${profile.url} (signer ${signerUrl}; ${from}, kept in ${workerStateFile(stateDir, chainName)}); Ctrl-C stops it`,
        );
      },
    );
    opened.close();
    ledger.close();
    custody.close();
    return 0;
  } finally {
    await lock.release();
  }
};

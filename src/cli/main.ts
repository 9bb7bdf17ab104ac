// Entry point of the `coffer` command: dispatches to one module per command group.
// Exit codes: 0 success, 1 the command ran and found a problem, 2 usage error.
import { CofferError, isCofferError } from '../errors/index.js';

export type CommandIo = {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
};

export type Command = (args: readonly string[], io: CommandIo) => Promise<number>;

const usage = `coffer — consortium ledger with built-in digital-asset custody

Usage:
  coffer up [--dir DIR] [--port P] [--check] run a local consortium node (see README)
  coffer network up|add-org|down|status [--nodes N] [--dir DIR]
                                            a local network: an etcd member and a node per organisation;
                                            add-org adds an organisation to the running network
  coffer status [--dir DIR | --profile FILE] positions, lag, health, etcd leader of each node
  coffer node start --config node.json      run one node from its configuration
  coffer tx APP ACTION --args JSON [--wait] sign and submit a transaction (profile: .coffer/client.json)
  coffer tx status|receipt TXID             follow a transaction, fetch its receipt
  coffer query APP QUERY --args JSON        read committed state through an app query
  coffer msp inspect DIR --msp-id ID [...]  load an MSP folder and validate identities
  coffer receipt verify RECEIPT.json --msp-dir DIR=MSPID [...] [--json]
                                            verify a transaction receipt offline
  coffer receipt show RECEIPT.json          print the ledger entry of a receipt
  coffer ledger verify DIR [--json]         check a node's ledger files, name the first damage
  coffer crypto generate --config FILE --output DIR
  coffer crypto revoke --org-dir DIR --cert CERT.pem
  coffer app build|install|call|list        sandboxed apps: bundle, install, call (see README)
  coffer gov propose|vote|withdraw|list|show  consortium governance: proposals and ballots
  coffer custody offline keygen|sign        air-gapped custody keys: an encrypted key file, sign a request
  coffer custody worker --chain C ...       a chain worker (coffer, ethereum, bitcoin)
  coffer custody ethereum deploy-safe ...   Safe 1.4.1 contracts on a development chain
  coffer custody recover prepare|execute    move a wallet's funds with the offline and service keys
  coffer evm message|bind|accounts          Ethereum accounts of your identity (JSON-RPC: /v1/evm/rpc)
  coffer console keystore --msp-dir DIR ... a key store to sign in to the web console (/console)
  coffer signer start|keygen|keys --config signer.json
                                            the isolated signing service (HSM through PKCS#11)
  coffer help                               this text

Run \`coffer <command> --help\` for the options of one command.`;

const commands: Record<string, () => Promise<Command>> = {
  msp: async () => (await import('./msp.js')).mspCommand,
  crypto: async () => (await import('./crypto.js')).cryptoCommand,
  up: async () => (await import('./up.js')).upCommand,
  network: async () => (await import('./network.js')).networkCommand,
  status: async () => (await import('./status.js')).statusCommand,
  node: async () => (await import('./node.js')).nodeCommand,
  tx: async () => (await import('./tx.js')).txCommand,
  query: async () => (await import('./tx.js')).queryCommand,
  receipt: async () => (await import('./receipt.js')).receiptCommand,
  ledger: async () => (await import('./ledger.js')).ledgerCommand,
  app: async () => (await import('./app.js')).appCommand,
  gov: async () => (await import('./gov.js')).govCommand,
  custody: async () => (await import('./custody-offline.js')).custodyCommand,
  signer: async () => (await import('./signer.js')).signerCommand,
  evm: async () => (await import('./evm.js')).evmCommand,
  console: async () => (await import('./console.js')).consoleCommand,
};

const processIo: CommandIo = {
  stdout: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  stderr: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
};

/** Whether `argv` (without node and the script) runs a node in this process. */
export function runsNode(argv: readonly string[]): boolean {
  const [name, sub] = argv;
  const help = argv.some((arg) => arg === '--help' || arg === '-h');
  return !help && (name === 'up' || (name === 'node' && sub === 'start'));
}

/**
 * What bin/coffer runs before main, in a process of its own (never in tests): a command that
 * runs a node re-executes itself in place with V8's thread pool sized for the machine
 * (decision 0030) and allocation-site pretenuring off (decision 0031); it returns when there is
 * nothing to change or it cannot, and the command runs as it is. A bad COFFER_V8_POOL_SIZE or
 * COFFER_V8_PRETENURING is a usage error (exit code 2).
 */
export async function prepareProcess(argv: readonly string[]): Promise<number | undefined> {
  if (!runsNode(argv)) return undefined;
  // Imported alone (not through the node domain's index): nothing else loads before the exec.
  const { reexecWithRuntimeFlags } = await import('../node/runtime-flags.js');
  try {
    await reexecWithRuntimeFlags();
  } catch (error) {
    return reportError(error, processIo);
  }
  return undefined;
}

export async function main(argv: readonly string[], io: CommandIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    io.stdout(usage);
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  if (load === undefined) {
    io.stderr(`CLI_E_USAGE: unknown command "${name}"\n\n${usage}`);
    return 2;
  }
  try {
    return await (
      await load()
    )(rest, io);
  } catch (error) {
    return reportError(error, io);
  }
}

/** Prints a user-facing error without a stack trace; unknown errors are our bugs and show one. */
export function reportError(error: unknown, io: CommandIo): number {
  if (isCofferError(error)) {
    io.stderr(formatError(error));
    return error.code === 'CLI_E_USAGE' ? 2 : 1;
  }
  io.stderr(
    `internal error (a bug in Coffer, please report it):\n${String(error instanceof Error ? error.stack : error)}`,
  );
  return 1;
}

export function formatError(error: CofferError): string {
  return `${error.code}: ${error.message}\n  what to do: ${error.fix}`;
}

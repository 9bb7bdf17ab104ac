// `coffer node start --config node.json`: runs one node in the foreground until SIGINT/SIGTERM.
import { untilSignalled } from './foreground.js';
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { cofferError } from '../errors/index.js';
import { readNodeConfig, startNode, type NodeConfig, type RunningNode } from '../node/index.js';
import type { Command, CommandIo } from './main.js';

const nodeUsage = `Usage: coffer node start --config node.json [--log-level info|debug|warn]

Runs one Coffer node in the foreground (logs as JSON lines on stderr) until Ctrl-C.`;

export function cliLogger(level: string): Logger {
  return pino({ level, base: null, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
}

/** Runs a node until SIGINT or SIGTERM, then stops it cleanly; resolves with the exit code. */
export async function runInForeground(
  config: NodeConfig,
  logger: Logger,
  io: CommandIo,
  onStarted?: (node: RunningNode) => Promise<void>,
): Promise<number> {
  await untilSignalled(
    () => startNode(config, logger),
    async (node) => {
      io.stdout(
        `node ${config.nodeId} listening on ${node.url} (Ctrl-C stops it)${node.consoleUrl === undefined ? '' : `\nweb console: ${node.consoleUrl}`}`,
      );
      await onStarted?.(node);
    },
    () => {
      io.stdout(`stopping node ${config.nodeId}…`);
    },
  );
  io.stdout('stopped cleanly');
  return 0;
}

export const nodeCommand: Command = async (args, io) => {
  const [sub, ...rest] = args;
  if (sub !== 'start') {
    if (sub === undefined || sub === '--help' || sub === 'help') {
      io.stdout(nodeUsage);
      return sub === undefined ? 2 : 0;
    }
    throw cofferError('CLI_E_USAGE', `unknown node command "${sub}"\n\n${nodeUsage}`);
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: [...rest],
      options: {
        config: { type: 'string' },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    throw cofferError('CLI_E_USAGE', `${(error as Error).message}\n\n${nodeUsage}`);
  }
  if (values.help) {
    io.stdout(nodeUsage);
    return 0;
  }
  if (values.config === undefined)
    throw cofferError('CLI_E_USAGE', `--config is required\n\n${nodeUsage}`);
  const config = await readNodeConfig(values.config);
  return runInForeground(config, cliLogger(values['log-level']), io);
};

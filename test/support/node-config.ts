// A node config file with only the required fields (plus `extra`), read back through
// readNodeConfig: for tests of how optional fields are parsed and refused.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readNodeConfig, type NodeConfig } from '../../src/node/config.js';

export const minimalNodeConfigJson = {
  nodeId: 'n0',
  dataDir: 'data',
  listen: { host: '127.0.0.1', port: 0 },
  tls: { certFile: 'server.crt', keyFile: 'server.key' },
  identity: { mspId: 'Org1MSP', mspDir: 'msp' },
  consortium: [{ mspId: 'Org1MSP', mspDir: 'msp' }],
} as const;

let files = 0;

/** Writes the minimal config with `extra` into `dir` and reads it as the node would. */
export async function readMinimalNodeConfig(
  dir: string,
  extra: Record<string, unknown>,
): Promise<NodeConfig> {
  files += 1;
  const file = path.join(dir, `node-config-${String(files)}.json`);
  await writeFile(file, JSON.stringify({ ...minimalNodeConfigJson, ...extra }));
  return readNodeConfig(file);
}

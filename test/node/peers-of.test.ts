// A node's peers (decision 0019): its config's, plus every other node the configuration in
// force gives a URL; the configuration's URL wins over the config file's; never itself.
import { describe, expect, it } from 'vitest';
import type { NodeRecord } from '../../src/governance/index.js';
import { peersOf } from '../../src/node/index.js';

const codeId = 'a'.repeat(64);
const node = (
  nodeId: string,
  url?: string,
  status: NodeRecord['status'] = 'admitted',
): NodeRecord => ({
  nodeId,
  mspId: 'Org1MSP',
  codeId,
  status,
  ...(url === undefined ? {} : { url }),
});

describe('peersOf', () => {
  it('without a governed configuration, the config file names the peers', () => {
    const config = {
      nodeId: 'n1',
      peers: [
        { nodeId: 'n3', url: 'https://h:3' },
        { nodeId: 'n2', url: 'https://h:2' },
      ],
    };
    expect(peersOf(config, undefined)).toEqual([
      { nodeId: 'n2', url: 'https://h:2' },
      { nodeId: 'n3', url: 'https://h:3' },
    ]);
  });

  it('adds admitted and retired nodes with a URL, prefers the configuration in force, and leaves out itself and nodes without a URL', () => {
    const config = { nodeId: 'n1', peers: [{ nodeId: 'n2', url: 'https://old:2' }] };
    const nodes = {
      n1: node('n1', 'https://h:1'),
      n2: node('n2', 'https://new:2'),
      n4: node('n4', 'https://h:4'),
      n5: node('n5'),
      n6: node('n6', 'https://h:6', 'retired'),
    };
    expect(peersOf(config, nodes)).toEqual([
      { nodeId: 'n2', url: 'https://new:2' },
      { nodeId: 'n4', url: 'https://h:4' },
      { nodeId: 'n6', url: 'https://h:6' },
    ]);
  });
});

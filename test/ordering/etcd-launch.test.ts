// freePort: ports for servers that listen later (etcd members, nodes), taken below the
// ephemeral range that outgoing connections and port-0 listeners draw from.
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, handedOutPortsMax, listenPortRange } from '../../src/ordering/etcd-launch.js';

describe('freePort', () => {
  it('gives free ports below the ephemeral range, which a server can then listen on', async () => {
    const ports = await Promise.all(Array.from({ length: 8 }, () => freePort()));
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(listenPortRange.min);
      expect(port).toBeLessThanOrEqual(listenPortRange.max);
    }
    const server = createServer();
    const port = ports[0] ?? 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port, exclusive: true }, resolve);
    });
    try {
      // A port in use now is not handed out.
      for (let i = 0; i < 32; i += 1) expect(await freePort()).not.toBe(port);
    } finally {
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    }
  });

  it('never hands out the same port twice within its latest handedOutPortsMax', async () => {
    // 600 draws from ~12,800 ports: without the memory, two equal ones are all but certain.
    const ports: number[] = [];
    for (let i = 0; i < 600; i += 1) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
    expect(ports.length).toBeLessThanOrEqual(handedOutPortsMax);
  });
});

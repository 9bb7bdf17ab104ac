// DIR/network.json as the supervisor writes it: whole, whatever a reader polling it sees.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeNetworkFile, type NetworkFile } from '../../src/cli/network.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'coffer-network-file-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const fileOf = (n: number): NetworkFile => ({
  status: 'ready',
  supervisorPid: n,
  // Large enough that writing it takes more than one write call.
  etcd: Array.from({ length: 400 }, (_, i) => ({
    name: `etcd${i}`,
    clientUrl: `https://127.0.0.1:${String(20_000 + i)}`,
    pid: n,
  })),
  nodes: [],
});

describe('network.json', () => {
  it('is never missing or cut for a reader while it is rewritten, and the last write stays', async () => {
    await writeNetworkFile(dir, fileOf(0));
    const failures: string[] = [];
    const state = { writing: true };
    const reader = (async () => {
      let reads = 0;
      while (state.writing || reads === 0) {
        reads += 1;
        try {
          const file = JSON.parse(
            await readFile(path.join(dir, 'network.json'), 'utf8'),
          ) as NetworkFile;
          if (file.etcd.some((member) => member.pid !== file.supervisorPid)) failures.push('mixed');
        } catch (error) {
          failures.push((error as Error).message.slice(0, 80));
        }
      }
      return reads;
    })();
    // Unawaited writes one after the other, as restarts of several processes make them.
    const writes = Array.from({ length: 200 }, (_, n) => writeNetworkFile(dir, fileOf(n + 1)));
    await Promise.all(writes);
    state.writing = false;
    expect(await reader).toBeGreaterThan(0);
    expect(failures).toEqual([]);
    const last = JSON.parse(await readFile(path.join(dir, 'network.json'), 'utf8')) as NetworkFile;
    expect(last.supervisorPid).toBe(200);
  });
});

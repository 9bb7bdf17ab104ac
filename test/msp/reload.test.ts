// A local MSP reloads without a restart, on a file change or SIGHUP; a broken folder is
// refused with a log line and the previous MSP stays in force.
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLocalMsp, reloadDebounceMs, type LocalMsp } from '../../src/msp/index.js';

const corpus = path.resolve(import.meta.dirname, '../fixtures/fabric-msp-conformance/testdata');
// The corpus signers expire in 2027: a fixed clock keeps this test true after that.
const clock = () => new Date('2026-01-01T00:00:00Z');

let dir: string;
let lines: Record<string, unknown>[];
let local: LocalMsp | undefined;

function logger() {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim().length > 0) lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return pino({ level: 'info' }, sink);
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function revokedSignerIsValid(msp: ReturnType<LocalMsp['current']>): boolean {
  const signer = msp.signingIdentity;
  if (signer === undefined) throw new Error('no signer');
  return msp.validate(signer.identity).valid;
}

beforeEach(async () => {
  lines = [];
  dir = await mkdtemp(path.join(tmpdir(), 'coffer-reload-'));
  // Fabric's revocation MSP without its CRL: the signer is valid until the CRL arrives.
  await cp(path.join(corpus, 'revocation'), dir, { recursive: true });
  await rm(path.join(dir, 'crls'), { recursive: true, force: true });
});

afterEach(async () => {
  local?.close();
  local = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe('local MSP reload', () => {
  it('picks up a new CRL written into the folder, without a restart', async () => {
    local = await openLocalMsp(dir, {
      mspId: 'SampleOrg',
      clock,
      logger: logger(),
      onSighup: false,
    });
    const before = local.current();
    expect(revokedSignerIsValid(before)).toBe(true);
    await cp(path.join(corpus, 'revocation', 'crls'), path.join(dir, 'crls'), { recursive: true });
    await until(() => local?.current() !== before);
    expect(revokedSignerIsValid(local.current())).toBe(false);
    expect(lines.some((line) => String(line['msg']).includes('reloaded'))).toBe(true);
  });

  it('reloads on SIGHUP', async () => {
    local = await openLocalMsp(dir, {
      mspId: 'SampleOrg',
      clock,
      logger: logger(),
      watchFiles: false,
    });
    const before = local.current();
    await cp(path.join(corpus, 'revocation', 'crls'), path.join(dir, 'crls'), { recursive: true });
    await new Promise((resolve) => setTimeout(resolve, reloadDebounceMs * 2));
    expect(local.current()).toBe(before); // no watcher: nothing happens by itself
    process.kill(process.pid, 'SIGHUP');
    await until(() => local?.current() !== before);
    expect(revokedSignerIsValid(local.current())).toBe(false);
  });

  it('refuses a broken folder, keeps the previous MSP and says so in one log line', async () => {
    local = await openLocalMsp(dir, {
      mspId: 'SampleOrg',
      clock,
      logger: logger(),
      watchFiles: false,
      onSighup: false,
    });
    const before = local.current();
    await writeFile(path.join(dir, 'config.yaml'), 'NodeOUs: [unclosed\n');
    const outcome = await local.reload();
    expect(outcome.reloaded).toBe(false);
    if (!outcome.reloaded) {
      expect(outcome.error.code).toBe('MSP_E_RELOAD_FAILED');
      expect(outcome.error.message).toContain('MSP_E_CONFIG_YAML');
      expect(outcome.error.message).toContain('previous MSP stays in force');
    }
    expect(local.current()).toBe(before);
    const logged = lines.find((line) => line['code'] === 'MSP_E_RELOAD_FAILED');
    expect(logged?.['cause']).toBe('MSP_E_CONFIG_YAML');
    expect(logged?.['level']).toBe(50);
    // Fixing the folder makes the next reload succeed.
    await rm(path.join(dir, 'config.yaml'));
    expect((await local.reload()).reloaded).toBe(true);
  });

  it('refuses to open a broken folder at start', async () => {
    await rm(path.join(dir, 'cacerts'), { recursive: true });
    await expect(
      openLocalMsp(dir, { mspId: 'SampleOrg', clock, logger: logger() }),
    ).rejects.toMatchObject({
      code: 'MSP_E_CONFIG_NO_CACERTS',
    });
  });
});

// V8's thread pool (decision 0030) and allocation-site pretenuring (decision 0031) for a node
// process: the choice, and the re-execution in place, in real processes.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCofferError } from '../../src/errors/index.js';
import {
  givenPretenuring,
  givenV8PoolSize,
  nodeV8PoolSize,
  noPretenuringFlag,
  planRuntimeFlags,
  pretenuringOf,
  v8PoolSizeFor,
  v8PoolSizeMax,
  v8PoolSizeOf,
} from '../../src/node/runtime-flags.js';
import { runCoffer } from '../cli/run.js';

const root = path.resolve(import.meta.dirname, '../..');
const probe = path.join(import.meta.dirname, 'runtime-probe.mjs');
const built = path.join(root, 'dist/node/runtime-flags.js');

// Pretenuring kept on, so that these plans show the pool alone.
const plain = { execArgv: [], nodeOptions: undefined, setting: undefined, pretenuring: 'on' };

describe('the pool Coffer chooses', () => {
  it('is one thread fewer than the cores, from 1 up to Node’s own 4', () => {
    expect([1, 2, 3, 4, 5, 8, 64].map(v8PoolSizeFor)).toEqual([1, 1, 2, 3, 4, 4, 4]);
  });

  it('adds --v8-pool-size only where it differs from Node’s own', () => {
    expect(planRuntimeFlags({ ...plain, cores: 2 }).flags).toEqual(['--v8-pool-size=1']);
    expect(planRuntimeFlags({ ...plain, cores: 4 }).flags).toEqual(['--v8-pool-size=3']);
    const many = planRuntimeFlags({ ...plain, cores: 16 });
    expect(many.flags).toEqual([]);
    expect(many.detail).toContain(`Node's own ${nodeV8PoolSize}`);
  });

  it('keeps a --v8-pool-size given on the command line or in NODE_OPTIONS', () => {
    expect(givenV8PoolSize(['--v8-pool-size=3'], undefined)).toBe(3);
    expect(givenV8PoolSize(['--v8-pool-size', '2'], undefined)).toBe(2);
    expect(givenV8PoolSize(['--v8_pool_size=5'], undefined)).toBe(5);
    expect(givenV8PoolSize([], '--max-old-space-size=512  --v8-pool-size=6')).toBe(6);
    // The command line wins over NODE_OPTIONS, as in Node.
    expect(givenV8PoolSize(['--v8-pool-size=2'], '--v8-pool-size=6')).toBe(2);
    expect(givenV8PoolSize(['--max-old-space-size=512'], '--trace-gc')).toBeUndefined();
    const plan = planRuntimeFlags({ ...plain, execArgv: ['--v8-pool-size=3'], cores: 2 });
    expect(plan.flags).toEqual([]);
    expect(plan.detail).toContain('V8 thread pool: 3, as given (--v8-pool-size)');
    expect(planRuntimeFlags({ ...plain, nodeOptions: '--v8-pool-size=2', cores: 2 }).flags).toEqual(
      [],
    );
  });

  it('reports the pool a process runs with (Node’s own 4 when not given, one per core for 0)', () => {
    expect(v8PoolSizeOf([], undefined)).toBe(nodeV8PoolSize);
    expect(v8PoolSizeOf(['--v8-pool-size=1'], undefined)).toBe(1);
    expect(v8PoolSizeOf([], '--v8-pool-size=0')).toBeGreaterThanOrEqual(1);
  });

  it('follows COFFER_V8_POOL_SIZE: a number, or "node" for Node’s own', () => {
    expect(planRuntimeFlags({ ...plain, setting: '3', cores: 2 }).flags).toEqual([
      '--v8-pool-size=3',
    ]);
    expect(planRuntimeFlags({ ...plain, setting: 'node', cores: 2 }).flags).toEqual([]);
    expect(planRuntimeFlags({ ...plain, setting: '', cores: 2 }).flags).toEqual([
      '--v8-pool-size=1',
    ]);
  });

  it('refuses a bad COFFER_V8_POOL_SIZE with CLI_E_USAGE and what to give', () => {
    for (const setting of ['0', '-1', '1.5', 'two', String(v8PoolSizeMax + 1), '1e2']) {
      let caught: unknown;
      try {
        planRuntimeFlags({ ...plain, setting, cores: 2 });
      } catch (error) {
        caught = error;
      }
      expect(isCofferError(caught) && caught.code, setting).toBe('CLI_E_USAGE');
      expect((caught as Error).message).toContain(`from 1 to ${v8PoolSizeMax}`);
    }
  });
});

describe('allocation-site pretenuring (decision 0031)', () => {
  const unset = { ...plain, pretenuring: undefined, cores: 16 };

  it('is turned off unless COFFER_V8_PRETENURING=on', () => {
    expect(planRuntimeFlags(unset).flags).toEqual([noPretenuringFlag]);
    expect(planRuntimeFlags(unset).detail).toContain("pretenuring off (Coffer's choice)");
    expect(planRuntimeFlags({ ...unset, pretenuring: 'off' }).flags).toEqual([noPretenuringFlag]);
    expect(planRuntimeFlags({ ...unset, pretenuring: 'on' }).flags).toEqual([]);
    // Both options in one re-execution.
    expect(planRuntimeFlags({ ...unset, cores: 2 }).flags).toEqual([
      '--v8-pool-size=1',
      noPretenuringFlag,
    ]);
  });

  it('keeps an explicit option, on the command line or in NODE_OPTIONS', () => {
    expect(givenPretenuring(['--allocation-site-pretenuring'], undefined)).toBe(true);
    expect(givenPretenuring(['--no-allocation-site-pretenuring'], undefined)).toBe(false);
    expect(givenPretenuring([], '--trace-gc --no_allocation_site_pretenuring')).toBe(false);
    // The last one on a list wins; the command line wins over NODE_OPTIONS.
    expect(
      givenPretenuring(
        ['--no-allocation-site-pretenuring', '--allocation-site-pretenuring'],
        undefined,
      ),
    ).toBe(true);
    expect(
      givenPretenuring(['--allocation-site-pretenuring'], '--no-allocation-site-pretenuring'),
    ).toBe(true);
    expect(givenPretenuring(['--trace-gc'], '--max-old-space-size=512')).toBeUndefined();
    expect(
      planRuntimeFlags({ ...unset, nodeOptions: '--allocation-site-pretenuring' }).flags,
    ).toEqual([]);
    expect(
      planRuntimeFlags({ ...unset, execArgv: ['--no-allocation-site-pretenuring'] }).flags,
    ).toEqual([]);
  });

  it('reports what a process runs with (V8 pretenures unless told not to)', () => {
    expect(pretenuringOf([], undefined)).toBe(true);
    expect(pretenuringOf([noPretenuringFlag], undefined)).toBe(false);
    expect(pretenuringOf([], noPretenuringFlag)).toBe(false);
  });

  it('refuses a bad COFFER_V8_PRETENURING with CLI_E_USAGE and what to give', () => {
    for (const pretenuring of ['yes', '1', 'ON', 'maybe']) {
      let caught: unknown;
      try {
        planRuntimeFlags({ ...unset, pretenuring });
      } catch (error) {
        caught = error;
      }
      expect(isCofferError(caught) && caught.code, pretenuring).toBe('CLI_E_USAGE');
      expect((caught as Error).message).toContain('give "on"');
    }
  });
});

type ProbeReport = {
  readonly pid: number;
  readonly execArgv: string[];
  readonly rest: string[];
  readonly detail: string;
};

/**
 * Starts the probe with its stderr on a file (as `coffer network up` starts nodes: the file is
 * what Node marks close-on-exec), reads its report, and stops it with `signal`.
 */
async function runProbe(
  env: Record<string, string | undefined>,
  nodeArgs: readonly string[] = [],
  signal: NodeJS.Signals = 'SIGINT',
): Promise<{ report: ProbeReport; childPid: number; stderr: string; exit: unknown[] }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'coffer-runtime-'));
  const errFile = path.join(dir, 'stderr.log');
  const err = openSync(errFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [...nodeArgs, probe, built, 'one', '--two'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', err],
    });
  } finally {
    closeSync(err);
  }
  const stdoutOf = child.stdout;
  try {
    assert(stdoutOf !== null);
    let stdout = '';
    const line = await new Promise<string>((resolve, reject) => {
      stdoutOf.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('\n')) resolve(stdout.slice(0, stdout.indexOf('\n')));
      });
      child.once('exit', (code) => {
        reject(new Error(`probe exited (${code})`));
      });
    });
    const exited = once(child, 'exit');
    child.kill(signal);
    const exit = await exited;
    const stderr = await readFile(errFile, 'utf8');
    return { report: JSON.parse(line) as ProbeReport, childPid: child.pid ?? -1, stderr, exit };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

describe('re-executing in place', () => {
  it('keeps the process id, its arguments and its standard streams, and adds the option', async () => {
    const run = await runProbe({ COFFER_V8_POOL_SIZE: '1', COFFER_V8_PRETENURING: undefined });
    expect(run.report.pid).toBe(run.childPid);
    expect(run.report.execArgv).toEqual(['--v8-pool-size=1', noPretenuringFlag]);
    expect(run.report.rest).toEqual(['one', '--two']);
    // The new image ran the same check and found both options given.
    expect(run.report.detail).toBe(
      'V8 thread pool: 1, as given (--v8-pool-size); allocation-site pretenuring off, as given',
    );
    expect(run.stderr).toContain('stderr still works');
    // SIGINT reaches the new image itself (no parent in between): its handler exits 0.
    expect(run.exit).toEqual([0, null]);
  });

  it('keeps the Node options the process was started with', async () => {
    const run = await runProbe({ COFFER_V8_POOL_SIZE: '2', COFFER_V8_PRETENURING: undefined }, [
      '--max-old-space-size=300',
    ]);
    expect(run.report.execArgv).toEqual([
      '--max-old-space-size=300',
      '--v8-pool-size=2',
      noPretenuringFlag,
    ]);
  });

  it('leaves the process alone with V8’s own settings asked for or explicit options', async () => {
    const node = await runProbe({ COFFER_V8_POOL_SIZE: 'node', COFFER_V8_PRETENURING: 'on' });
    expect(node.report.execArgv).toEqual([]);
    expect(node.report.detail).toContain('COFFER_V8_POOL_SIZE=node');
    expect(node.report.detail).toContain('COFFER_V8_PRETENURING=on');
    const explicit = ['--v8-pool-size=3', '--allocation-site-pretenuring'];
    const given = await runProbe({ COFFER_V8_POOL_SIZE: '1' }, explicit);
    expect(given.report.execArgv).toEqual(explicit);
  });

  it('adds only what is missing: the pool given, pretenuring turned off', async () => {
    const run = await runProbe({ COFFER_V8_PRETENURING: undefined }, ['--v8-pool-size=2']);
    expect(run.report.execArgv).toEqual(['--v8-pool-size=2', noPretenuringFlag]);
  });

  it('dies whole on kill -9: the process that was killed is the one that ran', async () => {
    const run = await runProbe({ COFFER_V8_POOL_SIZE: '1' }, [], 'SIGKILL');
    expect(run.report.pid).toBe(run.childPid);
    expect(run.exit).toEqual([null, 'SIGKILL']);
    let alive = true;
    try {
      process.kill(run.report.pid, 0);
    } catch {
      alive = false;
    }
    expect(alive).toBe(false);
  });
});

describe('bin/coffer', () => {
  /** `coffer node start` with one environment variable set to a bad value. */
  async function startWith(variable: string, value: string): Promise<void> {
    const previous = process.env[variable];
    process.env[variable] = value;
    try {
      const run = await runCoffer(['node', 'start', '--config', '/nonexistent/node.json']);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('CLI_E_USAGE');
      expect(run.stderr).toContain(`${variable} is "${value}"`);
    } finally {
      if (previous === undefined) Reflect.deleteProperty(process.env, variable);
      else process.env[variable] = previous;
    }
  }

  it('refuses a bad COFFER_V8_PRETENURING before running a node (exit 2, CLI_E_USAGE)', async () => {
    await startWith('COFFER_V8_PRETENURING', 'sometimes');
  });

  it('refuses a bad COFFER_V8_POOL_SIZE before running a node (exit 2, CLI_E_USAGE)', async () => {
    await startWith('COFFER_V8_POOL_SIZE', 'lots');
  });
});

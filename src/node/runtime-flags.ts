// V8's thread pool for a node process (decision 0030).
//
// V8 does its concurrent marking, parallel young collections, sweeping and compaction on a pool
// of platform threads. Node sizes that pool at 4 whatever the machine. A node also runs its main
// thread and one signature-verification worker per core. On a 2-core machine, each full
// collection's concurrent marking then puts 4 threads beside those 3 for tens of milliseconds:
// the main thread and the verification workers wait for a CPU, and every transaction in flight
// waits with them. Measured (bench/ledger.mjs, 1,500 single requests a second): p99 55-109 ms
// with Node's pool of 4 or a pool of 2, 23-69 ms with a pool of 1.
//
// The pool size is read once, when the process starts (`--v8-pool-size`). So the commands that
// run a node (`coffer up`, `coffer node start`) re-execute themselves in place with the option
// added, before they open anything: execv through koffi (already loaded for glibc's mallopt,
// decision 0028) keeps the process id, its parent, its environment and its standard streams. No
// launcher process stays behind to forward signals or to outlive a kill -9.
//
// COFFER_V8_POOL_SIZE=N sets the size (1 to v8PoolSizeMax); COFFER_V8_POOL_SIZE=node keeps
// Node's own; an explicit --v8-pool-size (command line or NODE_OPTIONS) is always kept.
import { availableParallelism } from 'node:os';
import { cofferError, type CofferError } from '../errors/index.js';

/** The environment variable that overrides the choice. */
export const v8PoolSizeEnv = 'COFFER_V8_POOL_SIZE';
/** Node's own pool size (`--v8-pool-size` not given). */
export const nodeV8PoolSize = 4;
/** The largest size COFFER_V8_POOL_SIZE accepts. */
export const v8PoolSizeMax = 64;

/** The pool Coffer chooses for a machine: one thread fewer than its cores, 1 to Node's own 4. */
export function v8PoolSizeFor(cores: number): number {
  return Math.max(1, Math.min(nodeV8PoolSize, Math.floor(cores) - 1));
}

const poolFlag = /^--v8[-_]pool[-_]size(?:=(.*))?$/;

/**
 * `--v8-pool-size` as this process was given it, on its command line (`execArgv`) or in
 * NODE_OPTIONS (the command line wins, as in Node), or undefined when neither has it.
 */
export function givenV8PoolSize(
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): number | undefined {
  const last = (args: readonly string[]): number | undefined => {
    let found: number | undefined;
    args.forEach((arg, index) => {
      const match = poolFlag.exec(arg);
      if (match !== null) found = Number(match[1] ?? args[index + 1]);
    });
    return found;
  };
  return last(execArgv) ?? last((nodeOptions ?? '').split(/\s+/).filter((arg) => arg !== ''));
}

/** The pool V8 runs with in a process started with these options (0: one per core). */
export function v8PoolSizeOf(execArgv: readonly string[], nodeOptions: string | undefined): number {
  const given = givenV8PoolSize(execArgv, nodeOptions);
  if (given === undefined) return nodeV8PoolSize;
  return given === 0 ? availableParallelism() : given;
}

export type RuntimeFlagsPlan = {
  /** Node options to add by re-executing; empty when the process runs as it is. */
  readonly flags: readonly string[];
  /** Why, in a sentence (logged by the node). */
  readonly detail: string;
};

/** What a node process should add to its own options; pure. */
export function planRuntimeFlags(input: {
  readonly execArgv: readonly string[];
  readonly nodeOptions: string | undefined;
  readonly setting: string | undefined;
  readonly cores: number;
}): RuntimeFlagsPlan {
  const given = givenV8PoolSize(input.execArgv, input.nodeOptions);
  if (given !== undefined) {
    return { flags: [], detail: `V8 thread pool: ${given}, as given (--v8-pool-size)` };
  }
  const setting = input.setting?.trim() ?? '';
  if (setting === 'node') {
    return {
      flags: [],
      detail: `V8 thread pool: Node's own ${nodeV8PoolSize} (${v8PoolSizeEnv}=node)`,
    };
  }
  let size: number;
  let why: string;
  if (setting === '') {
    size = v8PoolSizeFor(input.cores);
    why = `one fewer than the ${input.cores} cores, at most Node's own ${nodeV8PoolSize}`;
  } else {
    size = Number(setting);
    if (!/^[0-9]+$/.test(setting) || size < 1 || size > v8PoolSizeMax) {
      throw badSetting(setting);
    }
    why = `${v8PoolSizeEnv}=${size}`;
  }
  if (size === nodeV8PoolSize) {
    return { flags: [], detail: `V8 thread pool: Node's own ${nodeV8PoolSize} (${why})` };
  }
  return { flags: [`--v8-pool-size=${size}`], detail: `V8 thread pool: ${size} (${why})` };
}

function badSetting(setting: string): CofferError {
  return cofferError(
    'CLI_E_USAGE',
    `${v8PoolSizeEnv} is "${setting.slice(0, 40)}": give a whole number from 1 to ${v8PoolSizeMax}, ` +
      `or "node" for Node's own thread pool, or leave it unset to let Coffer choose`,
    { variable: v8PoolSizeEnv },
  );
}

const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;

/**
 * Re-executes this process in place with the plan's options when it has any. Returns only when
 * there was nothing to add or exec was impossible here (then with the reason; the process goes
 * on as it is). Call it before the process opens any file, socket or standard stream.
 */
export async function reexecWithRuntimeFlags(
  argv: readonly string[] = process.argv,
): Promise<string> {
  const plan = planRuntimeFlags({
    execArgv: process.execArgv,
    nodeOptions: process.env['NODE_OPTIONS'],
    setting: process.env[v8PoolSizeEnv],
    cores: availableParallelism(),
  });
  if (plan.flags.length === 0) return plan.detail;
  if (process.platform !== 'linux') return `${plan.detail} not applied: not Linux`;
  type Execv = (path: string, args: (string | null)[]) => number;
  // Variadic: extra arguments come in (type, value) pairs.
  type Fcntl = (fd: number, command: number, ...typedArgs: (string | number)[]) => number;
  let libc: { readonly execv: Execv; readonly fcntl: Fcntl };
  try {
    const koffi = (await import('koffi')).default;
    const lib = koffi.load('libc.so.6');
    libc = {
      execv: lib.func('int execv(const char *path, const char **argv)') as Execv,
      fcntl: lib.func('int fcntl(int fd, int cmd, ...)') as Fcntl,
    };
  } catch (error) {
    return `${plan.detail} not applied: libc could not be loaded (${String(error)})`;
  }
  // Node marks its standard streams close-on-exec; the new image must keep them.
  for (const fd of [0, 1, 2]) {
    const flags = libc.fcntl(fd, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC) !== 0) {
      libc.fcntl(fd, F_SETFD, 'int', flags & ~FD_CLOEXEC);
    }
  }
  const args = [process.execPath, ...process.execArgv, ...plan.flags, ...argv.slice(1), null];
  libc.execv(process.execPath, args);
  // Still here: execv failed (the process image is unchanged).
  return `${plan.detail} not applied: execv of ${process.execPath} failed`;
}

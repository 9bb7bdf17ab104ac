// V8's thread pool (decision 0030) and allocation-site pretenuring (decision 0031) for a node
// process.
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
//
// The same re-execution turns off V8's allocation-site pretenuring (decision 0031). V8 allocates
// objects straight into the old generation when most objects from the same place in the code
// outlived a young collection. A node's long-lived objects (transaction statuses, recent
// entries, the state) come from code that also makes short-lived ones, and a pretenured object
// that dies soon still holds young objects alive until the next full collection: each young
// collection then promotes them too. Measured (bench/ledger.mjs, 3,000 single requests a
// second): promotion 19.5 MB/s with pretenuring, 10.3 MB/s without; p99 140-164 ms against
// 55-101 ms.
// COFFER_V8_PRETENURING=on keeps V8's own; an explicit --allocation-site-pretenuring or
// --no-allocation-site-pretenuring is always kept.
import { availableParallelism } from 'node:os';
import { cofferError, type CofferError } from '../errors/index.js';

/** The environment variable that overrides the choice. */
export const v8PoolSizeEnv = 'COFFER_V8_POOL_SIZE';
/** Node's own pool size (`--v8-pool-size` not given). */
export const nodeV8PoolSize = 4;
/** The largest size COFFER_V8_POOL_SIZE accepts. */
export const v8PoolSizeMax = 64;

/** The environment variable that keeps V8's allocation-site pretenuring on (`on`). */
export const pretenuringEnv = 'COFFER_V8_PRETENURING';
/** The option Coffer adds: V8 pretenures allocation sites unless told not to. */
export const noPretenuringFlag = '--no-allocation-site-pretenuring';

/** The pool Coffer chooses for a machine: one thread fewer than its cores, 1 to Node's own 4. */
export function v8PoolSizeFor(cores: number): number {
  return Math.max(1, Math.min(nodeV8PoolSize, Math.floor(cores) - 1));
}

/**
 * The last value `read` finds in a process's options (`read` looks at `args[index]`, and may
 * look at the next one), on its command line (`execArgv`) first, then in NODE_OPTIONS: the
 * command line wins, as in Node.
 */
function lastGiven<T>(
  execArgv: readonly string[],
  nodeOptions: string | undefined,
  read: (args: readonly string[], index: number) => T | undefined,
): T | undefined {
  const lists = [execArgv, (nodeOptions ?? '').split(/\s+/).filter((arg) => arg !== '')];
  for (const args of lists) {
    let found: T | undefined;
    args.forEach((_, index) => {
      found = read(args, index) ?? found;
    });
    if (found !== undefined) return found;
  }
  return undefined;
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
  return lastGiven(execArgv, nodeOptions, (args, index) => {
    const match = poolFlag.exec(args[index] ?? '');
    return match === null ? undefined : Number(match[1] ?? args[index + 1]);
  });
}

const pretenuringFlag = /^--(no[-_])?allocation[-_]site[-_]pretenuring$/;

/**
 * Whether this process was given `--[no-]allocation-site-pretenuring` (true: on, false: off),
 * on its command line or in NODE_OPTIONS (the command line wins), or undefined.
 */
export function givenPretenuring(
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): boolean | undefined {
  return lastGiven(execArgv, nodeOptions, (args, index) => {
    const match = pretenuringFlag.exec(args[index] ?? '');
    return match === null ? undefined : match[1] === undefined;
  });
}

/** Whether V8 pretenures allocation sites in a process started with these options. */
export function pretenuringOf(
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): boolean {
  return givenPretenuring(execArgv, nodeOptions) ?? true;
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
  /** Why, in a sentence per option (logged by the node). */
  readonly detail: string;
};

/** What a node process should add to its own options; pure. */
export function planRuntimeFlags(input: {
  readonly execArgv: readonly string[];
  readonly nodeOptions: string | undefined;
  /** COFFER_V8_POOL_SIZE. */
  readonly setting: string | undefined;
  /** COFFER_V8_PRETENURING. */
  readonly pretenuring?: string | undefined;
  readonly cores: number;
}): RuntimeFlagsPlan {
  const pool = planPool(input);
  const pretenuring = planPretenuring(input);
  return {
    flags: [...pool.flags, ...pretenuring.flags],
    detail: `${pool.detail}; ${pretenuring.detail}`,
  };
}

function planPool(input: Parameters<typeof planRuntimeFlags>[0]): RuntimeFlagsPlan {
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

function planPretenuring(input: Parameters<typeof planRuntimeFlags>[0]): RuntimeFlagsPlan {
  const given = givenPretenuring(input.execArgv, input.nodeOptions);
  if (given !== undefined) {
    return { flags: [], detail: `allocation-site pretenuring ${given ? 'on' : 'off'}, as given` };
  }
  const setting = input.pretenuring?.trim() ?? '';
  if (setting === 'on') {
    return { flags: [], detail: `allocation-site pretenuring on (${pretenuringEnv}=on)` };
  }
  if (setting !== '' && setting !== 'off') {
    throw cofferError(
      'CLI_E_USAGE',
      `${pretenuringEnv} is "${setting.slice(0, 40)}": give "on" to keep V8's allocation-site ` +
        `pretenuring, "off", or leave it unset to let Coffer choose (off)`,
      { variable: pretenuringEnv },
    );
  }
  return {
    flags: [noPretenuringFlag],
    detail: `allocation-site pretenuring off (${setting === '' ? "Coffer's choice" : `${pretenuringEnv}=off`})`,
  };
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
    pretenuring: process.env[pretenuringEnv],
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

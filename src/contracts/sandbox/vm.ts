// One QuickJS runtime and context for one app version (decision 0014). The context is made once
// (prelude, then the app's module function compiled once) and serves many calls; each call runs
// the app's module afresh over a frozen realm. Limits: memory and stack per runtime, interrupt
// polls per call (deterministic), a wall-clock backstop per call (node-local), result, log and
// host-call counts per call. After a limit or a crash the VM is spent: its owner makes a new one.
import {
  newQuickJSWASMModule,
  newVariant,
  RELEASE_SYNC,
  type QuickJSContext,
  type QuickJSHandle,
  type QuickJSRuntime,
} from 'quickjs-emscripten';
import { cofferError, isCofferError, type CofferError } from '../../errors/index.js';
import {
  appMessageCharsMax,
  callHostCallsMax,
  callLogLinesMax,
  callPollsMax,
  callResultBytesMax,
  callWallMsBackstop,
  logLineCharsMax,
  memoryBytesMax,
  stackBytesMax,
  wasmMemoryBytesMax,
} from './limits.js';
import { prelude } from './prelude.js';

// The WebAssembly builds of QuickJS, loaded once per process (about 20 ms each). Top-level await
// keeps every caller synchronous afterwards: execution of a batch never waits. Transactions and
// queries use separate instances, so that queries never change the memory transactions run in.
// Each instance's memory is capped: QuickJS 0.32's per-runtime limit does not count large
// strings and typed arrays (quickjs-emscripten issue 271), so a bomb that slips between two
// memory checks meets the instance's cap and a clean out-of-memory instead of the node's RAM.
const pageBytes = 64 * 1024;
// Node's global WebAssembly (the project's TypeScript lib has no DOM types).
const wasm = (
  globalThis as unknown as {
    WebAssembly: { Memory: new (limits: { initial: number; maximum: number }) => object };
  }
).WebAssembly;
async function loadQuickJs() {
  const memory = new wasm.Memory({
    initial: (16 * 1024 * 1024) / pageBytes,
    maximum: wasmMemoryBytesMax / pageBytes,
  });
  return newQuickJSWASMModule(newVariant(RELEASE_SYNC, { wasmMemory: memory }));
}
const instances = { execution: await loadQuickJs(), query: await loadQuickJs() };
export type VmInstance = keyof typeof instances;

/** What a call may do outside the sandbox; maps are full names (`<app>.x`, `public:<app>.x`). */
export type VmHost = {
  readonly get: (map: string, key: string) => string | undefined;
  readonly put: (map: string, key: string, value: string) => void;
  readonly delete: (map: string, key: string) => void;
  /** The latest point of an oracle feed as JSON ({value, time, publisher, seq}), if any. */
  readonly oracle: (feed: string) => string | undefined;
};

export type VmCallContext = {
  readonly app: string;
  readonly caller: unknown;
  readonly txId: string | null;
  readonly time: number | null;
  readonly readonly: boolean;
  /** Four 32-bit words seeding Math.random and random() for this call. */
  readonly seed: readonly [number, number, number, number];
};

export type VmCallOutcome =
  | { readonly ok: true; readonly result: unknown; readonly logs: readonly string[] }
  | { readonly ok: false; readonly error: CofferError; readonly logs: readonly string[] };

export type AppVm = {
  /** Runs an exported function; endpoint null lists the exported function names instead. */
  readonly call: (
    endpoint: string | null,
    args: unknown,
    context: VmCallContext,
    host: VmHost,
  ) => VmCallOutcome;
  /** True once a limit or crash spent the VM: make a new one for the next call. */
  readonly spent: () => boolean;
  readonly dispose: () => void;
};

function clip(text: string): string {
  return text.length > appMessageCharsMax ? `${text.slice(0, appMessageCharsMax)}…` : text;
}

/** Why a call stopped, as the host saw it (the VM's own error is checked after). */
type Stop =
  { reason: 'none' | 'polls' | 'wall' | 'memory' } | { reason: 'host'; error: CofferError };

/** A VM for one app's code; throws APP_E_BUNDLE_INVALID when the code does not compile. */
export function createAppVm(appName: string, code: string, instance: VmInstance): AppVm {
  const runtime: QuickJSRuntime = instances[instance].newRuntime();
  runtime.setMemoryLimit(memoryBytesMax);
  runtime.setMaxStackSize(stackBytesMax);
  let polls = 0;
  let deadline = Number.POSITIVE_INFINITY;
  let stop: Stop = { reason: 'none' };
  // Read through a function: the host function and interrupt handler change it during a call.
  const currentStop = (): Stop => stop;
  runtime.setInterruptHandler(() => {
    polls++;
    if (polls > callPollsMax) {
      stop = { reason: 'polls' };
      return true;
    }
    // The runtime's own limit misses large blocks; the heap it reports counts them, and is the
    // same on every node at the same poll.
    if (memoryUsed() > memoryBytesMax) {
      stop = { reason: 'memory' };
      return true;
    }
    // performance.now is node-local: only the backstop reads it (decision 0014).
    if (performance.now() > deadline) {
      stop = { reason: 'wall' };
      return true;
    }
    return false;
  });
  const context: QuickJSContext = runtime.newContext({
    intrinsics: {
      BaseObjects: true,
      Date: false,
      Eval: true,
      StringNormalize: true,
      RegExp: true,
      JSON: true,
      Proxy: true,
      MapSet: true,
      TypedArrays: true,
      Promise: true,
    },
  });
  const memoryUsed = (): number => {
    const usage = runtime.computeMemoryUsage();
    try {
      const used = context.getProp(usage, 'memory_used_size');
      const bytes = context.typeof(used) === 'number' ? context.getNumber(used) : 0;
      used.dispose();
      return bytes;
    } finally {
      usage.dispose();
    }
  };
  let spent = false;
  let host: VmHost | undefined;
  let hostCalls = 0;
  let logs: string[] = [];

  const hostFunction = context.newFunction('host', (...handles) => {
    const [op, a, b, c] = handles.map((handle) =>
      context.typeof(handle) === 'string' ? context.getString(handle) : undefined,
    );
    if (currentStop().reason !== 'none') return context.undefined;
    hostCalls++;
    if (hostCalls > callHostCallsMax) {
      stop = {
        reason: 'host',
        error: cofferError('APP_E_OUTPUT_LIMIT', `more than ${callHostCallsMax} host calls`),
      };
      return context.undefined;
    }
    if (host === undefined) return context.undefined;
    try {
      switch (op) {
        case 'get': {
          const value = a === undefined || b === undefined ? undefined : host.get(a, b);
          return value === undefined ? context.undefined : context.newString(value);
        }
        case 'put':
          if (a !== undefined && b !== undefined && c !== undefined) host.put(a, b, c);
          return context.undefined;
        case 'delete':
          if (a !== undefined && b !== undefined) host.delete(a, b);
          return context.undefined;
        case 'oracle': {
          const point = a === undefined ? undefined : host.oracle(a);
          return point === undefined ? context.undefined : context.newString(point);
        }
        case 'log':
          if (logs.length >= callLogLinesMax) {
            stop = {
              reason: 'host',
              error: cofferError('APP_E_OUTPUT_LIMIT', `more than ${callLogLinesMax} log lines`),
            };
          } else {
            logs.push((a ?? '').slice(0, logLineCharsMax));
          }
          return context.undefined;
        default:
          return context.undefined;
      }
    } catch (error) {
      // A host refusal (a map the app does not own, a store limit) ends the call even if the
      // app catches what it sees: the transaction is invalid with the host's code.
      if (!isCofferError(error)) throw error;
      stop = { reason: 'host', error };
      return { error: context.newError(error.message) };
    }
  });

  const dispose = (): void => {
    if (context.alive) context.dispose();
    if (runtime.alive) runtime.dispose();
  };

  let callFunction: QuickJSHandle;
  try {
    const moduleResult = context.evalCode(
      `(function (module, exports, require) {\n${code}\n})`,
      `${appName}.js`,
      { strict: true },
    );
    if (moduleResult.error !== undefined) {
      const dumped: unknown = context.dump(moduleResult.error);
      moduleResult.error.dispose();
      throw cofferError(
        'APP_E_BUNDLE_INVALID',
        `bundle.code does not compile: ${clip(describe(dumped))}`,
        { field: 'bundle.code' },
      );
    }
    const preludeResult = context.evalCode(prelude, 'coffer-prelude.js', { strict: true });
    const setup = context.unwrapResult(preludeResult);
    const made = context.callFunction(setup, context.undefined, hostFunction, moduleResult.value);
    setup.dispose();
    moduleResult.value.dispose();
    callFunction = context.unwrapResult(made);
  } catch (error) {
    hostFunction.dispose();
    dispose();
    throw error;
  } finally {
    if (hostFunction.alive) hostFunction.dispose();
  }

  const call: AppVm['call'] = (endpoint, args, callContext, callHost) => {
    if (spent) throw new Error('AppVm: call on a spent VM');
    host = callHost;
    hostCalls = 0;
    logs = [];
    polls = 0;
    stop = { reason: 'none' };
    deadline = performance.now() + callWallMsBackstop;
    const handles: QuickJSHandle[] = [];
    try {
      handles.push(
        endpoint === null ? context.null : context.newString(endpoint),
        context.newString(JSON.stringify(args ?? null)),
        context.newString(JSON.stringify(callContext)),
      );
      const result = context.callFunction(callFunction, context.undefined, ...handles);
      const stopped = currentStop();
      if (result.error !== undefined) {
        const dumped: unknown = context.dump(result.error);
        result.error.dispose();
        return { ok: false, error: failure(stopped, dumped), logs };
      }
      const text = context.typeof(result.value) === 'string' ? context.getString(result.value) : '';
      result.value.dispose();
      if (stopped.reason !== 'none') return { ok: false, error: failure(stopped, {}), logs };
      const bytes = Buffer.byteLength(text);
      if (bytes > callResultBytesMax) {
        return {
          ok: false,
          error: cofferError(
            'APP_E_OUTPUT_LIMIT',
            `${appName}/${String(endpoint)} returned ${bytes} bytes; at most callResultBytesMax (${callResultBytesMax})`,
          ),
          logs,
        };
      }
      const parsed = JSON.parse(text) as
        { ok: true; result: unknown } | { ok: false; code: string; message: string };
      if (parsed.ok) return { ok: true, result: parsed.result, logs };
      return {
        ok: false,
        error: cofferError('APP_E_REJECTED', `${appName}: ${clip(parsed.message)}`, {
          appCode: parsed.code.slice(0, 64),
        }),
        logs,
      };
    } finally {
      for (const handle of handles) if (handle.alive) handle.dispose();
      host = undefined;
      deadline = Number.POSITIVE_INFINITY;
      const last = currentStop();
      if (last.reason !== 'none' && last.reason !== 'host') spent = true;
    }
  };

  const failure = (current: Stop, dumped: unknown): CofferError => {
    if (current.reason === 'polls') {
      return cofferError(
        'APP_E_CPU_LIMIT',
        `${appName} ran past its instruction budget (callPollsMax ${callPollsMax} polls of 10,000 ticks)`,
      );
    }
    if (current.reason === 'wall') {
      return cofferError(
        'APP_E_CPU_LIMIT',
        `${appName} ran longer than the wall-clock backstop (${callWallMsBackstop} ms)`,
        { backstop: true },
      );
    }
    if (current.reason === 'host') return current.error;
    const message = describe(dumped);
    if (current.reason === 'memory') {
      return cofferError(
        'APP_E_MEMORY_LIMIT',
        `${appName} holds more than memoryBytesMax (${memoryBytesMax} bytes)`,
      );
    }
    if (/^InternalError: (out of memory|stack overflow)/.test(message)) {
      spent = true;
      return cofferError(
        'APP_E_MEMORY_LIMIT',
        `${appName}: ${message} (memoryBytesMax ${memoryBytesMax}, stackBytesMax ${stackBytesMax})`,
      );
    }
    return cofferError('APP_E_FAILED', `${appName} threw ${clip(message)}`);
  };

  return {
    call: (endpoint, args, callContext, callHost) => {
      try {
        return call(endpoint, args, callContext, callHost);
      } catch (error) {
        // The WebAssembly engine itself failed (e.g. its own stack): never reuse this VM.
        spent = true;
        if (isCofferError(error)) return { ok: false, error, logs };
        return {
          ok: false,
          error: cofferError(
            'APP_E_MEMORY_LIMIT',
            `${appName}: the runtime failed: ${clip(String(error))}`,
          ),
          logs,
        };
      }
    },
    spent: () => spent,
    dispose: () => {
      if (callFunction.alive) callFunction.dispose();
      dispose();
    },
  };
}

/** `Name: message` of a dumped QuickJS error (or any dumped value). */
function describe(dumped: unknown): string {
  if (typeof dumped === 'object' && dumped !== null) {
    const { name, message } = dumped as { name?: unknown; message?: unknown };
    if (typeof message === 'string')
      return `${typeof name === 'string' ? name : 'Error'}: ${message}`;
  }
  try {
    const text = JSON.stringify(dumped) as unknown;
    return typeof text === 'string' ? text : 'undefined';
  } catch {
    return 'an unprintable value';
  }
}

// JavaScript that runs first in every app context (decision 0014). It takes away what would make
// nodes disagree (Math.random, WeakRef, FinalizationRegistry; Date is not even created), builds
// the `@coffer/app` module that app code imports, and freezes every object reachable from the
// global object, so that one call cannot leave state behind for the next (module state is
// fresh per call: the app's module function runs again for each call).
//
// The prelude evaluates to a function of (host, appModule) that returns `call(endpoint,
// argsJson, contextJson)`. `host(op, a, b, c)` is the one native function: kv get/put/delete,
// oracle reads and logging. Everything else is plain JavaScript inside the sandbox.
export const prelude = String.raw`(function (host, appModule) {
  'use strict';
  const g = globalThis;
  delete g.WeakRef;
  delete g.FinalizationRegistry;
  let state = { caller: null, txId: null, time: null, readonly: true };
  // sfc32, seeded per call from the transaction id: the same numbers on every node.
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  function random() {
    s0 >>>= 0; s1 >>>= 0; s2 >>>= 0; s3 >>>= 0;
    let t = (s0 + s1) | 0;
    s0 = s1 ^ (s1 >>> 9);
    s1 = (s2 + (s2 << 3)) | 0;
    s2 = (s2 << 21) | (s2 >>> 11);
    s3 = (s3 + 1) | 0;
    t = (t + s3) | 0;
    s2 = (s2 + t) | 0;
    return (t >>> 0) / 4294967296;
  }
  Math.random = random;
  class AppFailure extends Error {
    constructor(code, message) {
      super(message);
      Object.defineProperty(this, 'appCode', { value: code });
    }
  }
  const str = (value, what) => {
    if (typeof value !== 'string') throw new TypeError(what + ' must be a string');
    return value;
  };
  const kvMap = (prefix, name) => {
    const map = prefix + str(name, 'map name');
    const get = (key) => host('get', map, str(key, 'key'));
    const put = (key, value) => host('put', map, str(key, 'key'), str(value, 'value'));
    return Object.freeze({
      name: map,
      get,
      getJson: (key) => {
        const text = get(key);
        return text === undefined ? undefined : JSON.parse(text);
      },
      has: (key) => get(key) !== undefined,
      put,
      putJson: (key, value) => put(key, JSON.stringify(value)),
      delete: (key) => host('delete', map, str(key, 'key')),
    });
  };
  const api = Object.freeze({
    map: (name) => kvMap(state.app + '.', name),
    publicMap: (name) => kvMap('public:' + state.app + '.', name),
    caller: () => state.caller,
    txId: () => state.txId,
    time: () => state.time,
    isReadonly: () => state.readonly,
    log: (...parts) => {
      host('log', parts.map((part) => (typeof part === 'string' ? part : JSON.stringify(part))).join(' '));
    },
    random,
    fail: (code, message) => {
      throw new AppFailure(str(code, 'code'), str(message, 'message'));
    },
    oracle: (feed) => {
      const text = host('oracle', str(feed, 'feed'));
      if (text === undefined) return undefined;
      const point = JSON.parse(text);
      point.ageMs = state.time === null ? null : state.time - point.time;
      return Object.freeze(point);
    },
    isoTime: (ms) => {
      if (!Number.isSafeInteger(ms) || ms < 0) throw new TypeError('isoTime takes milliseconds');
      const days = Math.floor(ms / 86400000), rest = ms % 86400000;
      // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm), no Date needed.
      const z = days + 719468, era = Math.floor(z / 146097), doe = z - era * 146097;
      const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
      const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
      const mp = Math.floor((5 * doy + 2) / 153), d = doy - Math.floor((153 * mp + 2) / 5) + 1;
      const m = mp < 10 ? mp + 3 : mp - 9, y = yoe + era * 400 + (m <= 2 ? 1 : 0);
      const p = (n, w) => String(n).padStart(w, '0');
      return p(y, 4) + '-' + p(m, 2) + '-' + p(d, 2) + 'T' + p(Math.floor(rest / 3600000), 2) + ':' +
        p(Math.floor(rest / 60000) % 60, 2) + ':' + p(Math.floor(rest / 1000) % 60, 2) + '.' + p(rest % 1000, 3) + 'Z';
    },
  });
  const requireModule = (name) => {
    if (name === '@coffer/app') return api;
    throw new TypeError('module ' + name + ' is not available to a Coffer app (only @coffer/app)');
  };
  const instantiate = () => {
    const module = { exports: {} };
    appModule.call(undefined, module, module.exports, requireModule);
    return module.exports;
  };
  // Frozen prototypes make 'obj.toString = f' or 'this.name = n' in an Error subclass throw
  // (the override mistake); as SES does, such properties become accessors that define an own
  // property on the object assigned to.
  const overridable = (proto, keys) => {
    for (const key of keys) {
      const descriptor = Reflect.getOwnPropertyDescriptor(proto, key);
      if (descriptor === undefined || !('value' in descriptor)) continue;
      const value = descriptor.value;
      Object.defineProperty(proto, key, {
        get() { return value; },
        set(next) {
          if (this === proto) throw new TypeError('cannot change a frozen prototype');
          Object.defineProperty(this, key, { value: next, writable: true, enumerable: true, configurable: true });
        },
        enumerable: descriptor.enumerable,
        configurable: false,
      });
    }
  };
  overridable(Object.prototype, ['constructor', 'toString', 'valueOf', 'toLocaleString', 'hasOwnProperty']);
  overridable(Function.prototype, ['constructor', 'toString', 'name']);
  overridable(Array.prototype, ['constructor', 'toString', 'push']);
  for (const E of [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError]) {
    overridable(E.prototype, ['constructor', 'name', 'message', 'toString']);
  }
  const seen = new Set();
  const freeze = (value) => {
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return;
    if (seen.has(value)) return;
    seen.add(value);
    Object.freeze(value);
    freeze(Object.getPrototypeOf(value));
    const descriptors = Object.getOwnPropertyDescriptors(value);
    for (const key of Reflect.ownKeys(descriptors)) {
      const descriptor = descriptors[key];
      if ('value' in descriptor) freeze(descriptor.value);
      else {
        freeze(descriptor.get);
        freeze(descriptor.set);
      }
    }
  };
  freeze(g);
  freeze(api);
  seen.clear();
  return function call(endpoint, argsJson, contextJson) {
    state = JSON.parse(contextJson);
    s0 = state.seed[0]; s1 = state.seed[1]; s2 = state.seed[2]; s3 = state.seed[3];
    for (let i = 0; i < 12; i++) random();
    const exports = instantiate();
    if (endpoint === null) {
      return JSON.stringify({ ok: true, result: Object.keys(exports).filter((key) => typeof exports[key] === 'function') });
    }
    const fn = exports[endpoint];
    if (typeof fn !== 'function') throw new TypeError('the app exports no function ' + endpoint);
    try {
      const result = fn(JSON.parse(argsJson), api);
      if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
        throw new TypeError('endpoint ' + endpoint + ' returned a Promise; endpoints are synchronous');
      }
      const json = JSON.stringify(result === undefined ? null : result);
      return '{"ok":true,"result":' + (json === undefined ? 'null' : json) + '}';
    } catch (error) {
      if (error instanceof AppFailure) {
        return JSON.stringify({ ok: false, code: error.appCode, message: error.message });
      }
      throw error;
    }
  };
})`;

// PKCS#11 key store (OASIS PKCS#11 v2.40 base specification): platform keys are generated on
// the token, sensitive and never extractable, and only signatures leave it. Any PKCS#11 module
// works by configuration (library path, token label, PIN); SoftHSM2 runs it in tests. pkcs11js
// is a native module: it is imported on first use, so nothing else pays for it (STYLE.md 3).
//
// Sessions: a small pool of R/W user sessions on one slot, each used by one operation at a time
// (a session runs one cryptographic operation at once, §5.6). When the token reports the
// session gone (closed, logged out, device removed), the pool is rebuilt once, with a new login,
// and the operation retried; a second failure is KEYSTORE_E_HSM_UNAVAILABLE.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type * as Pkcs11Module from 'pkcs11js';
import { cofferError, isCofferError, type CofferError } from '../errors/index.js';
import {
  checkCurve,
  checkDigest,
  checkLabel,
  checkPublicKey,
  curveOidDer,
  keyCurves,
  keysPerStoreMax,
  knownAnswerCheck,
  normaliseSignature,
  publicKeyBytes,
  rawSignatureBytes,
  toHex,
  type KeyCurve,
  type KeyInfo,
  type KeyStore,
  type Signer,
} from './keys.js';
import { readSecretFile } from './sealed-file.js';

/** Sessions one store opens on its token; each runs one operation at a time. */
export const sessionsMaxDefault: number = 4;
export const sessionsMax = 64;
/** Operations waiting for a free session before new ones are refused (KEYSTORE_E_BUSY). */
export const sessionWaitersMax = 1024;
/** Longest a PKCS#11 call may take before the store gives up on it and its session. */
export const operationTimeoutMsDefault = 10_000;
/** Longest PIN read from a file or variable, in bytes (PKCS#11 PINs are short). */
export const pinBytesMax = 256;
/** Bytes of the CKA_ID of a key this store generates (hex of it is the key id). */
export const keyIdBytes = 16;
/** Longest CKA_ID accepted as a key id of an existing key, in bytes. */
export const keyIdBytesMax = 64;
/** Longest token label (CK_TOKEN_INFO.label is 32 blank-padded characters). */
export const tokenLabelCharsMax = 32;

assert(sessionsMaxDefault <= sessionsMax, 'the default pool fits the limit');

export type PinSource = { readonly pinFile: string } | { readonly pinEnv: string };

export type Pkcs11Options = {
  /** Path of the PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  readonly library: string;
  readonly tokenLabel: string;
  readonly pin: string;
  /** Sessions in the pool (default sessionsMaxDefault, at most sessionsMax). */
  readonly sessions?: number;
  readonly operationTimeoutMs?: number;
};

/** The security attributes of a private key, as the token reports them. */
export type KeyAttributes = {
  readonly keyId: string;
  readonly label: string;
  /** CKA_TOKEN: stored on the token, not a session object. */
  readonly token: boolean;
  /** CKA_PRIVATE: usable only after login. */
  readonly private: boolean;
  /** CKA_SENSITIVE: the value never leaves the token in plaintext. */
  readonly sensitive: boolean;
  /** CKA_EXTRACTABLE: may be wrapped (exported encrypted). */
  readonly extractable: boolean;
  /** CKA_ALWAYS_SENSITIVE: sensitive since it was made (so never seen outside). */
  readonly alwaysSensitive: boolean;
  /** CKA_NEVER_EXTRACTABLE: never extractable since it was made. */
  readonly neverExtractable: boolean;
  readonly sign: boolean;
};

export type Pkcs11KeyStore = KeyStore & {
  readonly kind: 'pkcs11';
  /** Reads a key's security attributes back from the token. */
  readonly attributes: (keyId: string) => Promise<KeyAttributes>;
  /** Token label, module path and model, for status output. */
  readonly token: { readonly label: string; readonly library: string; readonly model: string };
};

/** The attribute values a key must have before this store signs with it. */
export const requiredKeyAttributes = {
  token: true,
  private: true,
  sensitive: true,
  extractable: false,
  alwaysSensitive: true,
  neverExtractable: true,
  sign: true,
} as const satisfies Partial<Record<keyof KeyAttributes, boolean>>;

/** The reasons a key's attributes fall short of requiredKeyAttributes (empty: it qualifies). */
export function attributeShortfalls(attributes: KeyAttributes): string[] {
  return Object.entries(requiredKeyAttributes)
    .filter(([name, wanted]) => attributes[name as keyof typeof requiredKeyAttributes] !== wanted)
    .map(([name, wanted]) => `${name} is ${String(!wanted)}, must be ${String(wanted)}`);
}

/** The PIN from a file (one line) or an environment variable. Throws KEYSTORE_E_SECRET_UNREADABLE. */
export async function readPin(
  source: PinSource,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  if ('pinFile' in source) return readSecretFile(source.pinFile, pinBytesMax, 'PIN');
  const value = env[source.pinEnv];
  if (value === undefined || value.length === 0 || Buffer.byteLength(value) > pinBytesMax) {
    throw cofferError(
      'KEYSTORE_E_SECRET_UNREADABLE',
      `the environment variable ${source.pinEnv} must hold the token PIN (1 to ${pinBytesMax} bytes); set it in the service's environment, not in the config file`,
      { pinEnv: source.pinEnv },
    );
  }
  return value;
}

// ---- the native module ------------------------------------------------------------------------

type Pkcs11 = typeof Pkcs11Module;
type Module = InstanceType<Pkcs11['PKCS11']>;
type Handle = Buffer;

let native: Promise<Pkcs11> | undefined;

async function loadNative(): Promise<Pkcs11> {
  native ??= import('pkcs11js').then((loaded) => {
    const namespace = loaded as unknown as Pkcs11 & { readonly default?: Pkcs11 };
    return namespace.default ?? namespace;
  });
  try {
    return await native;
  } catch (cause) {
    native = undefined;
    throw cofferError(
      'KEYSTORE_E_HSM_UNAVAILABLE',
      `the pkcs11js native module cannot be loaded: ${(cause as Error).message}; run npm ci (it compiles pkcs11js) on this machine`,
      {},
      cause,
    );
  }
}

/**
 * One initialised module per library path in this process: C_Initialize and C_Finalize are
 * process-wide (§5.4), so stores on the same library share it and the last to close finalises.
 */
const libraries = new Map<
  string,
  { readonly module: Module; refs: number; readonly finalise: boolean }
>();

function ckrName(error: unknown): string | undefined {
  const message = error instanceof Error ? error.message : '';
  return /^CKR_[A-Z0-9_]+/.exec(message)?.[0];
}

function acquireLibrary(pkcs11: Pkcs11, library: string): Module {
  const known = libraries.get(library);
  if (known !== undefined) {
    known.refs += 1;
    return known.module;
  }
  const module = new pkcs11.PKCS11();
  try {
    module.load(library);
  } catch (cause) {
    throw cofferError(
      'KEYSTORE_E_HSM_UNAVAILABLE',
      `the PKCS#11 module ${library} cannot be loaded (${(cause as Error).message}); check keyStore.library (SoftHSM2 on Debian: /usr/lib/softhsm/libsofthsm2.so)`,
      { library },
      cause,
    );
  }
  let finalise = true;
  try {
    // Signatures run on libuv's threads, several at once (sessions): the module must lock with
    // the OS's primitives. Without CKF_OS_LOCKING_OK SoftHSM2 crashed the process at two
    // signatures in flight.
    module.C_Initialize({ flags: pkcs11.CKF_OS_LOCKING_OK });
  } catch (cause) {
    // Another user of the module in this process initialised it; it finalises it, not us.
    if (ckrName(cause) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
      throw cofferError(
        'KEYSTORE_E_HSM_UNAVAILABLE',
        `C_Initialize of ${library} failed: ${(cause as Error).message}`,
        { library },
        cause,
      );
    }
    finalise = false;
  }
  libraries.set(library, { module, refs: 1, finalise });
  return module;
}

function releaseLibrary(library: string): void {
  const known = libraries.get(library);
  if (known === undefined) return;
  known.refs -= 1;
  if (known.refs > 0) return;
  libraries.delete(library);
  if (!known.finalise) return;
  try {
    known.module.C_Finalize();
  } catch {
    // Finalising a module that lost its device has nothing left to clean up.
  }
}

/** Return values that mean "the session or login is gone": rebuild the pool and retry once. */
const sessionLost = new Set([
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_DEVICE_REMOVED',
  'CKR_DEVICE_ERROR',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_OBJECT_HANDLE_INVALID',
  'CKR_KEY_HANDLE_INVALID',
]);

// ---- attribute encodings ----------------------------------------------------------------------

/** CKA_EC_POINT is DER OCTET STRING of the point (§2.3.3); some modules return the bare point. */
function pointOf(value: Buffer): Uint8Array | undefined {
  if (value.length === publicKeyBytes && value[0] === 0x04) return new Uint8Array(value);
  if (value.length === publicKeyBytes + 2 && value[0] === 0x04 && value[1] === publicKeyBytes) {
    return new Uint8Array(value.subarray(2));
  }
  return undefined;
}

function curveOfParams(value: Buffer): KeyCurve | undefined {
  const hex = value.toString('hex');
  return keyCurves.find((curve) => curveOidDer[curve] === hex);
}

const flag = (value: Buffer | undefined): boolean => value !== undefined && value[0] === 1;

// ---- the store --------------------------------------------------------------------------------

type Session = { readonly handle: Handle; readonly generation: number };

type KeyHandles = {
  readonly info: KeyInfo;
  readonly privateKey: Handle;
  readonly generation: number;
};

/**
 * Opens a PKCS#11 key store on the token labelled `tokenLabel`, logged in as the user.
 * Throws KEYSTORE_E_HSM_UNAVAILABLE, KEYSTORE_E_TOKEN_NOT_FOUND, KEYSTORE_E_PIN_WRONG,
 * KEYSTORE_E_PIN_LOCKED.
 */
export async function openPkcs11KeyStore(options: Pkcs11Options): Promise<Pkcs11KeyStore> {
  const sessions = options.sessions ?? sessionsMaxDefault;
  const operationTimeoutMs = options.operationTimeoutMs ?? operationTimeoutMsDefault;
  assert(
    Number.isSafeInteger(sessions) && sessions >= 1 && sessions <= sessionsMax,
    `sessions must be from 1 to ${sessionsMax}`,
  );
  assert(operationTimeoutMs > 0, 'operationTimeoutMs is positive');
  if (options.tokenLabel.length === 0 || options.tokenLabel.length > tokenLabelCharsMax) {
    throw cofferError(
      'KEYSTORE_E_TOKEN_NOT_FOUND',
      `a token label is 1 to ${tokenLabelCharsMax} characters, got ${JSON.stringify(options.tokenLabel)}`,
      { tokenLabel: options.tokenLabel },
    );
  }
  const pkcs11 = await loadNative();
  const module = acquireLibrary(pkcs11, options.library);
  const where = `token "${options.tokenLabel}" (${options.library})`;

  const hsmError = (cause: unknown, doing: string): CofferError => {
    if (isCofferError(cause)) return cause;
    const name = ckrName(cause) ?? (cause as Error).message;
    return cofferError(
      'KEYSTORE_E_HSM_UNAVAILABLE',
      `${where}: ${doing} failed with ${name}`,
      { ckr: name, tokenLabel: options.tokenLabel },
      cause,
    );
  };

  let slot: Handle;
  let model: string;
  try {
    const found = findSlot(module, options.tokenLabel);
    if (found === undefined) {
      const labels = module
        .C_GetSlotList(true)
        .map((each) => module.C_GetTokenInfo(each).label.trim());
      throw cofferError(
        'KEYSTORE_E_TOKEN_NOT_FOUND',
        `no token labelled "${options.tokenLabel}" in ${options.library} (tokens present: ${labels.length === 0 ? 'none' : labels.map((label) => `"${label}"`).join(', ')}); initialise one (softhsm2-util --init-token --free --label ${options.tokenLabel}) or fix keyStore.tokenLabel`,
        { tokenLabel: options.tokenLabel, present: labels },
      );
    }
    slot = found.slot;
    model = found.model;
  } catch (error) {
    releaseLibrary(options.library);
    throw hsmError(error, 'finding the token');
  }

  let generation = 0;
  const idle: Session[] = [];
  let open = 0;
  const waiters: ((session: Session | CofferError) => void)[] = [];
  const handles = new Map<string, KeyHandles>();
  const checkedSigners = new Map<string, { signer: Signer; generation: number }>();
  /** The pool generation in which each key's attributes were last checked. */
  const checkedGeneration = new Map<string, number>();
  let closed = false;
  let inFlight = 0;

  const openSession = (): Session => {
    const handle = module.C_OpenSession(slot, pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION);
    try {
      module.C_Login(handle, pkcs11.CKU_USER, options.pin);
    } catch (cause) {
      const name = ckrName(cause);
      if (name !== 'CKR_USER_ALREADY_LOGGED_IN') {
        module.C_CloseSession(handle);
        if (
          name === 'CKR_PIN_INCORRECT' ||
          name === 'CKR_PIN_INVALID' ||
          name === 'CKR_PIN_LEN_RANGE'
        ) {
          throw cofferError(
            'KEYSTORE_E_PIN_WRONG',
            `${where}: the user PIN is wrong (${name}); check the PIN file or variable (the token locks after too many tries)`,
            { tokenLabel: options.tokenLabel },
          );
        }
        if (name === 'CKR_PIN_LOCKED') {
          throw cofferError(
            'KEYSTORE_E_PIN_LOCKED',
            `${where}: the user PIN is locked after too many wrong tries; the token's security officer must unlock it`,
            { tokenLabel: options.tokenLabel },
          );
        }
        throw hsmError(cause, 'C_Login');
      }
    }
    open += 1;
    return { handle, generation };
  };

  const acquire = (): Promise<Session> => {
    if (closed) {
      return Promise.reject(
        cofferError('KEYSTORE_E_CLOSED', `the key store on ${where} is closed`),
      );
    }
    const free = idle.pop();
    if (free !== undefined) return Promise.resolve(free);
    if (open < sessions) {
      try {
        return Promise.resolve(openSession());
      } catch (error) {
        return Promise.reject(hsmError(error, 'C_OpenSession'));
      }
    }
    if (waiters.length >= sessionWaitersMax) {
      return Promise.reject(
        cofferError(
          'KEYSTORE_E_BUSY',
          `${where}: ${sessionWaitersMax} operations already wait for a session; retry later`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      waiters.push((session) => {
        if (session instanceof Error) reject(session);
        else resolve(session);
      });
    });
  };

  const release = (session: Session, healthy: boolean): void => {
    if (!healthy || session.generation !== generation || closed) {
      // A session of an older pool, or one abandoned mid-call, is not reused.
      open -= 1;
      try {
        if (healthy && !closed) module.C_CloseSession(session.handle);
      } catch {
        // already gone
      }
      const next = waiters.shift();
      if (next !== undefined) {
        acquire().then(next, (error: unknown) => {
          next(hsmError(error, 'C_OpenSession'));
        });
      }
      return;
    }
    const next = waiters.shift();
    if (next !== undefined) next(session);
    else idle.push(session);
  };

  /** Drops every session and cached handle: the next operation opens and logs in anew. */
  const rebuild = (lost: Session): void => {
    if (lost.generation !== generation) return; // someone else already rebuilt
    generation += 1;
    handles.clear();
    for (const session of idle.splice(0)) {
      open -= 1;
      try {
        module.C_CloseSession(session.handle);
      } catch {
        // the token already forgot it
      }
    }
  };

  const withTimeout = <T>(promise: Promise<T>, doing: string): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(
          cofferError(
            'KEYSTORE_E_HSM_UNAVAILABLE',
            `${where}: ${doing} did not answer within ${operationTimeoutMs} ms; check the HSM and its connection`,
            { tokenLabel: options.tokenLabel, timedOut: true },
          ),
        );
      }, operationTimeoutMs);
    });
    return Promise.race([promise, timeout]).finally(() => {
      clearTimeout(timer);
    });
  };

  /** Runs `operation` on a pooled session; on a lost session rebuilds the pool and retries once. */
  const withSession = async <T>(
    doing: string,
    operation: (session: Session) => Promise<T> | T,
  ): Promise<T> => {
    inFlight += 1;
    try {
      for (let attempt = 1; ; attempt += 1) {
        const session = await acquire();
        let healthy = true;
        try {
          const value = await withTimeout(
            Promise.resolve().then(() => operation(session)),
            doing,
          );
          return value;
        } catch (error) {
          const name = ckrName(error);
          if (name !== undefined && sessionLost.has(name)) {
            healthy = false;
            rebuild(session);
            if (attempt < 2) continue;
          }
          if (isCofferError(error) && error.details['timedOut'] === true) healthy = false;
          throw hsmError(error, doing);
        } finally {
          release(session, healthy);
        }
      }
    } finally {
      inFlight -= 1;
    }
  };

  const findObjects = (session: Session, template: Pkcs11Module.Template): Handle[] => {
    module.C_FindObjectsInit(session.handle, template);
    try {
      return module.C_FindObjects(session.handle, keysPerStoreMax);
    } finally {
      module.C_FindObjectsFinal(session.handle);
    }
  };

  const keyIdBytesOf = (keyId: string): Buffer | undefined =>
    /^[0-9a-f]+$/.test(keyId) && keyId.length % 2 === 0 && keyId.length <= 2 * keyIdBytesMax
      ? Buffer.from(keyId, 'hex')
      : undefined;

  /** The key's info and private handle, or undefined when the token holds no such EC key. */
  const lookUp = (session: Session, keyId: string): KeyHandles | undefined => {
    const cached = handles.get(keyId);
    if (cached !== undefined && cached.generation === generation) return cached;
    const id = keyIdBytesOf(keyId);
    if (id === undefined) return undefined;
    const [privateKey] = findObjects(session, [
      { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PRIVATE_KEY },
      { type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_EC },
      { type: pkcs11.CKA_ID, value: id },
    ]);
    const [publicKey] = findObjects(session, [
      { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PUBLIC_KEY },
      { type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_EC },
      { type: pkcs11.CKA_ID, value: id },
    ]);
    if (privateKey === undefined || publicKey === undefined) return undefined;
    const [params, point] = module.C_GetAttributeValue(session.handle, publicKey, [
      { type: pkcs11.CKA_EC_PARAMS },
      { type: pkcs11.CKA_EC_POINT },
    ]);
    const [label] = module.C_GetAttributeValue(session.handle, privateKey, [
      { type: pkcs11.CKA_LABEL },
    ]);
    const curve = params?.value === undefined ? undefined : curveOfParams(params.value);
    const bytes = point?.value === undefined ? undefined : pointOf(point.value);
    if (curve === undefined || bytes === undefined) {
      throw cofferError(
        'KEYSTORE_E_KEY_INVALID',
        `${where}: key ${keyId} is not an EC key on ${keyCurves.join(' or ')} with a readable public point`,
        { keyId },
      );
    }
    checkPublicKey(curve, bytes);
    const info: KeyInfo = {
      keyId,
      label: label?.value === undefined ? '' : label.value.toString('utf8'),
      curve,
      publicKey: toHex(bytes),
    };
    const found = { info, privateKey, generation };
    handles.set(keyId, found);
    return found;
  };

  const readAttributes = (session: Session, found: KeyHandles): KeyAttributes => {
    const names = [
      ['token', pkcs11.CKA_TOKEN],
      ['private', pkcs11.CKA_PRIVATE],
      ['sensitive', pkcs11.CKA_SENSITIVE],
      ['extractable', pkcs11.CKA_EXTRACTABLE],
      ['alwaysSensitive', pkcs11.CKA_ALWAYS_SENSITIVE],
      ['neverExtractable', pkcs11.CKA_NEVER_EXTRACTABLE],
      ['sign', pkcs11.CKA_SIGN],
    ] as const;
    const values = module.C_GetAttributeValue(
      session.handle,
      found.privateKey,
      names.map(([, type]) => ({ type })),
    );
    const read = (i: number) => flag(values[i]?.value);
    return {
      keyId: found.info.keyId,
      label: found.info.label,
      token: read(0),
      private: read(1),
      sensitive: read(2),
      extractable: read(3),
      alwaysSensitive: read(4),
      neverExtractable: read(5),
      sign: read(6),
    };
  };

  const notFound = (keyId: string) =>
    cofferError('KEYSTORE_E_KEY_NOT_FOUND', `${where} holds no EC key with id ${keyId}`, {
      keyId,
    });

  const attributes = (keyId: string): Promise<KeyAttributes> =>
    withSession('reading key attributes', (session) => {
      const found = lookUp(session, keyId);
      if (found === undefined) throw notFound(keyId);
      return readAttributes(session, found);
    });

  /** Refuses a key whose private half is, or ever was, readable outside the token. */
  const assertProtected = (found: KeyAttributes): void => {
    const shortfalls = attributeShortfalls(found);
    if (shortfalls.length > 0) {
      throw cofferError(
        'KEYSTORE_E_KEY_EXPORTABLE',
        `${where}: key ${found.keyId} (${found.label}) may have left the token (${shortfalls.join('; ')}); generate a new key on the token with coffer signer keygen`,
        { keyId: found.keyId, shortfalls },
      );
    }
  };

  const rawSigner =
    (keyId: string): Signer =>
    async (digest) => {
      checkDigest(digest);
      const { raw, curve } = await withSession('C_Sign', async (session) => {
        const found = lookUp(session, keyId);
        if (found === undefined) throw notFound(keyId);
        if (found.generation !== checkedGeneration.get(keyId)) {
          // After a rebuild the key is looked up anew: check again that it is the protected
          // key we checked before (a key swapped on the token under the same id is refused).
          assertProtected(readAttributes(session, found));
          checkedGeneration.set(keyId, found.generation);
        }
        module.C_SignInit(session.handle, { mechanism: pkcs11.CKM_ECDSA }, found.privateKey);
        const signature = await module.C_SignAsync(
          session.handle,
          Buffer.from(digest),
          Buffer.alloc(rawSignatureBytes),
        );
        return { raw: new Uint8Array(signature), curve: found.info.curve };
      });
      // CKM_ECDSA returns r‖s (§2.3.1) with whatever s the token drew; chains need low-S.
      return normaliseSignature(curve, raw);
    };
  const store: Pkcs11KeyStore = {
    kind: 'pkcs11',
    description: `PKCS#11 HSM token "${options.tokenLabel}" (${model.trim()}, ${options.library})`,
    token: { label: options.tokenLabel, library: options.library, model: model.trim() },
    attributes,
    generate: async ({ curve, label }) => {
      checkCurve(curve);
      checkLabel(label);
      const id = randomBytes(keyIdBytes);
      const keyId = id.toString('hex');
      await withSession('C_GenerateKeyPair', async (session) => {
        const common = [
          { type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_EC },
          { type: pkcs11.CKA_TOKEN, value: true },
          { type: pkcs11.CKA_LABEL, value: label },
          { type: pkcs11.CKA_ID, value: id },
        ];
        await module.C_GenerateKeyPairAsync(
          session.handle,
          { mechanism: pkcs11.CKM_EC_KEY_PAIR_GEN },
          [
            ...common,
            { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PUBLIC_KEY },
            { type: pkcs11.CKA_PRIVATE, value: false },
            { type: pkcs11.CKA_VERIFY, value: true },
            { type: pkcs11.CKA_EC_PARAMS, value: Buffer.from(curveOidDer[curve], 'hex') },
          ],
          [
            ...common,
            { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PRIVATE_KEY },
            { type: pkcs11.CKA_PRIVATE, value: true },
            { type: pkcs11.CKA_SENSITIVE, value: true },
            { type: pkcs11.CKA_EXTRACTABLE, value: false },
            { type: pkcs11.CKA_SIGN, value: true },
            { type: pkcs11.CKA_DERIVE, value: false },
          ],
        );
      });
      // Read back what the token made rather than trust the template: a module that ignores
      // CKA_SENSITIVE or CKA_EXTRACTABLE is caught here, before the key is ever used.
      await store.signer(keyId);
      const info = await store.key(keyId);
      assert(info !== undefined, 'a key just generated is found');
      return info;
    },
    list: () =>
      withSession('listing keys', (session) => {
        const found = findObjects(session, [
          { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PRIVATE_KEY },
          { type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_EC },
        ]);
        const keys: KeyInfo[] = [];
        for (const handle of found) {
          const [id] = module.C_GetAttributeValue(session.handle, handle, [
            { type: pkcs11.CKA_ID },
          ]);
          const keyId = id?.value === undefined ? '' : id.value.toString('hex');
          if (keyId.length === 0) continue;
          try {
            const key = lookUp(session, keyId);
            if (key !== undefined) keys.push(key.info);
          } catch (error) {
            // A key on another curve, or without its public half, is not one of ours to list.
            if (!isCofferError(error, 'KEYSTORE_E_KEY_INVALID')) throw error;
          }
        }
        return keys;
      }),
    key: (keyId) =>
      withSession('finding a key', (session) => {
        try {
          return lookUp(session, keyId)?.info;
        } catch (error) {
          if (isCofferError(error, 'KEYSTORE_E_KEY_INVALID')) return undefined;
          throw error;
        }
      }),
    signer: async (keyId) => {
      const known = checkedSigners.get(keyId);
      if (known !== undefined && known.generation === generation) return known.signer;
      const found = await withSession('checking a key', (session) => {
        const key = lookUp(session, keyId);
        if (key === undefined) throw notFound(keyId);
        assertProtected(readAttributes(session, key));
        checkedGeneration.set(keyId, key.generation);
        return key;
      });
      const signer = rawSigner(keyId);
      await knownAnswerCheck(signer, found.info);
      checkedSigners.set(keyId, { signer, generation: found.generation });
      return signer;
    },
    close: async () => {
      if (closed) return;
      closed = true;
      for (const waiter of waiters.splice(0)) {
        waiter(cofferError('KEYSTORE_E_CLOSED', `the key store on ${where} is closed`));
      }
      // Operations in flight finish (or time out) before the sessions go.
      for (let waited = 0; inFlight > 0 && waited < operationTimeoutMs; waited += 10) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      for (const session of idle.splice(0)) {
        try {
          module.C_CloseSession(session.handle);
        } catch {
          // gone already
        }
      }
      releaseLibrary(options.library);
    },
  };
  return store;
}

function findSlot(module: Module, label: string): { slot: Handle; model: string } | undefined {
  for (const slot of module.C_GetSlotList(true)) {
    const info = module.C_GetTokenInfo(slot);
    if (info.label.trim() === label) return { slot, model: info.model };
  }
  return undefined;
}

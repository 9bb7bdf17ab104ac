// Execution of an ordered batch: a pure function of (state, batch, consortium configuration,
// apps). Every node runs it on every batch and must reach the same outcomes and write sets:
// no clock but the batch time, no randomness, no IO. A failed check makes an invalid
// transaction with its registry code; it never stops the batch.
import { cofferError, isCofferError, type CofferError, type ErrorCode } from '../errors/index.js';
import {
  openAppHost,
  type ActionContext,
  type AppHost,
  type AppRegistry,
  type Caller,
  type KvWriter,
} from '../contracts/index.js';
import { pemCertificateRef, type Identity, type Msp } from '../msp/index.js';
import type { ReplayWindow } from './replay.js';
import type { WriteSet } from './store.js';
import {
  decodeRequest,
  envelopeFromJson,
  requestTtlMsMax,
  transactionId,
  type Envelope,
  type RawBatch,
  type Request,
} from './tx.js';

/** Certificates of signers, by reference (SHA-256 of the DER as sent): sent once, then referenced. */
export const certsMap = 'public:coffer.certs';
/** Bytes of an app result kept in the ledger. */
export const resultBytesMax = 64 * 1024;

/** What execution needs of the KV store (src/ledger/store.ts provides it). */
export type ExecutionStore = {
  readonly read: (map: string, key: string) => string | undefined;
  readonly begin: () => {
    readonly get: (map: string, key: string) => string | undefined;
    readonly put: (map: string, key: string, value: string) => void;
    readonly delete: (map: string, key: string) => void;
    readonly writeSet: () => WriteSet;
  };
  readonly apply: (writeSet: WriteSet, seqno: number) => void;
};

/** The consortium configuration in force at a ledger position. */
export type Consortium = {
  readonly msps: ReadonlyMap<string, Msp>;
  /** Largest request in bytes (governed settings; at most requestBytesMax); unset: that. */
  readonly requestBytesMax?: number;
};

/** A request larger than the consortium in force allows; undefined when it fits. */
export function requestTooLarge(
  consortium: Consortium,
  request: Uint8Array,
): CofferError | undefined {
  const max = consortium.requestBytesMax;
  if (max === undefined || request.byteLength <= max) return undefined;
  return cofferError(
    'TX_E_TOO_LARGE',
    `the request is ${request.byteLength} bytes; the consortium's settings allow ${max}`,
    { bytes: request.byteLength, requestBytesMax: max },
  );
}

export type TxOutcome = {
  readonly seqno: number;
  /** Null only when the envelope itself was unreadable. */
  readonly txId: string | null;
  readonly status: 'committed' | 'invalid';
  readonly code?: ErrorCode;
  readonly message?: string;
  readonly result?: unknown;
  readonly signer?: { readonly mspId: string; readonly identityId: string };
  readonly app?: string;
  readonly action?: string;
  /** The envelope exactly as ordered, so anyone can re-check who signed what. */
  readonly envelope: unknown;
  readonly writeSet: WriteSet;
};

export type BatchInput = {
  readonly store: ExecutionStore;
  readonly replay: ReplayWindow;
  readonly batch: RawBatch;
  /** Seqno of the batch's first transaction. */
  readonly firstSeqno: number;
  /** Time of the previous batch: batch time never goes backwards on any node. */
  readonly previousTime: number;
  readonly consortium: Consortium;
  readonly apps: AppRegistry;
  /**
   * Transactions whose signature this node verified when the request arrived, by id, with the
   * request decoded then (the id is the hash of the request bytes, so it is the same request)
   * and the signature verified. Not state: it only saves work; a node without it verifies
   * everything and reaches the same result.
   */
  readonly preVerified: ReadonlyMap<string, PreVerified>;
  /** The batch's ordering log position (apps see it as `context.block`). */
  readonly position?: number;
};

/** A request as this node decoded it and the signature over it it verified, on arrival. */
export type PreVerified = { readonly request: Request; readonly signature: Uint8Array };

/**
 * Whether `envelope`'s signature is the one verified on arrival. Ordered envelopes come from
 * any node: one with the same request and another signature (a faulty or hostile node's) is
 * verified again, or this node alone would take an invalid signature as valid.
 */
function verifiedOnArrival(pre: PreVerified | undefined, envelope: Envelope): boolean {
  return pre !== undefined && Buffer.compare(pre.signature, envelope.signature) === 0;
}

/** A certificate the ledger knows, as a valid identity of its MSP in force (ActionContext.identityOf). */
function identityOfCert(input: BatchInput, mspId: string, certId: string): Caller | undefined {
  const msp = input.consortium.msps.get(mspId);
  const pem = input.store.read(certsMap, certId);
  if (msp === undefined || pem === undefined) return undefined;
  const identity = msp.deserializeIdentity(mspId, pem);
  if (!identity.ok) return undefined;
  const validation = msp.validate(identity.identity);
  return validation.valid ? callerOfIdentity(msp, identity.identity, validation.role) : undefined;
}

export type BatchOutput = { readonly outcomes: readonly TxOutcome[]; readonly time: number };

class Invalid extends Error {
  constructor(readonly error: CofferError) {
    super(error.message);
  }
}

function refuse(code: ErrorCode, message: string, details: Record<string, unknown> = {}): never {
  throw new Invalid(cofferError(code, message, details));
}

/** The maps an app may read and write: `<app>.*` (private) and `public:<app>.*`. */
export function appOwns(app: string, map: string): boolean {
  return map.startsWith(`${app}.`) || map.startsWith(`public:${app}.`);
}

type Checked = {
  request: Request;
  msp: Msp;
  identity: Identity;
  caller: Caller;
  endorsers: readonly Caller[];
  certPem: string;
  certKnown: boolean;
};

/** Identity, signature, freshness and replay checks, in the order every node applies them. */
function check(input: BatchInput, time: number, envelope: Envelope, txId: string): Checked {
  const tooLarge = requestTooLarge(input.consortium, envelope.request);
  if (tooLarge !== undefined) throw new Invalid(tooLarge);
  const pre = input.preVerified.get(txId);
  let request = pre?.request;
  try {
    request ??= decodeRequest(envelope.request);
  } catch (error) {
    if (isCofferError(error)) throw new Invalid(error);
    throw error;
  }
  if (request.expiresAt <= time) {
    refuse(
      'TX_E_EXPIRED',
      `request ${txId.slice(0, 16)}… expired at ${request.expiresAt}, before batch time ${time}`,
    );
  }
  if (request.expiresAt > time + requestTtlMsMax) {
    refuse(
      'TX_E_EXPIRY_TOO_FAR',
      `request expiresAt ${request.expiresAt} is more than ${requestTtlMsMax} ms after batch time ${time}`,
    );
  }
  if (input.replay.has(txId)) refuse('TX_E_REPLAY', `transaction ${txId} was already submitted`);
  const signer = checkSigner(
    input.consortium,
    input.store.read,
    request,
    envelope,
    !verifiedOnArrival(pre, envelope),
  );
  if (!signer.ok) throw new Invalid(signer.error);
  const endorsers = checkEndorsements(input.consortium, envelope, signer.caller);
  if (!endorsers.ok) throw new Invalid(endorsers.error);
  return { request, ...signer, endorsers: endorsers.endorsers };
}

/**
 * What apps see of a valid identity of `msp`: its MSP, identity id, NodeOU role, and whether it
 * satisfies the MSP's ADMIN principal. Signers, endorsers and API callers alike.
 */
export function callerOfIdentity(msp: Msp, identity: Identity, role: Caller['role']): Caller {
  return {
    mspId: msp.mspId,
    identityId: identity.id,
    role,
    isAdmin: msp.satisfiesPrincipal(identity, { type: 'ROLE', mspId: msp.mspId, role: 'ADMIN' })
      .satisfied,
  };
}

/**
 * Endorsements: each a valid identity of a member MSP whose signature verifies over the request
 * bytes; no identity twice, and not the signer's own. Always verified here (the node's
 * pre-check verifies only the signer's signature).
 */
export function checkEndorsements(
  consortium: Consortium,
  envelope: Envelope,
  signer: Caller,
):
  | { readonly ok: true; readonly endorsers: Caller[] }
  | { readonly ok: false; readonly error: CofferError } {
  const endorsers: Caller[] = [];
  const seen = new Set<string>([`${signer.mspId}:${signer.identityId}`]);
  for (const [index, endorsement] of (envelope.endorsements ?? []).entries()) {
    const bad = (why: string) => ({
      ok: false as const,
      error: cofferError(
        'TX_E_ENDORSEMENT_INVALID',
        `endorsement ${index} (${endorsement.mspId}): ${why}`,
        {
          index,
          mspId: endorsement.mspId,
        },
      ),
    });
    const msp = consortium.msps.get(endorsement.mspId);
    if (msp === undefined) return bad('not a member MSP of the consortium');
    const identity = msp.deserializeIdentity(endorsement.mspId, endorsement.cert);
    if (!identity.ok) return bad(identity.error.message);
    const validation = msp.validate(identity.identity);
    if (!validation.valid) return bad(validation.error.message);
    const key = `${endorsement.mspId}:${identity.identity.id}`;
    if (seen.has(key)) return bad('this identity already signed the request');
    seen.add(key);
    const verified = msp.verify(identity.identity, envelope.request, endorsement.signature);
    if (!verified.ok) return bad(verified.error.message);
    endorsers.push(callerOfIdentity(msp, identity.identity, validation.role));
  }
  return { ok: true, endorsers };
}

export type SignerCheck =
  | {
      readonly ok: true;
      readonly msp: Msp;
      readonly identity: Identity;
      readonly caller: Caller;
      readonly certPem: string;
      /** The certificate was already in the ledger's certificates map. */
      readonly certKnown: boolean;
    }
  | { readonly ok: false; readonly error: CofferError };

/**
 * The signer checks, in the order every node applies them: member MSP, certificate (sent or
 * known to the ledger) matching the request's reference, identity valid in its MSP, and — unless
 * this node already checked it — the signature. Execution and the node's pre-check both use it.
 */
export function checkSigner(
  consortium: Consortium,
  read: ExecutionStore['read'],
  request: Request,
  envelope: Envelope,
  verifySignature: boolean,
): SignerCheck {
  const refused = (
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
  ): SignerCheck => ({
    ok: false,
    error: cofferError(code, message, details),
  });
  const { mspId, certId } = request.signer;
  const msp = consortium.msps.get(mspId);
  if (msp === undefined)
    return refused('TX_E_UNKNOWN_MSP', `MSP ${mspId} is not a member of the consortium`, { mspId });
  const knownPem = read(certsMap, certId);
  const certPem = envelope.cert ?? knownPem;
  if (certPem === undefined) {
    return refused(
      'TX_E_UNKNOWN_CERT',
      `certificate ${certId.slice(0, 16)}… is not known to the ledger and was not sent`,
    );
  }
  const sentRef = pemCertificateRef(certPem);
  if (sentRef !== certId) {
    return refused(
      'TX_E_CERT_MISMATCH',
      `the certificate sent has reference ${String(sentRef)}, the request names ${certId}`,
    );
  }
  const identity = msp.deserializeIdentity(mspId, certPem);
  if (!identity.ok) return { ok: false, error: identity.error };
  const validation = msp.validate(identity.identity);
  if (!validation.valid) return { ok: false, error: validation.error };
  if (verifySignature) {
    const signature = msp.verify(identity.identity, envelope.request, envelope.signature);
    if (!signature.ok) return { ok: false, error: signature.error };
  }
  const caller = callerOfIdentity(msp, identity.identity, validation.role);
  return {
    ok: true,
    msp,
    identity: identity.identity,
    caller,
    certPem,
    certKnown: knownPem !== undefined,
  };
}

type KvTx = Pick<KvWriter, 'get' | 'put' | 'delete'>;

/** Writes buffered over a transaction, kept only on commit: a nested app call that fails. */
function overlayOf(base: KvTx): KvTx & { readonly commit: () => void } {
  const writes = new Map<string, { map: string; key: string; value: string | null }>();
  const id = (map: string, key: string): string => JSON.stringify([map, key]);
  return {
    get: (map, key) => {
      const write = writes.get(id(map, key));
      return write === undefined ? base.get(map, key) : (write.value ?? undefined);
    },
    put: (map, key, value) => writes.set(id(map, key), { map, key, value }),
    delete: (map, key) => writes.set(id(map, key), { map, key, value: null }),
    commit: () => {
      for (const { map, key, value } of writes.values()) {
        if (value === null) base.delete(map, key);
        else base.put(map, key, value);
      }
    },
  };
}

/** An app's view of a transaction: only its own maps, any public map read-only. */
function guardedKv(appName: string, tx: KvTx): KvWriter {
  const guard = (map: string): void => {
    if (!appOwns(appName, map)) {
      refuse('APP_E_FAILED', `app ${appName} touched map ${map}, which it does not own`);
    }
  };
  return {
    get: (map, key) => {
      guard(map);
      return tx.get(map, key);
    },
    put: (map, key, value) => {
      guard(map);
      tx.put(map, key, value);
    },
    delete: (map, key) => {
      guard(map);
      tx.delete(map, key);
    },
  };
}

/** An app failure as the transaction's outcome: app codes are kept, anything else is a bug. */
function asInvalid(error: unknown, where: string): Invalid {
  if (error instanceof Invalid) return error;
  if (isCofferError(error) && /^(APP|TOKEN|STORE|ORACLE|GOV|CUSTODY|EVM)_E_/.test(error.code)) {
    return new Invalid(error);
  }
  // Anything else is a bug in the app; deterministic, so every node records the same.
  return new Invalid(
    cofferError(
      'APP_E_FAILED',
      `${where} failed: ${error instanceof Error ? error.message : String(error)}`,
    ),
  );
}

/** One app call, without the envelope checks: what execution and the local harness share. */
export type AppCall = {
  readonly app: string;
  readonly action: string;
  readonly args: Readonly<Record<string, unknown>>;
  readonly caller: Caller;
  /** Co-signers of the request (envelope endorsements). */
  readonly endorsers?: readonly Caller[];
  readonly txId: string;
  readonly time: number;
  /** Batch execution: the batch's ordering log position, and identities at this position. */
  readonly block?: number;
  readonly identityOf?: ActionContext['identityOf'];
};

/**
 * Runs one app action in a new store transaction and returns its result and write set (not
 * applied). Throws the CofferError that makes the transaction invalid. `host` resolves app
 * names, installed apps from the store as it is now (decision 0014).
 */
export function runCall(
  store: ExecutionStore,
  host: AppHost,
  call: AppCall,
  extraWrites?: (tx: KvTx) => void,
): { result: unknown; writeSet: WriteSet } {
  try {
    const ran = runCallOrRefuse(store, host, call, extraWrites);
    if (ran instanceof Promise) {
      // Not awaited: its store transaction is dropped with it.
      ran.catch(() => undefined);
      throw cofferError(
        'APP_E_FAILED',
        `${call.app}/${call.action} is asynchronous: it runs only in batch execution (executeBatch), not through runCall`,
      );
    }
    return ran;
  } catch (error) {
    if (error instanceof Invalid) throw error.error;
    throw error;
  }
}

type Ran = { result: unknown; writeSet: WriteSet };

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * Runs the action; an action that returns a promise (decision 0025) makes this return a
 * promise of the same outcome, which execution awaits before the next transaction.
 */
function runCallOrRefuse(
  store: ExecutionStore,
  host: AppHost,
  call: AppCall,
  extraWrites?: (tx: KvTx) => void,
): Ran | Promise<Ran> {
  const { caller, txId, time } = call;
  const app = host.resolve(call.app, store.read);
  const action = app?.actions[call.action];
  if (app === undefined || action === undefined || !Object.hasOwn(app.actions, call.action)) {
    refuse('TX_E_UNKNOWN_APP', `no action ${call.app}/${call.action} is installed`);
  }
  const tx = store.begin();
  const readPublic = (map: string, key: string): string | undefined => {
    if (!map.startsWith('public:')) refuse('APP_E_FAILED', `map ${map} is not public`);
    return tx.get(map, key);
  };
  // One app may run another's action in the same transaction (oracle triggers).
  const invoke = (
    target: string,
    targetAction: string,
    args: Readonly<Record<string, unknown>>,
    trigger: string,
  ): unknown => {
    const other = host.resolve(target, store.read);
    const handler = other?.actions[targetAction];
    if (
      other === undefined ||
      handler === undefined ||
      !Object.hasOwn(other.actions, targetAction)
    ) {
      throw cofferError('TX_E_UNKNOWN_APP', `no action ${target}/${targetAction} is installed`);
    }
    const overlay = overlayOf(tx);
    try {
      const result = handler.run(
        { caller, txId, time, kv: guardedKv(other.name, overlay), readPublic, trigger },
        args,
      );
      if (isThenable(result)) {
        Promise.resolve(result).catch(() => undefined);
        refuse(
          'APP_E_FAILED',
          `${target}/${targetAction} is asynchronous; an app may invoke only synchronous actions`,
        );
      }
      overlay.commit();
      return result;
    } catch (error) {
      throw asInvalid(error, `${target}/${targetAction}`).error;
    }
  };
  const context: ActionContext = {
    caller,
    ...(call.endorsers === undefined || call.endorsers.length === 0
      ? {}
      : { endorsers: call.endorsers }),
    txId,
    time,
    kv: guardedKv(app.name, tx),
    readPublic,
    invoke,
    ...(call.block === undefined ? {} : { block: call.block }),
    ...(call.identityOf === undefined ? {} : { identityOf: call.identityOf }),
  };
  let result: unknown;
  try {
    result = action.run(context, call.args);
  } catch (error) {
    throw asInvalid(error, `${app.name}/${call.action}`);
  }
  const finish = (value: unknown): Ran => {
    const encoded = JSON.stringify(value ?? null);
    if (encoded.length > resultBytesMax) {
      refuse(
        'APP_E_FAILED',
        `${app.name}/${call.action} returned ${encoded.length} bytes; at most ${resultBytesMax}`,
      );
    }
    extraWrites?.(tx);
    return { result: JSON.parse(encoded) as unknown, writeSet: tx.writeSet() };
  };
  if (isThenable(result)) {
    const pending = result;
    return (async () => {
      let value: unknown;
      try {
        value = await pending;
      } catch (error) {
        throw asInvalid(error, `${app.name}/${call.action}`);
      }
      return finish(value);
    })();
  }
  return finish(result);
}

function runApp(
  input: BatchInput,
  host: AppHost,
  time: number,
  txId: string,
  checked: Checked,
): Ran | Promise<Ran> {
  const { request, caller, endorsers } = checked;
  return runCallOrRefuse(
    input.store,
    host,
    {
      app: request.app,
      action: request.action,
      args: request.args,
      caller,
      endorsers,
      txId,
      time,
      ...(input.position === undefined ? {} : { block: input.position }),
      identityOf: (mspId, certId) => identityOfCert(input, mspId, certId),
    },
    (tx) => {
      if (!checked.certKnown) tx.put(certsMap, request.signer.certId, checked.certPem);
    },
  );
}

/**
 * Executes one ordered batch, applying each committed transaction's writes to the store before
 * the next runs. An asynchronous action (decision 0025) is awaited in its place: the order, and
 * the state each transaction sees, are those of a synchronous run.
 */
export async function executeBatch(input: BatchInput): Promise<BatchOutput> {
  const time = Math.max(input.previousTime, input.batch.time);
  input.replay.prune(time);
  const outcomes: TxOutcome[] = [];
  // Sandboxed apps' VMs live for this batch only: every node runs the same batch from the same
  // state, so what a reused VM has seen is the same everywhere (decision 0014).
  const host = openAppHost(input.apps, 'execution');
  try {
    await executeEach(input, host, time, outcomes);
  } finally {
    host.close();
  }
  return { outcomes, time };
}

async function executeEach(
  input: BatchInput,
  host: AppHost,
  time: number,
  outcomes: TxOutcome[],
): Promise<void> {
  for (const [index, raw] of input.batch.envelopes.entries()) {
    const seqno = input.firstSeqno + index;
    let envelope: Envelope;
    try {
      envelope = envelopeFromJson(raw);
    } catch (error) {
      if (!isCofferError(error)) throw error;
      outcomes.push({
        seqno,
        txId: null,
        status: 'invalid',
        code: error.code,
        message: error.message,
        envelope: raw,
        writeSet: [],
      });
      continue;
    }
    const txId = transactionId(envelope.request);
    let checked: Checked | undefined;
    try {
      checked = check(input, time, envelope, txId);
      // A request that passed its signature check can never be replayed, whatever the app says.
      if (!input.replay.add(txId, checked.request.expiresAt)) {
        refuse('TX_E_REPLAY', 'the replay window is full; retry shortly');
      }
      const ran = runApp(input, host, time, txId, checked);
      // Only an asynchronous action yields here; a synchronous batch runs without a break.
      const { result, writeSet } = ran instanceof Promise ? await ran : ran;
      input.store.apply(writeSet, seqno);
      outcomes.push({
        seqno,
        txId,
        status: 'committed',
        result,
        signer: { mspId: checked.caller.mspId, identityId: checked.caller.identityId },
        app: checked.request.app,
        action: checked.request.action,
        envelope: raw,
        writeSet,
      });
    } catch (error) {
      if (!(error instanceof Invalid)) throw error;
      outcomes.push({
        seqno,
        txId,
        status: 'invalid',
        code: error.error.code,
        message: error.error.message,
        ...(checked === undefined
          ? {}
          : {
              signer: { mspId: checked.caller.mspId, identityId: checked.caller.identityId },
              app: checked.request.app,
              action: checked.request.action,
            }),
        envelope: raw,
        writeSet: [],
      });
    }
  }
}

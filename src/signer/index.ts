// Public surface of the signer: the isolated service that holds the HSM session and signs a
// withdrawal digest only when a ledger receipt proves the consortium approved exactly it
// (decision 0020). `startSigner` wires config → MSPs (reloaded when their folders change) → key
// store → audit log (rotated by size) → HTTPS server.
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import {
  openPkcs11KeyStore,
  openSoftKeyStore,
  passphraseBytesMax,
  readPin,
  readSecretFile,
  type KeyStore,
} from '../crypto/index.js';
import { cofferError, isCofferError } from '../errors/index.js';
import { openAuditLog } from './audit.js';
import type { KeyStoreConfig, SignerConfig } from './config.js';
import { createSignerServer } from './server.js';
import { openConsortiumTrust, type ConsortiumTrust } from './trust.js';

export type { WithdrawalApproval, SignRequest } from './approval.js';
export {
  approvedState,
  checkApproval,
  txIdOfEntry,
  withdrawalApprovalOf,
  withdrawalsMap,
} from './approval.js';
export type { AuditLog, AuditLogOptions, AuditRecord, AuditVerification } from './audit.js';
export {
  auditLineBytesMax,
  auditLogBytesMaxDefault,
  auditSegmentName,
  auditSegmentsOf,
  openAuditLog,
  verifyAuditFiles,
  verifyAuditLog,
  verifyAuditLogFiles,
} from './audit.js';
export type { AuthorisedCaller, CallerRole, KeyStoreConfig, SignerConfig } from './config.js';
export {
  auditLogBytesMaxLimit,
  auditLogBytesMaxMin,
  authorisedCallersMax,
  clockSkewMsMax,
  connectionsHardMargin,
  connectionsMaxDefault,
  connectionsMaxLimit,
  consortiumMspsMax,
  idCharsMax,
  keyIdCharsMax,
  listenHostDefault,
  listenPortDefault,
  majorityOf,
  mspReloadIntervalMsDefault,
  mspReloadIntervalMsMax,
  mspReloadIntervalMsMin,
  parseSignerConfig,
  readSignerConfig,
  receiptAgeMsMaxDefault,
  receiptBytesMax,
  requestsInFlightMaxDefault,
  signRequestBytesMax,
} from './config.js';
export type { ApprovalContext, Approved, SignerCaller, TlsPeer } from './decide.js';
export { approveSignRequest, identifyCaller, isAuthorised } from './decide.js';
export type { SignerServer, SignerServerOptions, SignerTimeouts, SignResponse } from './server.js';
export {
  createSignerServer,
  identityTrustOf,
  parseSignBody,
  signerApiVersion,
  signerTimeoutsDefault,
} from './server.js';
export type { ConsortiumTrust, TrustFailure, TrustOptions, TrustStatus } from './trust.js';
export { fixedTrust, folderFingerprint, loadConsortiumMsps, openConsortiumTrust } from './trust.js';

/** Opens the configured key store; `create` makes a missing software store (keygen). */
export async function openConfiguredKeyStore(
  config: KeyStoreConfig,
  options: { readonly create?: boolean; readonly kdfLog2N?: number } = {},
): Promise<KeyStore> {
  if (config.kind === 'pkcs11') {
    return openPkcs11KeyStore({
      library: config.library,
      tokenLabel: config.tokenLabel,
      pin: await readPin(config.pin),
      ...(config.sessions === undefined ? {} : { sessions: config.sessions }),
    });
  }
  return openSoftKeyStore({
    file: config.file,
    passphrase: await readSecretFile(config.passphraseFile, passphraseBytesMax, 'passphrase'),
    ...(options.create === true ? { create: true } : {}),
    ...(options.kdfLog2N === undefined ? {} : { kdfLog2N: options.kdfLog2N }),
  });
}

/** Key ids that passed the start-up checks, and those refused with their code. */
export type KeyCheck = { readonly keyId: string; readonly ok: boolean; readonly code?: string };

/**
 * Start-up checks of every key (STYLE.md 13): on PKCS#11 its attributes (sensitive, never
 * extractable) and a known-answer signature. A refused key is logged and stays refused for
 * requests; the signer still serves the others.
 */
export async function checkKeys(keyStore: KeyStore, logger: Logger): Promise<KeyCheck[]> {
  const results: KeyCheck[] = [];
  for (const key of await keyStore.list()) {
    try {
      await keyStore.signer(key.keyId);
      results.push({ keyId: key.keyId, ok: true });
      logger.info({ keyId: key.keyId, curve: key.curve, label: key.label }, 'platform key checked');
    } catch (error) {
      if (!isCofferError(error)) throw error;
      results.push({ keyId: key.keyId, ok: false, code: error.code });
      logger.error(
        { keyId: key.keyId, code: error.code, reason: error.message },
        'platform key refused: the signer will not sign with it',
      );
    }
  }
  if (results.length === 0) {
    logger.warn('the key store holds no platform key yet: create one with coffer signer keygen');
  }
  return results;
}

export type RunningSigner = {
  readonly url: string;
  readonly keyStore: KeyStore;
  readonly keys: readonly KeyCheck[];
  readonly stop: () => Promise<void>;
};

/** Starts the signer from its configuration; resolves once it listens. */
export async function startSigner(
  config: SignerConfig,
  logger: Logger,
  clock: () => number = () => Date.now(),
): Promise<RunningSigner> {
  const trust = await openConsortiumTrust(config.consortium, {
    logger,
    reloadIntervalMs: config.mspReloadIntervalMs,
    clock,
  });
  try {
    return await startWithTrust(config, logger, clock, trust);
  } catch (error) {
    trust.close();
    throw error;
  }
}

async function startWithTrust(
  config: SignerConfig,
  logger: Logger,
  clock: () => number,
  trust: ConsortiumTrust,
): Promise<RunningSigner> {
  let cert: string;
  let key: string;
  try {
    [cert, key] = await Promise.all([
      readFile(config.tls.certFile, 'utf8'),
      readFile(config.tls.keyFile, 'utf8'),
    ]);
  } catch (cause) {
    throw cofferError(
      'SIGNER_E_CONFIG_INVALID',
      `signer config: tls.certFile or tls.keyFile cannot be read (${(cause as NodeJS.ErrnoException).code ?? 'unknown'})`,
      { field: 'tls' },
      cause,
    );
  }
  const keyStore = await openConfiguredKeyStore(config.keyStore);
  try {
    if (keyStore.kind === 'software') {
      logger.warn(
        { keyStore: keyStore.description },
        'platform keys are in a software key store (not an HSM): for development only',
      );
    }
    const keys = await checkKeys(keyStore, logger);
    if (config.listen.host === '0.0.0.0' || config.listen.host === '::') {
      logger.warn(
        { host: config.listen.host },
        'the signer listens on every interface: bind it to the address of its own network (README, Signer isolation)',
      );
    }
    const audit = await openAuditLog(config.auditLog, clock, {
      bytesMax: config.auditLogBytesMax,
    });
    const server = await createSignerServer({
      config,
      msps: trust,
      keyStore,
      audit,
      logger,
      tls: { cert, key },
      clock,
    });
    let url: string;
    try {
      url = await server.listen(config.listen.host, config.listen.port);
    } catch (error) {
      await audit.close();
      throw error;
    }
    await audit.append({ event: 'started', url, keyStore: keyStore.description });
    logger.info(
      {
        url,
        keyStore: keyStore.description,
        organisationsMin: config.organisationsMin,
        mspReloadIntervalMs: config.mspReloadIntervalMs,
        auditLogBytesMax: config.auditLogBytesMax,
      },
      'signer listening',
    );
    return {
      url,
      keyStore,
      keys,
      stop: async () => {
        trust.close();
        await server.close();
        await audit.append({ event: 'stopped' }).catch(() => undefined);
        await audit.close();
        await keyStore.close();
      },
    };
  } catch (error) {
    await keyStore.close();
    throw error;
  }
}

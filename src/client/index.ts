// Public surface of the client SDK.
export type { Client, ClientOptions, TxResult } from './client.js';
export { clientSocketsMax, clientTimeoutMsDefault, createClient } from './client.js';
export type { EnvelopeOptions, SignedEnvelope } from './envelope.js';
export { endorseEnvelope, requestTtlMsDefault, signEnvelope } from './envelope.js';
export type { ClientIdentity, Signer } from './signer.js';
export { clientIdentity, identityFromMspFolder, privateKeySigner, sha256Digest } from './signer.js';
export * from './custody.js';
export { bindEthereumAccount, ethereumBindingMessage, evmChainId } from './evm.js';

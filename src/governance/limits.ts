// Limits of the governance domain (STYLE.md 5). Each one decides whether a transaction is
// valid, so they are constants, the same on every node, never configuration.
import assert from 'node:assert/strict';

/** Organisations with an MSP definition in the configuration. */
export const mspsMax: number = 16;
/** Member organisations (whose admins vote); at most one ballot each per proposal. */
export const membersMax: number = mspsMax;
/** Nodes ever admitted (retired ones included: their ids stay taken). */
export const nodesMax: number = 256;
/** Allowed code ids. */
export const codesMax: number = 64;
/** Actions in one proposal. */
export const proposalActionsMax: number = 32;
/**
 * Canonical JSON bytes of a proposal's actions. A proposal arrives in one signed request,
 * which the ledger bounds to 64 KiB (requestBytesMax); the test keeps the two in step.
 */
export const proposalBytesMax: number = 60 * 1024;
/** Bytes of one MSP definition (canonical JSON), at genesis as in a set_msp action. */
export const mspDefinitionBytesMax: number = proposalBytesMax;
/**
 * Bytes of one stored configuration value: every MSP definition lives under one key, so the
 * sum must fit the store's value limit (valueBytesMax, 1 MiB; the test keeps them in step).
 */
export const configValueBytesMax: number = 1024 * 1024;
/** Open proposals at once; a new one is refused beyond (expired ones are swept first). */
export const openProposalsMax: number = 64;
/** Proposals the `proposals` query can list: the most recent ones, newest first. */
export const recentProposalsMax: number = 256;
/** Characters of a node's URL (https://host:port). */
export const nodeUrlCharsMax: number = 256;
/** Characters of an MSP ID, node id or app name. */
export const idCharsMax: number = 64;
/** Bytes of a policy constitution's text. */
export const constitutionPolicyBytesMax: number = 4 * 1024;
/** Bytes of a JavaScript constitution's source (the sandbox's own code limit is 48 KiB). */
export const constitutionSourceBytesMax: number = 48 * 1024;
/** Bytes of the custody parameters (canonical JSON). */
export const custodyBytesMax: number = 16 * 1024;
/** Shortest and longest proposal lifetime (settings.proposalTtlMs and expiresInMs). */
export const proposalTtlMsMin: number = 1_000;
export const proposalTtlMsMax: number = 90 * 24 * 3600 * 1000;
/**
 * Smallest settings.requestBytesMax: a set_settings proposal that raises it again always fits,
 * so the members can never lock themselves out.
 */
export const requestBytesMaxMin: number = 4 * 1024;
/** Bounds of the service settings. */
export const signatureIntervalTxMax: number = 1_000_000;
export const signatureIntervalMsMax: number = 3_600_000;
export const snapshotIntervalTxMax: number = 100_000_000;

assert(membersMax <= mspsMax, 'a member has an MSP definition');
assert(mspsMax * mspDefinitionBytesMax <= configValueBytesMax, 'every definition fits one value');
assert(proposalBytesMax <= configValueBytesMax, 'a proposal fits one stored value');
assert(openProposalsMax <= recentProposalsMax, 'every open proposal can be listed');
assert(proposalTtlMsMin <= proposalTtlMsMax);
/** Join requests recorded at once (one per node id; a later request replaces it). */
export const joinRequestsMax: number = 64;
/** Longest attestation evidence in a join request, in base64 characters. */
export const joinEvidenceCharsMax: number = 16 * 1024;

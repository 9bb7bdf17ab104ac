// A constitution written in JavaScript (CCF's model): a CommonJS module stored in the
// configuration and run in the contracts sandbox (QuickJS, decision 0014) with the same
// deterministic limits as apps. It exports `resolve(input)` → 'Open' | 'Accepted' |
// 'Rejected', and may export `validate(input)`, which refuses a proposal by calling
// `fail(code, message)` of `@coffer/app`. `input` is `{proposal, members}` (the proposal with
// its actions and ballots, the member MSP IDs). The module sees no state: its host reads nothing
// and refuses writes. Applying actions stays the built-in, checked `apply` (actions.ts).
import { cofferError, isCofferError, type CofferError } from '../errors/index.js';
import { createAppVm, type AppVm, type VmHost } from '../contracts/sandbox/vm.js';
import type { BadField } from './check.js';
import type { GovConfig } from './config.js';
import type { Proposal, Resolution } from './types.js';

const vmName = 'gov-constitution';

const readNothing: VmHost = {
  get: () => undefined,
  put: () => {
    throw cofferError('GOV_E_CONSTITUTION_FAILED', 'a constitution may not write state');
  },
  delete: () => {
    throw cofferError('GOV_E_CONSTITUTION_FAILED', 'a constitution may not write state');
  },
  oracle: () => undefined,
};

function seedOf(id: string): [number, number, number, number] {
  const word = (i: number): number => Number.parseInt(id.slice(i * 8, i * 8 + 8), 16) || 0;
  return [word(0), word(1), word(2), word(3)];
}

function call(
  source: string,
  endpoint: string,
  proposal: Proposal,
  config: GovConfig,
): { ok: true; result: unknown } | { ok: false; error: CofferError } {
  // A fresh VM per call (~10 ms; governance is rare): QuickJS's interrupt counter keeps its
  // phase across calls of one context (decision 0014), so a VM reused across batches could
  // stop a call near the CPU limit at a different point on a node that restarted.
  let vm: AppVm;
  try {
    vm = createAppVm(vmName, source, 'execution');
  } catch (error) {
    if (!isCofferError(error)) throw error;
    return { ok: false, error };
  }
  try {
    const outcome = vm.call(
      endpoint,
      { proposal, members: config.members },
      {
        app: vmName,
        caller: null,
        txId: proposal.id,
        time: null,
        readonly: true,
        seed: seedOf(proposal.id),
      },
      readNothing,
    );
    return outcome.ok ? { ok: true, result: outcome.result } : { ok: false, error: outcome.error };
  } finally {
    vm.dispose();
  }
}

/** Compiles the source in the sandbox and checks it exports resolve (set time). */
export function checkJsConstitution(source: string, field: string, bad: BadField): void {
  let exported: unknown;
  try {
    const outcome = createAppVm(vmName, source, 'query');
    try {
      const listed = outcome.call(
        null,
        null,
        { app: vmName, caller: null, txId: null, time: null, readonly: true, seed: [1, 2, 3, 4] },
        readNothing,
      );
      if (!listed.ok) bad(field, `fails when loaded: ${listed.error.message}`);
      exported = listed.result;
    } finally {
      outcome.dispose();
    }
  } catch (error) {
    if (!isCofferError(error) || error.code !== 'APP_E_BUNDLE_INVALID') throw error;
    bad(field, `does not compile: ${error.message}`);
  }
  if (!Array.isArray(exported) || !exported.includes('resolve'))
    bad(field, 'must export a function resolve(input)');
}

export function jsValidate(source: string, proposal: Proposal, config: GovConfig): void {
  const exported = call(source, 'validate', proposal, config);
  if (exported.ok) return;
  // A module without validate accepts every proposal the built-in checks accept.
  if (/exports no function validate/.test(exported.error.message)) return;
  if (exported.error.code === 'APP_E_REJECTED') {
    throw cofferError(
      'GOV_E_CONSTITUTION_REFUSED',
      `the constitution refused the proposal: ${exported.error.message}`,
      { appCode: exported.error.details['appCode'] },
    );
  }
  throw cofferError(
    'GOV_E_CONSTITUTION_FAILED',
    `the constitution's validate failed: ${exported.error.code}: ${exported.error.message}`,
    { cause: exported.error.code },
    exported.error,
  );
}

export function jsResolve(source: string, proposal: Proposal, config: GovConfig): Resolution {
  const outcome = call(source, 'resolve', proposal, config);
  if (!outcome.ok) {
    throw cofferError(
      'GOV_E_CONSTITUTION_FAILED',
      `the constitution's resolve failed: ${outcome.error.code}: ${outcome.error.message}`,
      { cause: outcome.error.code },
      outcome.error,
    );
  }
  const result = outcome.result;
  if (result !== 'Open' && result !== 'Accepted' && result !== 'Rejected') {
    throw cofferError(
      'GOV_E_CONSTITUTION_FAILED',
      `the constitution's resolve returned ${JSON.stringify(result)}; it must return 'Open', 'Accepted' or 'Rejected'`,
    );
  }
  return result;
}

// A proposal being written: its action list as JSON text, checked in the page before anything
// is signed (shape, names, argument fields and formats, sizes; the limits of
// src/governance/limits.ts), and the forms' values turned into actions. The node checks it all
// again (the `check` query, then propose): this only catches mistakes early, naming the field.
import { settingFields, type SettingKey } from './describe.js';
import type { GovAction, Settings } from './types.js';

export const proposalActionsMax = 32;
export const proposalBytesMax = 60 * 1024;
/** Longest proposal lifetime a proposal may ask for (proposalTtlMsMax). */
export const proposalTtlMsMax = 90 * 24 * 3600 * 1000;

export const actionNames = [
  'set_msp',
  'remove_msp',
  'add_member',
  'remove_member',
  'admit_node',
  'retire_node',
  'allow_code',
  'disallow_code',
  'set_settings',
  'set_constitution',
  'set_custody',
  'custody_policy',
  'set_evm',
  'install_app',
  'remove_app',
] as const;
export type ActionName = (typeof actionNames)[number];

export const idPattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const codeIdPattern = /^[0-9a-f]{64}$/;
export const nodeUrlPattern = /^https:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/;
const appNamePattern = /^[a-z][a-z0-9-]{1,31}$/;

/** Argument fields of each action (required ones first) and a check of each field's value. */
type FieldCheck = (value: unknown) => string | undefined;
const id: FieldCheck = (value) =>
  typeof value === 'string' && value.length <= 64 && idPattern.test(value)
    ? undefined
    : 'must be an id of letters, digits, . _ - (at most 64)';
const hex: FieldCheck = (value) =>
  typeof value === 'string' && codeIdPattern.test(value)
    ? undefined
    : 'must be 64 lower-case hex digits';
const object: FieldCheck = (value) =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? undefined
    : 'must be a JSON object';

const argSpecs: Record<
  ActionName,
  { readonly required: readonly string[]; readonly fields: Readonly<Record<string, FieldCheck>> }
> = {
  set_msp: { required: ['mspId', 'definition'], fields: { mspId: id, definition: object } },
  remove_msp: { required: ['mspId'], fields: { mspId: id } },
  add_member: { required: ['mspId'], fields: { mspId: id } },
  remove_member: { required: ['mspId'], fields: { mspId: id } },
  admit_node: {
    required: ['nodeId', 'mspId', 'codeId'],
    fields: {
      nodeId: id,
      mspId: id,
      codeId: hex,
      url: (value) =>
        typeof value === 'string' && value.length <= 256 && nodeUrlPattern.test(value)
          ? undefined
          : 'must be https://host:port',
    },
  },
  retire_node: { required: ['nodeId'], fields: { nodeId: id } },
  allow_code: { required: ['codeId'], fields: { codeId: hex } },
  disallow_code: { required: ['codeId'], fields: { codeId: hex } },
  set_settings: {
    required: [],
    fields: Object.fromEntries(
      settingFields.map((field) => [
        field.key,
        (value: unknown) =>
          typeof value === 'number' &&
          Number.isSafeInteger(value) &&
          value >= field.min &&
          value <= field.max
            ? undefined
            : `must be a whole number from ${field.min} to ${field.max}`,
      ]),
    ),
  },
  set_constitution: {
    required: ['constitution'],
    fields: {
      constitution: (value) => {
        const bad = object(value);
        if (bad !== undefined) return bad;
        const spec = value as Record<string, unknown>;
        if (spec['kind'] === 'majority') return undefined;
        if (spec['kind'] === 'policy')
          return typeof spec['policy'] === 'string' && spec['policy'] !== ''
            ? undefined
            : '.policy must be a policy text';
        if (spec['kind'] === 'js')
          return typeof spec['source'] === 'string' && spec['source'] !== ''
            ? undefined
            : '.source must be JavaScript source';
        return ".kind must be 'majority', 'policy' or 'js'";
      },
    },
  },
  set_custody: { required: ['custody'], fields: { custody: object } },
  custody_policy: { required: ['walletId', 'change'], fields: { walletId: hex, change: object } },
  set_evm: {
    required: ['chainId'],
    fields: {
      chainId: (value) =>
        typeof value === 'number' &&
        Number.isSafeInteger(value) &&
        value >= 1 &&
        value <= 4_294_967_295
          ? undefined
          : 'must be a whole number from 1 to 4294967295',
    },
  },
  install_app: { required: ['bundle'], fields: { bundle: object } },
  remove_app: {
    required: ['name'],
    fields: {
      name: (value) =>
        typeof value === 'string' && appNamePattern.test(value)
          ? undefined
          : 'must be an app name (a-z, 0-9, -; 2 to 32)',
    },
  },
};

export type DraftCheck =
  | { readonly ok: true; readonly actions: GovAction[]; readonly bytes: number }
  | { readonly ok: false; readonly errors: string[] };

/** UTF-8 bytes of the JSON text of a value (the node counts canonical JSON: about the same). */
export function jsonBytes(value: unknown): number {
  return new TextEncoder().encode(JSON.stringify(value)).length;
}

/** Checks one action; returns the problems, each naming its field (`actions[2].args.mspId`). */
export function checkAction(value: unknown, at: string): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return [`${at} must be an object {"name": …, "args": {…}}`];
  const item = value as Record<string, unknown>;
  const errors: string[] = [];
  for (const key of Object.keys(item))
    if (key !== 'name' && key !== 'args') errors.push(`${at}.${key} is not a field (name, args)`);
  const name = item['name'];
  if (typeof name !== 'string' || !(actionNames as readonly string[]).includes(name)) {
    errors.push(`${at}.name must be one of ${actionNames.join(', ')}`);
    return errors;
  }
  const args: unknown = item['args'] ?? {};
  if (typeof args !== 'object' || args === null || Array.isArray(args)) {
    errors.push(`${at}.args must be a JSON object`);
    return errors;
  }
  const spec = argSpecs[name as ActionName];
  const given = args as Record<string, unknown>;
  for (const key of spec.required)
    if (given[key] === undefined) errors.push(`${at}.args.${key} is missing`);
  for (const [key, fieldValue] of Object.entries(given)) {
    const check = spec.fields[key];
    if (check === undefined) {
      errors.push(
        `${at}.args.${key} is not a field of ${name} (expected ${Object.keys(spec.fields).join(', ')})`,
      );
      continue;
    }
    const problem = check(fieldValue);
    if (problem !== undefined)
      errors.push(`${at}.args.${key}${problem.startsWith('.') ? '' : ' '}${problem}`);
  }
  return errors;
}

/** Checks a list of actions (the limits of a proposal included). */
export function checkActions(value: unknown): DraftCheck {
  if (!Array.isArray(value) || value.length === 0)
    return { ok: false, errors: ['actions must be a non-empty list of actions'] };
  const errors: string[] = [];
  if (value.length > proposalActionsMax)
    errors.push(`${value.length} actions; a proposal holds at most ${proposalActionsMax}`);
  const bytes = jsonBytes(value);
  if (bytes > proposalBytesMax)
    errors.push(
      `the actions are ${bytes} bytes of JSON; a proposal holds at most ${proposalBytesMax}`,
    );
  value.forEach((item, index) => errors.push(...checkAction(item, `actions[${index}]`)));
  if (errors.length > 0) return { ok: false, errors };
  const actions = (value as Record<string, unknown>[]).map((item) => ({
    name: item['name'] as string,
    args: (item['args'] ?? {}) as Record<string, unknown>,
  }));
  return { ok: true, actions, bytes };
}

/**
 * Parses the raw JSON editor's text: a list of actions, or a proposal file as `coffer gov
 * propose --file` reads it ({"actions": [...]}).
 */
export function parseDraft(textValue: string): DraftCheck {
  if (textValue.trim() === '') return { ok: false, errors: ['write the actions (a JSON list)'] };
  let json: unknown;
  try {
    json = JSON.parse(textValue);
  } catch (error) {
    return { ok: false, errors: [`not JSON: ${(error as Error).message}`] };
  }
  if (typeof json === 'object' && json !== null && !Array.isArray(json)) {
    const file = json as Record<string, unknown>;
    const extra = Object.keys(file).filter((key) => key !== 'actions');
    if (extra.length > 0 || !Array.isArray(file['actions']))
      return {
        ok: false,
        errors: [
          'give a list of actions, or {"actions": [...]} as coffer gov propose --file reads',
        ],
      };
    json = file['actions'];
  }
  return checkActions(json);
}

export function draftText(actions: readonly GovAction[]): string {
  return JSON.stringify(actions, null, 2);
}

/**
 * The set_settings arguments for the settings form: only fields whose value changed, each a
 * whole number in its bounds. `values` are the inputs' texts.
 */
export function settingsChange(
  current: Settings,
  values: Readonly<Partial<Record<SettingKey, string>>>,
): { args: Partial<Record<SettingKey, number>>; errors: string[] } {
  const args: Partial<Record<SettingKey, number>> = {};
  const errors: string[] = [];
  for (const field of settingFields) {
    const raw = values[field.key]?.trim();
    if (raw === undefined || raw === '') continue;
    const value = Number(raw);
    if (
      !/^\d+$/.test(raw) ||
      !Number.isSafeInteger(value) ||
      value < field.min ||
      value > field.max
    ) {
      errors.push(`${field.label}: a whole number from ${field.min} to ${field.max}`);
      continue;
    }
    if (value !== current[field.key]) args[field.key] = value;
  }
  if (errors.length === 0 && Object.keys(args).length === 0)
    errors.push('change at least one setting from the value in force');
  return { args, errors };
}

/** Parses a custody parameters editor: a JSON object (the node checks its fields). */
export function custodyChange(textValue: string): {
  custody?: Record<string, unknown>;
  error?: string;
} {
  let json: unknown;
  try {
    json = JSON.parse(textValue);
  } catch (error) {
    return { error: `not JSON: ${(error as Error).message}` };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    return { error: 'the custody parameters are a JSON object' };
  const bytes = jsonBytes(json);
  if (bytes > 16 * 1024) return { error: `${bytes} bytes; custody parameters are at most 16 KiB` };
  return { custody: json as Record<string, unknown> };
}

/** Days (possibly fractional) as a proposal's expiresInMs, or an error. */
export function expiryMs(days: string): { ms?: number; error?: string } {
  const raw = days.trim();
  if (raw === '') return {};
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    return { error: 'Expires in: a positive number of days, or empty for the default' };
  const ms = Math.round(value * 24 * 3600 * 1000);
  if (ms > proposalTtlMsMax) return { error: 'Expires in: at most 90 days' };
  return { ms: Math.max(ms, 1) };
}

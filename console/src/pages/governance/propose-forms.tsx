// The proposal forms for service settings, custody parameters, and members / nodes / code ids.
// Each checks its fields in the page and hands complete actions to the proposal's list.
import { useState } from 'react';
import { durationText, settingFields, sortedJson, type SettingKey } from './describe.js';
import { checkAction, custodyChange, settingsChange } from './draft.js';
import type { GovAction, GovConfig } from './model.js';

export type BuilderProps = {
  readonly config: GovConfig;
  /** Adds actions to the proposal; false when they could not be added (the list is broken). */
  readonly onAdd: (actions: readonly GovAction[]) => boolean;
};

function Problems({ errors, id }: { errors: readonly string[]; id: string }) {
  if (errors.length === 0) return null;
  return (
    <ul className="error gov-errors" id={id} role="alert">
      {errors.map((error) => (
        <li key={error}>{error}</li>
      ))}
    </ul>
  );
}

export function SettingsBuilder({ config, onAdd }: BuilderProps) {
  const current = config.settings;
  const [values, setValues] = useState<Partial<Record<SettingKey, string>>>(() =>
    Object.fromEntries(settingFields.map((field) => [field.key, String(current[field.key] ?? '')])),
  );
  const [errors, setErrors] = useState<string[]>([]);
  const add = () => {
    const change = settingsChange(current, values);
    setErrors(change.errors);
    if (change.errors.length === 0) onAdd([{ name: 'set_settings', args: change.args }]);
  };
  return (
    <div className="gov-form">
      <div className="gov-fields">
        {settingFields.map((field) => {
          const raw = values[field.key] ?? '';
          const value = Number(raw);
          const now = current[field.key];
          const helpId = `gov-setting-${field.key}-help`;
          return (
            <div key={field.key} className="gov-field">
              <label>
                {field.label}
                <input
                  type="text"
                  inputMode="numeric"
                  value={raw}
                  aria-describedby={helpId}
                  onChange={(event) =>
                    setValues((before) => ({ ...before, [field.key]: event.target.value }))
                  }
                />
              </label>
              <p id={helpId} className="muted gov-small">
                {raw !== '' && Number.isSafeInteger(value) ? `= ${field.show(value)}. ` : ''}
                In force: {now === undefined ? 'the ledger’s default' : field.show(now)}.{' '}
                {field.help}
              </p>
            </div>
          );
        })}
      </div>
      <Problems errors={errors} id="gov-settings-errors" />
      <button type="button" className="secondary" onClick={add}>
        Add to proposal
      </button>
    </div>
  );
}

const custodyHelp =
  'Fields: policyQuorum, approvalRule (distinct-admins or distinct-orgs), approverMsps, serviceMsps, withdrawalExpiryMs, policyChangeExpiryMs, defaultApprovalsRequired, and chains.coffer / ethereum / bitcoin with workers (MSPID:identity id), confirmations, feeMax, chainId, tokens. The object replaces the one in force; fields left out take their defaults.';

export function CustodyBuilder({ config, onAdd }: BuilderProps) {
  const inForce = JSON.stringify(config.custody, null, 2);
  const [text, setText] = useState(inForce);
  const [error, setError] = useState<string | undefined>(undefined);
  const add = () => {
    const change = custodyChange(text);
    setError(change.error);
    if (change.custody !== undefined)
      onAdd([{ name: 'set_custody', args: { custody: change.custody } }]);
  };
  const same = (() => {
    try {
      return sortedJson(JSON.parse(text)) === sortedJson(config.custody);
    } catch {
      return false;
    }
  })();
  return (
    <div className="gov-form">
      <label>
        Custody parameters (JSON)
        <textarea
          className="gov-editor"
          rows={10}
          spellCheck={false}
          value={text}
          aria-describedby="gov-custody-help"
          onChange={(event) => setText(event.target.value)}
        />
      </label>
      <p id="gov-custody-help" className="muted gov-small">
        Starts from the parameters in force{same ? ' (unchanged so far)' : ''}. {custodyHelp}
      </p>
      <Problems errors={error === undefined ? [] : [error]} id="gov-custody-errors" />
      <div className="gov-buttons">
        <button type="button" className="secondary" onClick={add}>
          Add to proposal
        </button>
        <button type="button" className="secondary" onClick={() => setText(inForce)}>
          Reset to the parameters in force
        </button>
      </div>
    </div>
  );
}

const membershipActions = [
  { name: 'add_member', label: 'Make an organisation a member', fields: ['mspId'] },
  { name: 'remove_member', label: 'Remove a member', fields: ['mspId'] },
  { name: 'allow_code', label: 'Allow a code id', fields: ['codeId'] },
  { name: 'disallow_code', label: 'Disallow a code id', fields: ['codeId'] },
  { name: 'admit_node', label: 'Admit a node', fields: ['nodeId', 'mspId', 'codeId', 'url'] },
  { name: 'retire_node', label: 'Retire a node', fields: ['nodeId'] },
  { name: 'remove_msp', label: "Remove an organisation's MSP", fields: ['mspId'] },
] as const;

const fieldLabels: Record<string, string> = {
  mspId: 'Organisation (MSP ID)',
  codeId: 'Code id (64 hex digits)',
  nodeId: 'Node id',
  url: 'Node URL (https://host:port, optional)',
};

export function MembershipBuilder({
  config,
  onAdd,
  admitNode,
}: BuilderProps & { admitNode: string | undefined }) {
  const [name, setName] = useState<(typeof membershipActions)[number]['name']>(
    admitNode === undefined ? 'add_member' : 'admit_node',
  );
  const [values, setValues] = useState<Record<string, string>>(() => ({
    nodeId: admitNode ?? '',
    mspId: '',
    codeId: '',
    url: '',
  }));
  const [errors, setErrors] = useState<string[]>([]);
  const spec = membershipActions.find((item) => item.name === name) ?? membershipActions[0];
  const add = () => {
    const args: Record<string, string> = {};
    for (const field of spec.fields) {
      const value = values[field]?.trim() ?? '';
      if (value !== '') args[field] = value;
    }
    const action = { name, args };
    const problems = checkAction(action, 'action');
    setErrors(problems);
    if (problems.length === 0) onAdd([action]);
  };
  const mspIds = Object.keys(config.msps).sort();
  return (
    <div className="gov-form">
      <label className="gov-narrow">
        Action
        <select value={name} onChange={(event) => setName(event.target.value as typeof name)}>
          {membershipActions.map((item) => (
            <option key={item.name} value={item.name}>
              {item.label}
            </option>
          ))}
        </select>
      </label>
      <div className="gov-fields">
        {spec.fields.map((field) => (
          <label key={field}>
            {fieldLabels[field]}
            {field === 'mspId' ? (
              <select
                value={values['mspId']}
                onChange={(event) => setValues({ ...values, mspId: event.target.value })}
              >
                <option value="">Choose…</option>
                {mspIds.map((mspId) => (
                  <option key={mspId} value={mspId}>
                    {mspId}
                    {config.members.includes(mspId) ? ' (member)' : ''}
                  </option>
                ))}
              </select>
            ) : (
              <input
                type="text"
                spellCheck={false}
                value={values[field] ?? ''}
                list={
                  field === 'codeId'
                    ? 'gov-code-ids'
                    : field === 'nodeId'
                      ? 'gov-node-ids'
                      : undefined
                }
                onChange={(event) => setValues({ ...values, [field]: event.target.value })}
              />
            )}
          </label>
        ))}
      </div>
      <datalist id="gov-code-ids">
        {config.codes.map((code) => (
          <option key={code} value={code} />
        ))}
      </datalist>
      <datalist id="gov-node-ids">
        {Object.keys(config.nodes).map((nodeId) => (
          <option key={nodeId} value={nodeId} />
        ))}
      </datalist>
      <p className="muted gov-small">
        Allowed code ids now:{' '}
        {config.codes.length === 0
          ? 'none'
          : config.codes.map((code) => code.slice(0, 12) + '…').join(', ')}
        . A node is admitted only with an allowed code id; the proposal lifetime is{' '}
        {durationText(config.settings.proposalTtlMs)}.
      </p>
      <Problems errors={errors} id="gov-membership-errors" />
      <button type="button" className="secondary" onClick={add}>
        Add to proposal
      </button>
    </div>
  );
}

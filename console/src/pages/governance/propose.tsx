// #/governance/propose: write a proposal. Forms add the common actions (service settings, an
// organisation's MSP, custody parameters, members, nodes and code ids) to an action list kept
// as JSON, which can also be edited by hand. The list is checked in the page as it is typed,
// can be checked by the ledger (the `check` query: a dry run of propose), and is signed here.
import { useState } from 'react';
import { ErrorNote, Show, SignButton, useLoad } from '../../components/ui.js';
import { navigate } from '../../router.js';
import { useSession } from '../../session.js';
import { describeAction, durationText } from './describe.js';
import { draftText, expiryMs, parseDraft, type DraftCheck } from './draft.js';
import { gov, type CheckAnswer, type GovAction, type GovConfig } from './model.js';
import { MspBuilder } from './propose-msp.js';
import { CustodyBuilder, MembershipBuilder, SettingsBuilder } from './propose-forms.js';

const builders = [
  { kind: 'settings', label: 'Service settings' },
  { kind: 'msp', label: "An organisation's MSP" },
  { kind: 'custody', label: 'Custody parameters' },
  { kind: 'membership', label: 'Members, nodes, code ids' },
] as const;
type BuilderKind = (typeof builders)[number]['kind'];

/** What the route asks to start with: `propose/msp/<MSPID>`, `propose/admit/<node>`. */
export type ProposePreset =
  | { readonly builder: 'msp'; readonly mspId: string }
  | { readonly builder: 'membership'; readonly admitNode: string }
  | undefined;

function Draft({
  text,
  setText,
  check,
  config,
}: {
  text: string;
  setText: (text: string) => void;
  check: DraftCheck;
  config: GovConfig;
}) {
  const remove = (index: number) => {
    if (!check.ok) return;
    setText(draftText(check.actions.filter((_, at) => at !== index)));
  };
  return (
    <>
      {check.ok ? (
        <ol className="gov-actions">
          {check.actions.map((action, index) => {
            const words = describeAction(action, config);
            return (
              <li key={index}>
                <span className="gov-action-title">{words.title}</span>{' '}
                <button
                  type="button"
                  className="secondary gov-small-button"
                  onClick={() => remove(index)}
                  aria-label={`Remove action ${index + 1}: ${words.title}`}
                >
                  Remove
                </button>
                {words.details.length > 0 ? (
                  <ul className="gov-action-details">
                    {words.details.map((detail, at) => (
                      <li key={at}>{detail}</li>
                    ))}
                  </ul>
                ) : null}
              </li>
            );
          })}
        </ol>
      ) : null}
      <label>
        Actions (JSON)
        <textarea
          className="gov-editor"
          rows={12}
          spellCheck={false}
          value={text}
          aria-describedby="gov-draft-status"
          aria-invalid={text.trim() !== '' && !check.ok}
          onChange={(event) => setText(event.target.value)}
          placeholder='[{"name": "set_settings", "args": {"proposalTtlMs": 1209600000}}]'
        />
      </label>
      <div id="gov-draft-status" aria-live="polite">
        {text.trim() === '' ? (
          <p className="muted gov-small">
            Add actions with the form above, or write them here: a JSON list of{' '}
            <code>{'{"name", "args"}'}</code>, or a proposal file as{' '}
            <code>coffer gov propose --file</code> reads it.
          </p>
        ) : check.ok ? (
          <p className="ok gov-small">
            {check.actions.length} action{check.actions.length === 1 ? '' : 's'}, {check.bytes}{' '}
            bytes: well formed.
          </p>
        ) : (
          <ul className="error gov-errors">
            {check.errors.map((error) => (
              <li key={error}>{error}</li>
            ))}
          </ul>
        )}
      </div>
    </>
  );
}

function checkWords(answer: CheckAnswer): string {
  const outcome =
    answer.resolution === 'Accepted'
      ? 'it would be accepted and applied at once'
      : answer.resolution === 'Rejected'
        ? 'the constitution would reject it at once'
        : 'it would open and wait for the other members’ votes';
  return `The ledger accepts this proposal now (${answer.actions} action${answer.actions === 1 ? '' : 's'}, expires in ${durationText(answer.expiresInMs)}): ${outcome}.${answer.constitutionChanged ? ' It changes the constitution: other open proposals would be dropped.' : ''}`;
}

function Propose({ config, preset }: { config: GovConfig; preset: ProposePreset }) {
  const session = useSession();
  const [builder, setBuilder] = useState<BuilderKind>(preset?.builder ?? 'settings');
  const [text, setText] = useState('');
  const [note, setNote] = useState<string | undefined>(undefined);
  const [days, setDays] = useState('');
  const [checked, setChecked] = useState<
    { key: string; answer?: CheckAnswer; error?: unknown } | undefined
  >(undefined);
  const [checking, setChecking] = useState(false);
  const check = parseDraft(text);
  const expiry = expiryMs(days);
  const key = `${text}\n${days}`;

  const add = (actions: readonly GovAction[]): boolean => {
    const current = text.trim() === '' ? ({ ok: true, actions: [], bytes: 0 } as const) : check;
    if (!current.ok) {
      setNote('Fix the action list (JSON) below first; the form’s action was not added.');
      return false;
    }
    setText(draftText([...current.actions, ...actions]));
    setNote(`Added: ${actions.map((action) => describeAction(action, config).title).join('; ')}.`);
    return true;
  };

  const runCheck = async () => {
    if (!check.ok || expiry.error !== undefined) return;
    setChecking(true);
    try {
      setChecked({ key, answer: await gov.check(check.actions, expiry.ms) });
    } catch (error) {
      setChecked({ key, error });
    } finally {
      setChecking(false);
    }
  };

  const caller = session.caller;
  const mayPropose = caller !== null && caller.isAdmin && config.members.includes(caller.mspId);
  const ready = check.ok && expiry.error === undefined;
  const current = checked?.key === key ? checked : undefined;
  return (
    <>
      {mayPropose ? null : (
        <p className="gov-note">
          Only MSP admins of member organisations ({config.members.join(', ')}) propose; you are
          signed in as {caller?.isAdmin === true ? 'an admin' : 'a non-admin identity'} of{' '}
          {caller?.mspId}. You can still write a proposal and check it with the ledger.
        </p>
      )}
      <section className="card" aria-labelledby="gov-add-heading">
        <div className="card-head">
          <h2 id="gov-add-heading">Add an action</h2>
        </div>
        <fieldset className="gov-choice">
          <legend>What to change</legend>
          {builders.map((item) => (
            <label key={item.kind} className="gov-radio">
              <input
                type="radio"
                name="gov-builder"
                value={item.kind}
                checked={builder === item.kind}
                onChange={() => setBuilder(item.kind)}
              />
              {item.label}
            </label>
          ))}
        </fieldset>
        {builder === 'settings' ? <SettingsBuilder config={config} onAdd={add} /> : null}
        {builder === 'msp' ? (
          <MspBuilder
            config={config}
            onAdd={add}
            initial={preset?.builder === 'msp' ? preset.mspId : undefined}
          />
        ) : null}
        {builder === 'custody' ? <CustodyBuilder config={config} onAdd={add} /> : null}
        {builder === 'membership' ? (
          <MembershipBuilder
            config={config}
            onAdd={add}
            admitNode={preset?.builder === 'membership' ? preset.admitNode : undefined}
          />
        ) : null}
        <p role="status" className="gov-small" aria-live="polite">
          {note}
        </p>
      </section>
      <section className="card" aria-labelledby="gov-draft-heading">
        <div className="card-head">
          <h2 id="gov-draft-heading">Proposal</h2>
          {text.trim() !== '' ? (
            <button type="button" className="secondary" onClick={() => setText('')}>
              Clear
            </button>
          ) : null}
        </div>
        <Draft text={text} setText={setText} check={check} config={config} />
        <label className="gov-narrow">
          Expires in (days, optional)
          <input
            type="text"
            inputMode="decimal"
            value={days}
            aria-describedby="gov-expiry-help"
            aria-invalid={expiry.error !== undefined}
            onChange={(event) => setDays(event.target.value)}
          />
        </label>
        <p id="gov-expiry-help" className="muted gov-small">
          {expiry.error ??
            `Empty: the consortium's proposal lifetime, ${durationText(config.settings.proposalTtlMs)} (a proposal may ask for less, never more).`}
        </p>
        <div className="gov-buttons">
          <button
            type="button"
            className="secondary"
            disabled={!ready || checking}
            aria-busy={checking}
            onClick={() => void runCheck()}
          >
            {checking ? 'Checking…' : 'Check with the ledger'}
          </button>
          {ready ? (
            <SignButton
              label="Sign and propose"
              app="gov"
              action="propose"
              args={() => ({
                actions: check.actions,
                ...(expiry.ms === undefined ? {} : { expiresInMs: expiry.ms }),
              })}
              onDone={(outcome) => navigate('governance', 'proposals', outcome.txId)}
            />
          ) : (
            <button
              type="button"
              className="primary"
              disabled
              title="Add at least one well-formed action"
            >
              Sign and propose
            </button>
          )}
        </div>
        {current?.answer !== undefined ? (
          <p className="gov-check ok" role="status">
            {checkWords(current.answer)}
          </p>
        ) : null}
        {current?.error !== undefined ? <ErrorNote error={current.error} /> : null}
      </section>
    </>
  );
}

export function ProposePage({ preset }: { preset: ProposePreset }) {
  const loaded = useLoad(gov.config, 'gov-config');
  return (
    <>
      <h1>New governance proposal</h1>
      <p className="gov-lead">
        A proposal is a list of actions. Proposing counts as your organisation&rsquo;s yes; the
        other members vote, and the constitution decides. Every action is checked again by the
        ledger when it is proposed and when it is accepted.
      </p>
      <Show loaded={loaded}>{(config) => <Propose config={config} preset={preset} />}</Show>
    </>
  );
}

// The MSP form: add or update an organisation's MSP definition (a set_msp action). It starts
// from the definition in force; an MSP folder can be loaded as `coffer gov propose --set-msp`
// reads one (verifying part only: keystore/ and signcerts/ are never read), and PEM files can
// be added to or removed from each list (a new CRL, a rotated CA). A new organisation can be
// made a member in the same proposal.
import { useState, type ChangeEvent } from 'react';
import { CertTable, CrlTable } from './cert-views.js';
import { mspChanges } from './describe.js';
import { idPattern } from './draft.js';
import type { GovAction, MspJson } from './model.js';
import {
  isReadable,
  mspFromFolder,
  pemFileBytesMax,
  relativeToFolder,
  type FolderFile,
} from './msp-folder.js';
import { useNow } from './parts.js';
import type { BuilderProps } from './propose-forms.js';

type ListKey =
  | 'rootCerts'
  | 'intermediateCerts'
  | 'admins'
  | 'revocationList'
  | 'tlsRootCerts'
  | 'tlsIntermediateCerts';

const lists: readonly { key: ListKey; label: string; folder: string }[] = [
  { key: 'rootCerts', label: 'Root CAs', folder: 'cacerts' },
  { key: 'intermediateCerts', label: 'Intermediate CAs', folder: 'intermediatecerts' },
  { key: 'admins', label: 'Admin certificates', folder: 'admincerts' },
  { key: 'revocationList', label: 'CRLs', folder: 'crls' },
  { key: 'tlsRootCerts', label: 'TLS root CAs', folder: 'tlscacerts' },
  { key: 'tlsIntermediateCerts', label: 'TLS intermediate CAs', folder: 'tlsintermediatecerts' },
];

const newOrganisation = '';

function emptyDefinition(mspId: string): MspJson {
  return {
    mspId,
    rootCerts: [],
    intermediateCerts: [],
    admins: [],
    revocationList: [],
    organizationalUnitIdentifiers: [],
    tlsRootCerts: [],
    tlsIntermediateCerts: [],
  };
}

/** The readable files of a chosen folder, or the first one too large to be MSP material. */
async function folderFiles(
  input: HTMLInputElement,
): Promise<{ files: FolderFile[] } | { error: string }> {
  const chosen = [...(input.files ?? [])];
  const paths = relativeToFolder(
    chosen.map((file) => ({ path: file.webkitRelativePath || file.name, text: '' })),
  );
  const files: FolderFile[] = [];
  for (const [index, file] of chosen.entries()) {
    const path = paths[index]?.path ?? file.name;
    if (!isReadable(path)) continue;
    if (file.size > pemFileBytesMax)
      return { error: `${path} is ${file.size} bytes; MSP files are at most ${pemFileBytesMax}` };
    files.push({ path, text: await file.text() });
  }
  return { files };
}

export function MspBuilder({
  config,
  onAdd,
  initial,
}: BuilderProps & { initial: string | undefined }) {
  const now = useNow(60_000);
  const known = Object.keys(config.msps).sort();
  const start =
    initial !== undefined && known.includes(initial) ? initial : (known[0] ?? newOrganisation);
  const [target, setTarget] = useState(start);
  const [newId, setNewId] = useState('');
  const [definition, setDefinition] = useState<MspJson>(
    () => config.msps[start] ?? emptyDefinition(''),
  );
  const [alsoMember, setAlsoMember] = useState(true);
  const [messages, setMessages] = useState<{ errors: string[]; warnings: string[] }>({
    errors: [],
    warnings: [],
  });
  const [addTo, setAddTo] = useState<ListKey>('revocationList');

  const mspId = target === newOrganisation ? newId.trim() : target;
  const current = target === newOrganisation ? undefined : config.msps[target];

  const choose = (value: string) => {
    setTarget(value);
    setDefinition(config.msps[value] ?? emptyDefinition(''));
    setMessages({ errors: [], warnings: [] });
  };

  const loadFolder = async (event: ChangeEvent<HTMLInputElement>) => {
    const input = event.target;
    const chosen = await folderFiles(input);
    input.value = '';
    if ('error' in chosen) {
      setMessages({ errors: [chosen.error], warnings: [] });
      return;
    }
    const files = chosen.files;
    const read = mspFromFolder(files, mspId);
    if (!read.ok) {
      setMessages({ errors: [read.error], warnings: [] });
      return;
    }
    setDefinition(read.definition);
    setMessages({
      errors: [],
      warnings: [`Loaded ${files.length} files of the folder.`, ...read.warnings],
    });
  };

  const addFiles = async (event: ChangeEvent<HTMLInputElement>) => {
    const input = event.target;
    const chosen = [...(input.files ?? [])];
    input.value = '';
    const errors: string[] = [];
    const added: string[] = [];
    for (const file of chosen) {
      const text = file.size > pemFileBytesMax ? '' : await file.text();
      if (!text.includes('-----BEGIN')) errors.push(`${file.name}: no PEM block (or over 64 KiB)`);
      else added.push(text);
    }
    setDefinition((before) => ({ ...before, [addTo]: [...(before[addTo] ?? []), ...added] }));
    setMessages({
      errors,
      warnings: added.length > 0 ? [`Added ${added.length} file(s) to ${addTo}.`] : [],
    });
  };

  const remove = (key: ListKey, index: number) =>
    setDefinition((before) => ({
      ...before,
      [key]: (before[key] ?? []).filter((_, at) => at !== index),
    }));

  const add = () => {
    const errors: string[] = [];
    if (!idPattern.test(mspId) || mspId.length > 64)
      errors.push('MSP ID: letters, digits, . _ - (at most 64), e.g. Org4MSP');
    else if (target === newOrganisation && known.includes(mspId))
      errors.push(`${mspId} already has an MSP: choose it in the list to update it`);
    if ((definition.rootCerts ?? []).length === 0)
      errors.push('An MSP needs at least one root CA certificate');
    setMessages({ errors, warnings: [] });
    if (errors.length > 0) return;
    const json = { ...definition, mspId };
    const actions: GovAction[] = [{ name: 'set_msp', args: { mspId, definition: json } }];
    if (target === newOrganisation && alsoMember)
      actions.push({ name: 'add_member', args: { mspId } });
    onAdd(actions);
  };

  const changes = mspChanges({ ...definition }, current);
  const nodeOus = definition.nodeOus;
  return (
    <div className="gov-form">
      <div className="gov-fields">
        <label>
          Organisation
          <select value={target} onChange={(event) => choose(event.target.value)}>
            {known.map((id) => (
              <option key={id} value={id}>
                {id}
                {config.members.includes(id) ? ' (member)' : ''}
              </option>
            ))}
            <option value={newOrganisation}>A new organisation…</option>
          </select>
        </label>
        {target === newOrganisation ? (
          <label>
            New MSP ID
            <input
              type="text"
              spellCheck={false}
              value={newId}
              placeholder="Org4MSP"
              onChange={(event) => setNewId(event.target.value)}
            />
          </label>
        ) : null}
        <label>
          Load an MSP folder (replaces the lists below)
          <input
            type="file"
            ref={(element) => element?.setAttribute('webkitdirectory', '')}
            onChange={(event) => void loadFolder(event)}
          />
        </label>
      </div>
      <p className="muted gov-small">
        {current === undefined
          ? 'A new organisation: load its MSP folder (the one holding cacerts/), or add PEM files.'
          : `Starts from ${target}'s definition in force.`}{' '}
        The folder is read in this page: cacerts, intermediatecerts, admincerts, crls, tlscacerts,
        tlsintermediatecerts and config.yaml; keystore/ and signcerts/ are never read.
      </p>
      <div className="gov-fields">
        <label>
          Add PEM files to
          <select value={addTo} onChange={(event) => setAddTo(event.target.value as ListKey)}>
            {lists.map((list) => (
              <option key={list.key} value={list.key}>
                {list.label} ({list.folder}/)
              </option>
            ))}
          </select>
        </label>
        <label>
          PEM files
          <input
            type="file"
            multiple
            accept=".pem,.crt,.cer,.crl,application/x-pem-file"
            onChange={(event) => void addFiles(event)}
          />
        </label>
      </div>
      {messages.errors.length > 0 ? (
        <ul className="error gov-errors" role="alert">
          {messages.errors.map((error) => (
            <li key={error}>{error}</li>
          ))}
        </ul>
      ) : null}
      {messages.warnings.length > 0 ? (
        <ul className="gov-small muted" role="status">
          {messages.warnings.map((warning) => (
            <li key={warning}>{warning}</li>
          ))}
        </ul>
      ) : null}
      {lists.map((list) => {
        const pems = definition[list.key] ?? [];
        if (pems.length === 0) return null;
        const removeButton = (index: number) => (
          <button
            type="button"
            className="secondary gov-small-button"
            aria-label={`Remove ${list.label} entry ${index + 1}`}
            onClick={() => remove(list.key, index)}
          >
            Remove
          </button>
        );
        return (
          <div key={list.key}>
            <h3>
              {list.label} ({pems.length})
            </h3>
            {list.key === 'revocationList' ? (
              <CrlTable pems={pems} now={now} action={removeButton} />
            ) : (
              <CertTable
                pems={pems}
                caption={list.label}
                now={now}
                showIssuer={list.key !== 'rootCerts' && list.key !== 'tlsRootCerts'}
                action={removeButton}
              />
            )}
          </div>
        );
      })}
      <p className="gov-small">
        NodeOUs:{' '}
        {nodeOus?.enable === true
          ? `enabled (${[
              nodeOus.clientOuIdentifier,
              nodeOus.peerOuIdentifier,
              nodeOus.adminOuIdentifier,
              nodeOus.ordererOuIdentifier,
            ]
              .filter((ou) => ou !== undefined)
              .map((ou) => ou.organizationalUnitIdentifier)
              .join(', ')})`
          : 'not enabled'}
        {current !== undefined ? (
          <>
            {' · '}Against the definition in force:{' '}
            {changes.length === 0 ? 'no change yet' : changes.join(', ')}.
          </>
        ) : null}
      </p>
      {target === newOrganisation ? (
        <label className="gov-check-label">
          <input
            type="checkbox"
            checked={alsoMember}
            onChange={(event) => setAlsoMember(event.target.checked)}
          />
          Also make it a member (its admins vote)
        </label>
      ) : null}
      <button type="button" className="secondary" onClick={add}>
        Add to proposal
      </button>
    </div>
  );
}

// An MSP folder chosen in the page (a directory input) read as `coffer gov propose --set-msp
// MSPID=DIR` reads it (src/msp/folder.ts, Fabric's verifying MSP config): cacerts,
// intermediatecerts, admincerts, crls, tlscacerts, tlsintermediatecerts and config.yaml
// (OU identifiers, NodeOUs). Files in name order, sub-folders and files without PEM skipped
// with a warning; signcerts and keystore are never read. Pure: the page gives the files' texts.
import { parse as parseYaml } from 'yaml';
import type { MspJson, NodeOusJson, OuJson } from './types.js';

/** A file of the chosen folder: its path below the folder (`cacerts/ca.pem`) and its text. */
export type FolderFile = { readonly path: string; readonly text: string };

/** Files read from one sub-folder at most, and bytes per file (src/msp/folder.ts, pem.ts). */
export const mspFolderFilesMax = 1000;
export const pemFileBytesMax = 64 * 1024;

export type FolderRead =
  | { readonly ok: true; readonly definition: MspJson; readonly warnings: string[] }
  | { readonly ok: false; readonly error: string };

/** Folders whose files the definition takes (everything else, keys included, is ignored). */
export const mspSubfolders = [
  'cacerts',
  'intermediatecerts',
  'admincerts',
  'crls',
  'tlscacerts',
  'tlsintermediatecerts',
] as const;

/**
 * Paths as a directory input gives them (`msp/cacerts/ca.pem`, webkitRelativePath) made
 * relative to the chosen folder: the first segment, the folder's own name, is dropped.
 */
export function relativeToFolder(files: readonly FolderFile[]): FolderFile[] {
  return files.map((file) => {
    const parts = file.path.split('/');
    return { path: parts.length > 1 ? parts.slice(1).join('/') : file.path, text: file.text };
  });
}

const hasPem = (text: string): boolean =>
  /-----BEGIN [A-Z0-9 ]+-----[\s\S]*?-----END [A-Z0-9 ]+-----/.test(text);

class FolderError extends Error {}

function pemFiles(
  files: readonly FolderFile[],
  sub: string,
  warnings: string[],
): string[] | undefined {
  const direct = files.filter((file) => file.path.startsWith(`${sub}/`));
  if (direct.length === 0) return undefined;
  const inFolder = direct
    .filter((file) => !file.path.slice(sub.length + 1).includes('/'))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  if (inFolder.length > mspFolderFilesMax)
    throw new FolderError(
      `${sub} holds ${inFolder.length} files; at most ${mspFolderFilesMax} are read`,
    );
  const out: string[] = [];
  for (const file of inFolder) {
    if (file.text.length > pemFileBytesMax)
      throw new FolderError(
        `${file.path} is ${file.text.length} bytes; MSP files are at most ${pemFileBytesMax}`,
      );
    if (!hasPem(file.text)) {
      if (sub === 'crls' && file.text.includes('-----BEGIN'))
        throw new FolderError(`${file.path}: PEM framing with a body that does not decode`);
      warnings.push(`${file.path}: no PEM content, skipped`);
      continue;
    }
    out.push(file.text);
  }
  return out;
}

type YamlOu = { Certificate?: unknown; OrganizationalUnitIdentifier?: unknown };

function optionalString(value: unknown, field: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new FolderError(`config.yaml: ${field} must be a string`);
  return value;
}

function configYaml(
  files: readonly FolderFile[],
  warnings: string[],
): { ous: OuJson[]; nodeOus: NodeOusJson | undefined } {
  const file = files.find((item) => item.path === 'config.yaml');
  if (file === undefined) return { ous: [], nodeOus: undefined };
  let config: Record<string, unknown>;
  try {
    config = (parseYaml(file.text) ?? {}) as Record<string, unknown>;
  } catch (error) {
    throw new FolderError(
      `config.yaml is not valid YAML: ${(error as Error).message.split('\n')[0] ?? ''}`,
    );
  }
  if (typeof config !== 'object' || Array.isArray(config))
    throw new FolderError('config.yaml: (top level) must be a mapping');
  const read = (certPath: string): string | undefined =>
    files.find((item) => item.path === certPath.replace(/^\.\//, ''))?.text;

  const ous: OuJson[] = [];
  const listed = config['OrganizationalUnitIdentifiers'];
  if (listed !== undefined && listed !== null) {
    if (!Array.isArray(listed))
      throw new FolderError('config.yaml: OrganizationalUnitIdentifiers must be a list');
    listed.forEach((item: unknown, index) => {
      const field = `OrganizationalUnitIdentifiers[${index}]`;
      if (typeof item !== 'object' || item === null || Array.isArray(item))
        throw new FolderError(`config.yaml: ${field} must be a mapping`);
      const ou = item as YamlOu;
      const certPath = optionalString(ou.Certificate, `${field}.Certificate`);
      const name = optionalString(
        ou.OrganizationalUnitIdentifier,
        `${field}.OrganizationalUnitIdentifier`,
      );
      const pem = read(certPath);
      if (pem === undefined)
        throw new FolderError(`config.yaml ${field}.Certificate: ${certPath} is not in the folder`);
      ous.push({ organizationalUnitIdentifier: name, certificate: pem });
    });
  }

  const raw = config['NodeOUs'] as Record<string, unknown> | null | undefined;
  if (raw === undefined || raw === null || raw['Enable'] !== true) {
    if (
      raw !== undefined &&
      raw !== null &&
      raw['Enable'] !== undefined &&
      typeof raw['Enable'] !== 'boolean'
    )
      throw new FolderError('config.yaml: NodeOUs.Enable must be true or false');
    return { ous, nodeOus: undefined };
  }
  const nodeOu = (key: string): OuJson | undefined => {
    const value = raw[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'object' || Array.isArray(value))
      throw new FolderError(`config.yaml: NodeOUs.${key} must be a mapping`);
    const item = value as YamlOu;
    const name = optionalString(
      item.OrganizationalUnitIdentifier,
      `NodeOUs.${key}.OrganizationalUnitIdentifier`,
    );
    // Fabric drops a NodeOU whose identifier is empty.
    if (name === '') return undefined;
    const certPath = optionalString(item.Certificate, `NodeOUs.${key}.Certificate`);
    if (certPath === '') return { organizationalUnitIdentifier: name };
    const pem = read(certPath);
    if (pem === undefined) {
      // Fabric only warns when a NodeOU certificate file is missing and pins nothing.
      warnings.push(`config.yaml NodeOUs.${key}.Certificate: ${certPath} not found, not pinned`);
      return { organizationalUnitIdentifier: name };
    }
    return { organizationalUnitIdentifier: name, certificate: pem };
  };
  const entries = [
    ['clientOuIdentifier', nodeOu('ClientOUIdentifier')],
    ['peerOuIdentifier', nodeOu('PeerOUIdentifier')],
    ['adminOuIdentifier', nodeOu('AdminOUIdentifier')],
    ['ordererOuIdentifier', nodeOu('OrdererOUIdentifier')],
  ] as const;
  const nodeOus: Record<string, unknown> = { enable: true };
  for (const [key, value] of entries) if (value !== undefined) nodeOus[key] = value;
  return { ous, nodeOus: nodeOus as NodeOusJson };
}

/** Reads the definition of `mspId` from a folder's files (paths relative to the folder). */
export function mspFromFolder(files: readonly FolderFile[], mspId: string): FolderRead {
  const warnings: string[] = [];
  try {
    const rootCerts = pemFiles(files, 'cacerts', warnings);
    if (rootCerts === undefined || rootCerts.length === 0)
      throw new FolderError(
        'no CA certificate in cacerts/: choose the MSP folder itself (the one holding cacerts/)',
      );
    const tlsRootCerts = pemFiles(files, 'tlscacerts', warnings) ?? [];
    const { ous, nodeOus } = configYaml(files, warnings);
    const definition: MspJson = {
      mspId,
      rootCerts,
      intermediateCerts: pemFiles(files, 'intermediatecerts', warnings) ?? [],
      admins: pemFiles(files, 'admincerts', warnings) ?? [],
      revocationList: pemFiles(files, 'crls', warnings) ?? [],
      organizationalUnitIdentifiers: ous,
      tlsRootCerts,
      tlsIntermediateCerts:
        tlsRootCerts.length > 0 ? (pemFiles(files, 'tlsintermediatecerts', warnings) ?? []) : [],
      ...(nodeOus === undefined ? {} : { nodeOus }),
    };
    return { ok: true, definition, warnings };
  } catch (error) {
    if (error instanceof FolderError) return { ok: false, error: error.message };
    throw error;
  }
}

/**
 * Whether the page reads a file of the chosen folder: everything but the private parts
 * (keystore/, signcerts/), which a definition never holds (config.yaml may name certificates
 * anywhere in the folder).
 */
export function isReadable(relativePath: string): boolean {
  return !relativePath.startsWith('keystore/') && !relativePath.startsWith('signcerts/');
}

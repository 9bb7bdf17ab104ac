// Reading a Fabric MSP folder (Fabric msp/configbuilder.go) into an MspDefinition and, for a
// local MSP, its signing material. This is the IO edge of the MSP domain; setup is pure.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { cofferError, isCofferError } from '../errors/index.js';
import { decodeFirstPem, pemFileBytesMax } from './pem.js';
import type { MspDefinition, NodeOus, OuIdentifier, PemSource, SigningMaterial } from './types.js';

/** Files read from one MSP sub-folder; a bound on what a folder may make us read. */
export const mspFolderFilesMax = 1000;
export const configYamlBytesMax = 256 * 1024;

export type LoadedFolder = {
  readonly definition: MspDefinition;
  readonly signing: SigningMaterial | undefined;
  /** Files Fabric skips with a warning (no PEM content), and NodeOU certificates not found. */
  readonly warnings: readonly string[];
};

type ReadOptions = { readonly warnings: string[]; readonly skipped: string[] };

async function isDirectory(dir: string): Promise<boolean | undefined> {
  try {
    return (await stat(dir)).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function readBounded(file: string, relative: string, bytesMax: number): Promise<Buffer> {
  try {
    const info = await stat(file);
    if (!info.isFile()) {
      // A FIFO or device would block or never end; only regular files belong in an MSP.
      throw cofferError('MSP_E_FILE_UNREADABLE', `${relative} is not a regular file`, {
        file: relative,
      });
    }
    if (info.size > bytesMax) {
      throw cofferError(
        'MSP_E_FILE_UNREADABLE',
        `${relative} is ${info.size} bytes; MSP files are at most ${bytesMax} bytes`,
        { file: relative },
      );
    }
    return await readFile(file);
  } catch (error) {
    if (isCofferError(error)) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
    throw cofferError(
      'MSP_E_FILE_UNREADABLE',
      `${relative} cannot be read (${code})`,
      { file: relative, errno: code },
      error,
    );
  }
}

/**
 * Fabric's getPemMaterialFromDir: files in name order, sub-folders skipped, files without a
 * PEM block skipped with a warning. Unlike Fabric, a file that cannot be read is an error:
 * silently skipping, say, a CRL would weaken revocation.
 */
async function readPemDir(
  root: string,
  sub: string,
  options: ReadOptions,
): Promise<PemSource[] | undefined> {
  const dir = path.join(root, sub);
  const kind = await isDirectory(dir);
  if (kind === undefined) return undefined;
  if (!kind) {
    throw cofferError('MSP_E_FILE_UNREADABLE', `${sub} is a file; Fabric expects a folder`, {
      file: sub,
    });
  }
  const entries = (await readdir(dir, { withFileTypes: true }))
    .filter((entry) => !entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  if (entries.length > mspFolderFilesMax) {
    throw cofferError(
      'MSP_E_FILE_UNREADABLE',
      `${sub} holds ${entries.length} files; at most ${mspFolderFilesMax} are read`,
      { file: sub },
    );
  }
  const out: PemSource[] = [];
  for (const name of entries) {
    const relative = `${sub}/${name}`;
    const text = (await readBounded(path.join(dir, name), relative, pemFileBytesMax)).toString(
      'latin1',
    );
    if (decodeFirstPem(text) === undefined) {
      // Fabric skips such files with a warning. A CRL that looks like PEM but does not decode
      // is refused instead: skipping it would silently weaken revocation.
      if (sub === 'crls' && text.includes('-----BEGIN')) {
        throw cofferError(
          'MSP_E_CRL_INVALID',
          `${relative}: PEM framing with a body that does not decode`,
          {
            file: relative,
          },
        );
      }
      options.warnings.push(`${relative}: no PEM content, skipped`);
      options.skipped.push(relative);
      continue;
    }
    out.push({ source: relative, pem: text });
  }
  return out;
}

type YamlOu = { Certificate?: unknown; OrganizationalUnitIdentifier?: unknown };
type YamlConfig = {
  OrganizationalUnitIdentifiers?: unknown;
  NodeOUs?: {
    Enable?: unknown;
    ClientOUIdentifier?: YamlOu;
    PeerOUIdentifier?: YamlOu;
    AdminOUIdentifier?: YamlOu;
    OrdererOUIdentifier?: YamlOu;
  } | null;
};

function yamlError(field: string, what: string): never {
  throw cofferError('MSP_E_CONFIG_YAML', `config.yaml: ${field} ${what}`, {
    file: 'config.yaml',
    field,
  });
}

function optionalString(value: unknown, field: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') yamlError(field, 'must be a string');
  return value;
}

async function readConfigYaml(
  root: string,
  options: ReadOptions,
): Promise<{ ous: OuIdentifier[]; nodeOus: NodeOus | undefined }> {
  const file = path.join(root, 'config.yaml');
  const kind = await isDirectory(file);
  if (kind === undefined) return { ous: [], nodeOus: undefined };
  const text = (await readBounded(file, 'config.yaml', configYamlBytesMax)).toString('utf8');
  let config: YamlConfig;
  try {
    config = (parseYaml(text) ?? {}) as YamlConfig;
  } catch (error) {
    const where =
      error instanceof YAMLParseError ? ` (line ${error.linePos?.[0].line ?? '?'})` : '';
    throw cofferError(
      'MSP_E_CONFIG_YAML',
      `config.yaml is not valid YAML${where}: ${(error as Error).message.split('\n')[0] ?? ''}`,
      { file: 'config.yaml' },
      error,
    );
  }
  if (typeof config !== 'object' || Array.isArray(config))
    yamlError('(top level)', 'must be a mapping');

  const ous: OuIdentifier[] = [];
  const listed = config.OrganizationalUnitIdentifiers;
  if (listed !== undefined && listed !== null) {
    if (!Array.isArray(listed)) yamlError('OrganizationalUnitIdentifiers', 'must be a list');
    for (const [index, item] of (listed as unknown[]).entries()) {
      const field = `OrganizationalUnitIdentifiers[${index}]`;
      if (typeof item !== 'object' || item === null || Array.isArray(item)) {
        yamlError(field, 'must be a mapping with Certificate and OrganizationalUnitIdentifier');
      }
      const ou = item as YamlOu;
      const certPath = optionalString(ou.Certificate, `${field}.Certificate`);
      const name = optionalString(
        ou.OrganizationalUnitIdentifier,
        `${field}.OrganizationalUnitIdentifier`,
      );
      const relative = certPath;
      let pem: string;
      try {
        pem = (await readBounded(path.join(root, certPath), relative, pemFileBytesMax)).toString(
          'latin1',
        );
      } catch (error) {
        throw cofferError(
          'MSP_E_OU_CERT_MISSING',
          `config.yaml ${field}.Certificate: failed loading OrganizationalUnit certificate at ${certPath}`,
          { file: relative, field: `${field}.Certificate` },
          error,
        );
      }
      ous.push({ certificate: { source: relative, pem }, organizationalUnitIdentifier: name });
    }
  }

  let nodeOus: NodeOus | undefined;
  const raw = config.NodeOUs;
  if (raw !== undefined && raw !== null && raw.Enable === true) {
    const read = async (key: keyof Omit<NonNullable<YamlConfig['NodeOUs']>, 'Enable'>) => {
      const value: unknown = raw[key];
      if (value === undefined || value === null) return undefined;
      if (typeof value !== 'object' || Array.isArray(value))
        yamlError(`NodeOUs.${key}`, 'must be a mapping');
      const item = value as YamlOu;
      const name = optionalString(
        item.OrganizationalUnitIdentifier,
        `NodeOUs.${key}.OrganizationalUnitIdentifier`,
      );
      // Fabric drops a NodeOU whose identifier is empty.
      if (name.length === 0) return undefined;
      const certPath = optionalString(item.Certificate, `NodeOUs.${key}.Certificate`);
      if (certPath.length === 0) return { organizationalUnitIdentifier: name };
      try {
        const pem = (
          await readBounded(path.join(root, certPath), certPath, pemFileBytesMax)
        ).toString('latin1');
        return { organizationalUnitIdentifier: name, certificate: { source: certPath, pem } };
      } catch {
        // Fabric only warns when a NodeOU certificate file is missing and pins nothing.
        options.warnings.push(
          `config.yaml NodeOUs.${key}.Certificate: ${certPath} not found, not pinned`,
        );
        return { organizationalUnitIdentifier: name };
      }
    };
    const client = await read('ClientOUIdentifier');
    const peer = await read('PeerOUIdentifier');
    const admin = await read('AdminOUIdentifier');
    const orderer = await read('OrdererOUIdentifier');
    nodeOus = {
      enable: true,
      ...(client === undefined ? {} : { clientOuIdentifier: client }),
      ...(peer === undefined ? {} : { peerOuIdentifier: peer }),
      ...(admin === undefined ? {} : { adminOuIdentifier: admin }),
      ...(orderer === undefined ? {} : { ordererOuIdentifier: orderer }),
    };
  } else if (
    raw !== undefined &&
    raw !== null &&
    raw.Enable !== undefined &&
    typeof raw.Enable !== 'boolean'
  ) {
    yamlError('NodeOUs.Enable', 'must be true or false');
  }
  return { ous, nodeOus };
}

/**
 * Loads a Fabric MSP folder. `local` also reads signcerts/ and keystore/ (Fabric's
 * GetLocalMspConfig); otherwise only the verifying part (GetVerifyingMspConfig).
 */
export async function readMspFolder(
  dir: string,
  mspId: string,
  local: boolean,
): Promise<LoadedFolder> {
  if ((await isDirectory(dir)) !== true) {
    throw cofferError('MSP_E_DIR_NOT_FOUND', `${dir} is not a folder`, { dir });
  }
  const options: ReadOptions = { warnings: [], skipped: [] };
  let signing: SigningMaterial | undefined;
  if (local) {
    const signcerts = await readPemDir(dir, 'signcerts', options);
    if (signcerts === undefined) {
      throw cofferError(
        'MSP_E_CONFIG_NO_SIGNCERT',
        `could not load signing certificate from directory ${path.join(dir, 'signcerts')}: it does not exist`,
        { dir },
      );
    }
    const [signCert] = signcerts;
    if (signCert === undefined) {
      const skipped = options.skipped.filter((file) => file.startsWith('signcerts/'));
      throw cofferError(
        'MSP_E_CONFIG_NO_SIGNCERT',
        `no signing certificate found in directory ${path.join(dir, 'signcerts')}` +
          (skipped.length > 0 ? ` (skipped, no decodable PEM block: ${skipped.join(', ')})` : ''),
        { dir, skipped },
      );
    }
    const keystore = await readKeystore(dir, options);
    signing = { signCert, keystore };
  }
  const rootCerts = await readPemDir(dir, 'cacerts', options);
  if (rootCerts === undefined) {
    throw cofferError(
      'MSP_E_CONFIG_NO_CACERTS',
      `could not load a valid ca certificate from directory ${path.join(dir, 'cacerts')}: it does not exist`,
      { dir },
    );
  }
  if (rootCerts.length === 0) {
    const skipped = options.skipped.filter((file) => file.startsWith('cacerts/'));
    throw cofferError(
      'MSP_E_CONFIG_NO_CACERTS',
      `no ca certificate found in directory ${path.join(dir, 'cacerts')}` +
        (skipped.length > 0 ? ` (skipped, no decodable PEM block: ${skipped.join(', ')})` : ''),
      { dir, skipped },
    );
  }
  const admins = (await readPemDir(dir, 'admincerts', options)) ?? [];
  const intermediateCerts = (await readPemDir(dir, 'intermediatecerts', options)) ?? [];
  const tlsRootCerts = (await readPemDir(dir, 'tlscacerts', options)) ?? [];
  const tlsIntermediateCerts =
    tlsRootCerts.length > 0 ? ((await readPemDir(dir, 'tlsintermediatecerts', options)) ?? []) : [];
  const revocationList = (await readPemDir(dir, 'crls', options)) ?? [];
  const { ous, nodeOus } = await readConfigYaml(dir, options);
  const definition: MspDefinition = {
    mspId,
    rootCerts,
    intermediateCerts,
    admins,
    revocationList,
    organizationalUnitIdentifiers: ous,
    ...(nodeOus === undefined ? {} : { nodeOus }),
    tlsRootCerts,
    tlsIntermediateCerts,
  };
  return { definition, signing, warnings: options.warnings };
}

async function readKeystore(dir: string, options: ReadOptions): Promise<PemSource[]> {
  return (await readPemDir(dir, 'keystore', options)) ?? [];
}

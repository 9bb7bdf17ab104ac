// `cryptogen generate`: config → keys and certificates → cryptogen's layout on disk.
// Each organisation is built in a hidden staging folder beside its final place and renamed into
// place only when complete, so an interrupted run never leaves a half-written organisation.
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { cofferError, isCofferError } from '../../errors/index.js';
import { createCa, issueLeaf, type CaMaterial } from './certificates.js';
import { checkCryptoConfig, parseCryptoConfig } from './config.js';
import {
  fileMode,
  makeDir,
  moveInto,
  pathExists,
  privateFileMode,
  removeTree,
  syncDir,
  writeFileAtomic,
} from './files.js';
import {
  nodeOuRole,
  orgKindDir,
  orgLayout,
  type IdentityMaterial,
  type OrgMaterial,
} from './layout.js';
import type {
  CryptoConfig,
  GenerateOptions,
  GenerateResult,
  GeneratedOrg,
  OrgSpec,
  UserSpec,
} from './types.js';

/** Generates cryptogen's crypto material for every organisation of the config. */
export async function generateCryptoMaterial(options: GenerateOptions): Promise<GenerateResult> {
  const config: CryptoConfig =
    typeof options.config === 'string' ? parseCryptoConfig(options.config) : options.config;
  checkCryptoConfig(config);
  const now = options.now ?? new Date();
  const outputDir = resolve(options.outputDir);
  const orgs = [...config.peerOrgs, ...config.ordererOrgs];
  const targets = orgs.map((org) => ({
    org,
    parent: join(outputDir, orgKindDir(org.kind)),
    target: join(outputDir, orgKindDir(org.kind), org.domain),
  }));

  // Refuse before writing anything: regenerating would replace CA keys under existing nodes.
  for (const { org, target } of targets) {
    if (await io(() => pathExists(target), target)) {
      throw cofferError(
        'CRYPTOGEN_E_OUTPUT',
        `${target} already exists (${org.configPath}); crypto material is never overwritten. Remove it or choose another output folder`,
        { path: target },
      );
    }
  }

  const staged: { readonly stage: string; readonly target: string }[] = [];
  let files = 0;
  try {
    for (const { org, parent, target } of targets) {
      const material = await orgMaterial(org, now);
      const stage = join(parent, `.${org.domain}.partial-${randomBytes(6).toString('hex')}`);
      await io(() => makeDir(parent), parent);
      staged.push({ stage, target });
      files += await io(() => writeOrg(stage, material), stage);
    }
    for (const { stage, target } of staged) await io(() => moveInto(stage, target), target);
  } catch (error) {
    // Staging folders that were not renamed are incomplete: remove them.
    for (const { stage } of staged) await removeTree(stage).catch(() => undefined);
    throw error;
  }

  const organizations: GeneratedOrg[] = targets.map(({ org, target }) => ({
    kind: org.kind,
    domain: org.domain,
    dir: target,
    nodes: org.nodes.map((node) => node.commonName),
    users: org.users.map((user) => user.commonName),
  }));
  return { outputDir, organizations, files };
}

async function orgMaterial(org: OrgSpec, now: Date): Promise<OrgMaterial> {
  const ca = await createCa({
    commonName: org.ca.commonName,
    organization: org.domain,
    subject: org.ca.subject,
    now,
  });
  const tlsCa = await createCa({
    commonName: org.ca.tlsCommonName,
    organization: org.domain,
    subject: org.ca.subject,
    now,
  });
  const nodes = [];
  for (const node of org.nodes) {
    const identity = await identityMaterial(
      org,
      ca,
      tlsCa,
      node.commonName,
      node.sans,
      undefined,
      now,
    );
    nodes.push({ ...identity, spec: node });
  }
  const users = [];
  for (const user of org.users) {
    // cryptogen gives users no SANs (their NodeSpec is never rendered).
    const identity = await identityMaterial(org, ca, tlsCa, user.commonName, [], user, now);
    users.push({ ...identity, spec: user });
  }
  return { spec: org, ca, tlsCa, nodes, users };
}

async function identityMaterial(
  org: OrgSpec,
  ca: CaMaterial,
  tlsCa: CaMaterial,
  commonName: string,
  sans: readonly string[],
  user: UserSpec | undefined,
  now: Date,
): Promise<IdentityMaterial> {
  const nodeOus = org.enableNodeOUs ? [nodeOuRole(org.kind, user)] : [];
  const sign = await issueLeaf(ca, { kind: 'sign', commonName, nodeOus, sans: [], now });
  const tls = await issueLeaf(tlsCa, { kind: 'tls', commonName, nodeOus: [], sans, now });
  return { sign, tls };
}

/** Writes one organisation into `stage`; returns the number of files written. */
async function writeOrg(stage: string, material: OrgMaterial): Promise<number> {
  await makeDir(stage);
  const dirs = new Set<string>([stage]);
  let files = 0;
  for (const entry of orgLayout(material)) {
    const path = join(stage, entry.path);
    if (entry.kind === 'dir') {
      await makeDir(path);
      dirs.add(path);
      continue;
    }
    const mode = entry.secret ? privateFileMode : fileMode;
    // One fsync per folder at the end instead of one per file.
    await writeFileAtomic(path, entry.contents, mode, { syncDir: false });
    files++;
  }
  for (const dir of dirs) await syncDir(dir);
  return files;
}

/** Runs a file operation, reporting a failure as CRYPTOGEN_E_OUTPUT with the path. */
async function io<T>(operation: () => Promise<T>, path: string): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (isCofferError(error)) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw cofferError('CRYPTOGEN_E_OUTPUT', `cannot write ${path}: ${reason}`, { path }, error);
  }
}

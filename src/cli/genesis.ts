// Genesis configuration (issue 6): `coffer network init` writes it from the organisations' MSP
// folders (their verifying parts only: no private key is read), the members whose admins vote,
// the initial nodes with the code id they run, the constitution and the service settings.
// `coffer up` and `coffer network up` write one the same way when their folder has none.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cofferError } from '../errors/index.js';
import {
  checkGenesis,
  mergeMspDefinitions,
  mspDefinitionJson,
  type GovConfig,
} from '../governance/index.js';
import { readMspFolder, type MspDefinition } from '../msp/index.js';
import { computeCodeId } from '../node/attestation.js';
import type { CommandIo } from './main.js';

export type GenesisInput = {
  /** MSP folders (the verifying part is read: cacerts, intermediatecerts, admincerts, crls, config.yaml, tls…). */
  readonly msps: readonly { readonly dir: string; readonly mspId: string }[];
  /** MSP IDs whose admins vote; default every MSP. */
  readonly members?: readonly string[];
  /** Initial nodes: node id, the MSP of its peer identity, and where peers reach it. */
  readonly nodes: readonly {
    readonly nodeId: string;
    readonly mspId: string;
    readonly url?: string;
  }[];
  /** Code id the initial nodes run (allowed at genesis); default this build's. */
  readonly codeId?: string;
  /** A Fabric-syntax signature policy over the members' admins instead of the majority rule. */
  readonly constitutionPolicy?: string;
};

/** Builds and checks a genesis configuration (duplicate MSP IDs: identical merged, else refused). */
export async function buildGenesis(input: GenesisInput): Promise<GovConfig> {
  const definitions: MspDefinition[] = [];
  for (const { dir, mspId } of input.msps) {
    const folder = await readMspFolder(dir, mspId, false);
    definitions.push(folder.definition);
  }
  const merged = mergeMspDefinitions(definitions);
  const codeId = input.codeId ?? (await computeCodeId());
  const msps = Object.fromEntries(
    Object.entries(merged).map(([mspId, definition]) => [mspId, mspDefinitionJson(definition)]),
  );
  return checkGenesis({
    msps,
    members: input.members ?? Object.keys(msps),
    codes: [codeId],
    nodes: Object.fromEntries(
      input.nodes.map((node) => [
        node.nodeId,
        {
          nodeId: node.nodeId,
          mspId: node.mspId,
          codeId,
          status: 'admitted',
          ...(node.url === undefined ? {} : { url: node.url }),
        },
      ]),
    ),
    ...(input.constitutionPolicy === undefined
      ? {}
      : { constitution: { kind: 'policy', policy: input.constitutionPolicy } }),
  });
}

export const initUsage = `Usage: coffer network init --msp-dir DIR=MSPID... --node NODEID=MSPID[@URL]...
                           [--member MSPID]... [--code-id HEX] [--policy POLICY]
                           [--out FILE] [--json]

Writes the genesis configuration of a consortium (default ./genesis.json): the verifying part
of each organisation's MSP folder (no private keys), the members whose admins vote (default:
every MSP), the initial nodes (with the https://host:port their peers reach them at) and the code id they run (default: this build's), and the
constitution (default: a strict majority of member organisations; --policy gives a Fabric
signature policy over their admins, e.g. "OutOf(2, 'Org1MSP.admin', 'Org2MSP.admin')").
An MSP ID given twice is merged when both folders define the same MSP, refused otherwise.`;

function pairs(values: unknown, flag: string): { left: string; right: string }[] {
  return ((values as string[] | undefined) ?? []).map((value) => {
    const at = value.lastIndexOf('=');
    if (at <= 0 || at === value.length - 1) {
      throw cofferError('CLI_E_USAGE', `${flag} takes LEFT=RIGHT, not "${value}"\n\n${initUsage}`);
    }
    return { left: value.slice(0, at), right: value.slice(at + 1) };
  });
}

/** `coffer network init`. */
export async function networkInit(args: readonly string[], io: CommandIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        'msp-dir': { type: 'string', multiple: true },
        node: { type: 'string', multiple: true },
        member: { type: 'string', multiple: true },
        'code-id': { type: 'string' },
        policy: { type: 'string' },
        out: { type: 'string', default: 'genesis.json' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      allowPositionals: false,
    }));
  } catch (error) {
    throw cofferError('CLI_E_USAGE', `${(error as Error).message}\n\n${initUsage}`);
  }
  if (values.help) {
    io.stdout(initUsage);
    return 0;
  }
  const msps = pairs(values['msp-dir'], '--msp-dir').map(({ left, right }) => ({
    dir: path.resolve(left),
    mspId: right,
  }));
  if (msps.length === 0) throw cofferError('CLI_E_USAGE', `give --msp-dir\n\n${initUsage}`);
  const config = await buildGenesis({
    msps,
    nodes: pairs(values.node, '--node').map(({ left, right }) => {
      const at = right.indexOf('@');
      return at < 0
        ? { nodeId: left, mspId: right }
        : { nodeId: left, mspId: right.slice(0, at), url: right.slice(at + 1) };
    }),
    ...(values.member === undefined ? {} : { members: values.member }),
    ...(values['code-id'] === undefined ? {} : { codeId: values['code-id'] }),
    ...(values.policy === undefined ? {} : { constitutionPolicy: values.policy }),
  });
  const out = path.resolve(values.out);
  await writeFile(out, `${JSON.stringify(config, null, 2)}\n`, { flag: 'wx' }).catch(
    (error: unknown) => {
      throw cofferError(
        (error as NodeJS.ErrnoException).code === 'EEXIST'
          ? 'CLI_E_USAGE'
          : 'CLI_E_FILE_UNREADABLE',
        (error as NodeJS.ErrnoException).code === 'EEXIST'
          ? `${out} exists: a genesis is written once (remove it to start a new consortium)`
          : `${out} cannot be written: ${String(error)}`,
        { file: out },
      );
    },
  );
  const summary = {
    file: out,
    msps: Object.keys(config.msps),
    members: config.members,
    nodes: Object.keys(config.nodes),
    codes: config.codes,
    constitution: config.constitution,
  };
  if (values.json) io.stdout(JSON.stringify(summary));
  else {
    io.stdout(
      [
        `genesis written to ${out}`,
        `  MSPs:         ${summary.msps.join(', ')}`,
        `  members:      ${summary.members.join(', ')} (their admins vote)`,
        `  nodes:        ${summary.nodes.join(', ') || '(none)'}`,
        `  code ids:     ${summary.codes.join(', ')}`,
        `  constitution: ${config.constitution.kind === 'policy' ? config.constitution.policy : config.constitution.kind}`,
      ].join('\n'),
    );
  }
  return 0;
}

// `coffer up`: a local consortium on embedded defaults. So far (issue 2) it creates the
// organisations' crypto material with cryptogen's layout, loads every organisation MSP and
// every node's local MSP, and checks that identities validate and sign. The ledger node,
// ordering and custody join this command as they land.
import { access, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cofferError } from '../errors/index.js';
import { generateCryptoMaterial } from '../msp/cryptogen/index.js';
import { loadMspFolder } from '../msp/index.js';
import type { Command } from './main.js';

/** Organisations `coffer up` creates by default, and the most it accepts. */
export const defaultOrgCount = 3;
export const upOrgsMax = 16;

const upUsage = `Usage: coffer up [--dir DIR] [--orgs N] [--json]

Creates (once) and checks a local consortium in DIR (default ./.coffer): N organisations
(default ${defaultOrgCount}) with Fabric-layout crypto material, every MSP loaded and verified.`;

function defaultCryptoConfig(orgs: number): string {
  const lines = ['PeerOrgs:'];
  for (let i = 1; i <= orgs; i += 1) {
    lines.push(
      `  - Name: Org${i}`,
      `    Domain: org${i}.coffer.local`,
      '    EnableNodeOUs: true',
      '    Template:',
      '      Count: 1',
      '    Users:',
      '      Count: 1',
    );
  }
  return `${lines.join('\n')}\n`;
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

type OrgReport = {
  mspId: string;
  domain: string;
  /** 'ok', or the error that stopped the organisation MSP from loading. */
  msp: string;
  identities: { name: string; role: string | null; valid: boolean; signs: boolean }[];
};

export const upCommand: Command = async (args, io) => {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: {
        dir: { type: 'string', default: '.coffer' },
        orgs: { type: 'string', default: String(defaultOrgCount) },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    throw cofferError('CLI_E_USAGE', `${(error as Error).message}\n\n${upUsage}`);
  }
  const { values } = parsed;
  if (values.help) {
    io.stdout(upUsage);
    return 0;
  }
  const orgs = Number(values.orgs);
  if (!Number.isInteger(orgs) || orgs < 1 || orgs > upOrgsMax) {
    throw cofferError('CLI_E_USAGE', `--orgs must be an integer from 1 to ${upOrgsMax}`);
  }
  const dir = path.resolve(values.dir);
  const cryptoDir = path.join(dir, 'crypto');
  const configFile = path.join(dir, 'crypto-config.yaml');
  await mkdir(dir, { recursive: true });
  if (!(await exists(configFile))) await writeFile(configFile, defaultCryptoConfig(orgs));
  if (!(await exists(cryptoDir))) {
    await generateCryptoMaterial({
      config: await readFile(configFile, 'utf8'),
      outputDir: cryptoDir,
    });
    io.stderr(`created crypto material in ${cryptoDir}`);
  }

  const reports: OrgReport[] = [];
  const peerOrgsDir = path.join(cryptoDir, 'peerOrganizations');
  for (const domain of (await readdir(peerOrgsDir)).sort()) {
    const orgDir = path.join(peerOrgsDir, domain);
    const mspId = `${domain.split('.')[0]?.replace(/^./, (c) => c.toUpperCase()) ?? domain}MSP`;
    const orgMsp = await loadMspFolder(path.join(orgDir, 'msp'), { mspId });
    const report: OrgReport = {
      mspId,
      domain,
      msp: orgMsp.ok ? 'ok' : `${orgMsp.error.code}: ${orgMsp.error.message}`,
      identities: [],
    };
    reports.push(report);
    if (!orgMsp.ok) continue;
    const locals = [
      ...(await readdir(path.join(orgDir, 'peers'))).map((name) =>
        path.join(orgDir, 'peers', name, 'msp'),
      ),
      ...(await readdir(path.join(orgDir, 'users'))).map((name) =>
        path.join(orgDir, 'users', name, 'msp'),
      ),
    ];
    for (const localDir of locals) {
      const local = await loadMspFolder(localDir, { mspId, local: true });
      const name = path.basename(path.dirname(localDir));
      const signer = local.ok ? local.msp.signingIdentity : undefined;
      const signCertPem = local.folder?.signing?.signCert.pem;
      if (signer === undefined || signCertPem === undefined) {
        report.identities.push({ name, role: null, valid: false, signs: false });
        continue;
      }
      // The organisation MSP (what the consortium stores) must accept what the node signs.
      const identity = orgMsp.msp.deserializeIdentity(mspId, signCertPem);
      if (!identity.ok) {
        report.identities.push({ name, role: null, valid: false, signs: false });
        continue;
      }
      const validation = orgMsp.msp.validate(identity.identity);
      const message = Buffer.from(`coffer up ${name}`);
      const signs = orgMsp.msp.verify(identity.identity, message, signer.sign(message)).ok;
      report.identities.push({ name, role: validation.role, valid: validation.valid, signs });
    }
  }
  const healthy = reports.every(
    (report) => report.msp === 'ok' && report.identities.every((item) => item.valid && item.signs),
  );
  if (values.json) {
    io.stdout(JSON.stringify({ dir, organizations: reports, healthy }));
  } else {
    const lines = [`Coffer consortium in ${dir}`];
    for (const report of reports) {
      lines.push(`  ${report.mspId} (${report.domain}): MSP ${report.msp}`);
      for (const item of report.identities) {
        lines.push(
          `    ${item.valid && item.signs ? 'ok     ' : 'PROBLEM'} ${item.name} role=${item.role ?? '-'} valid=${item.valid} signs=${item.signs}`,
        );
      }
    }
    lines.push(
      healthy
        ? 'All organisations and identities verified.'
        : 'Some identities failed verification.',
      'Ledger nodes, ordering and custody are not part of this build yet (issues 3-10).',
    );
    io.stdout(lines.join('\n'));
  }
  return healthy ? 0 : 1;
};

// Code identity (issue 6; the Coco seed's attestation): a node says which code it runs as a
// code id, the SHA-256 over its compiled code and its dependency lockfile, and the consortium
// admits only code ids it allowed. Attestation is an interface: a TEE provider (e.g. AMD SEV-SNP)
// would return a hardware-signed report binding the code id; this machine has no TEE, so the
// default provider is `virtual`: the code id is computed and reported, and nothing proves it to
// others. The node's status says so plainly (decision 0018).
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cofferError } from '../errors/index.js';

/** Files hashed into a code id at most (a runaway tree is refused, not hashed forever). */
export const codeFilesMax = 10_000;

export type Attestation = {
  /** `virtual`: no hardware evidence (no TEE here); a TEE provider names itself. */
  readonly provider: string;
  /** Lower-case hex SHA-256 of the code (computeCodeId). */
  readonly codeId: string;
  /** Provider evidence binding the code id (e.g. a SEV-SNP report, base64); none for virtual. */
  readonly evidence?: string;
  /** What the provider proves, in one sentence for operators. */
  readonly note: string;
};

export type AttestationProvider = {
  readonly name: string;
  readonly attest: () => Promise<Attestation>;
};

/** The repository (or installed package) root: dist/node/attestation.js is two levels down. */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function filesUnder(dir: string, base: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await filesUnder(full, base, out);
    else if (entry.isFile() && /\.(js|mjs|cjs|json)$/.test(entry.name))
      out.push(path.relative(base, full));
    if (out.length > codeFilesMax) {
      throw cofferError(
        'NODE_E_FAILED',
        `more than ${codeFilesMax} code files under ${base}: not a Coffer build`,
      );
    }
  }
}

/**
 * SHA-256 over the compiled code (`dist/**`, by relative path, sorted) and `package-lock.json`:
 * the same build with the same dependencies gives the same id on every machine.
 */
export async function computeCodeId(root: string = packageRoot): Promise<string> {
  const files: string[] = [];
  await filesUnder(path.join(root, 'dist'), root, files);
  files.sort();
  files.push('package-lock.json');
  const hash = createHash('sha256');
  for (const file of files) {
    const bytes = await readFile(path.join(root, file));
    // Length-prefixed name and content: no two file sets hash alike by shifting bytes.
    const name = Buffer.from(file.split(path.sep).join('/'), 'utf8');
    const header = Buffer.alloc(16);
    header.writeBigUInt64BE(BigInt(name.byteLength), 0);
    header.writeBigUInt64BE(BigInt(bytes.byteLength), 8);
    hash.update(header).update(name).update(bytes);
  }
  return hash.digest('hex');
}

/** The default provider: reports the code id, proves nothing (there is no TEE here). */
export function virtualAttestation(root: string = packageRoot): AttestationProvider {
  let cached: Promise<string> | undefined;
  return {
    name: 'virtual',
    attest: async () => ({
      provider: 'virtual',
      codeId: await (cached ??= computeCodeId(root)),
      note: 'virtual attestation: the code id is computed by the node itself and not proven by hardware (no TEE on this machine); peers take it on trust',
    }),
  };
}

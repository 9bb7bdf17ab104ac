// Code identity: the code id is a function of the compiled code and the lockfile only, and any
// change to either changes it; the virtual provider says it proves nothing.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeCodeId, virtualAttestation } from '../../src/node/attestation.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'coffer-codeid-'));
  await mkdir(path.join(root, 'dist', 'node'), { recursive: true });
  await writeFile(path.join(root, 'dist', 'node', 'a.js'), 'export const a = 1;\n');
  await writeFile(path.join(root, 'dist', 'b.js'), 'export const b = 2;\n');
  await writeFile(path.join(root, 'dist', 'b.js.map'), '{"ignored":true}');
  await writeFile(path.join(root, 'package-lock.json'), '{"lockfileVersion":3}');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('code id', () => {
  it('is the same for the same files, and changes with any code file or the lockfile', async () => {
    const first = await computeCodeId(root);
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(await computeCodeId(root)).toBe(first);
    // A source map is not code: it does not count.
    await writeFile(path.join(root, 'dist', 'b.js.map'), '{"changed":true}');
    expect(await computeCodeId(root)).toBe(first);
    await writeFile(path.join(root, 'dist', 'b.js'), 'export const b = 3;\n');
    const second = await computeCodeId(root);
    expect(second).not.toBe(first);
    await writeFile(path.join(root, 'package-lock.json'), '{"lockfileVersion":3,"x":1}');
    expect(await computeCodeId(root)).not.toBe(second);
  });

  it('the virtual provider reports the code id and says nothing proves it', async () => {
    const attestation = await virtualAttestation(root).attest();
    expect(attestation.provider).toBe('virtual');
    expect(attestation.codeId).toBe(await computeCodeId(root));
    expect(attestation.evidence).toBeUndefined();
    expect(attestation.note).toMatch(/not proven by hardware/);
  });
});

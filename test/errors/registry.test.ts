// Keeps the error-code registry, docs/errors.md and the source in step (STYLE.md 7).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CofferError, cofferError, errorRegistry, type ErrorCode } from '../../src/errors/index.js';

const root = path.resolve(import.meta.dirname, '../..');
const docs = readFileSync(path.join(root, 'docs/errors.md'), 'utf8');
const codes = Object.keys(errorRegistry) as ErrorCode[];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sourceFiles(full) : full.endsWith('.ts') ? [full] : [];
  });
}

describe('error registry', () => {
  it('every code has the DOMAIN_E_NAME shape and a class name, summary and fix', () => {
    for (const code of codes) {
      const spec = errorRegistry[code];
      expect(code).toMatch(/^[A-Z0-9]+_E_[A-Z0-9_]+$/);
      expect(spec.className).toMatch(/^[A-Z][A-Za-z]+Error$/);
      expect(spec.summary.length, code).toBeGreaterThan(10);
      expect(spec.fix.length, code).toBeGreaterThan(10);
    }
  });

  it('docs/errors.md has exactly one line per code, with its class, summary and fix', () => {
    for (const code of codes) {
      const spec = errorRegistry[code];
      expect(docs, code).toContain(
        `- \`${code}\` (${spec.className}): ${spec.summary} — ${spec.fix}`,
      );
    }
    const documented = [...docs.matchAll(/^- `([A-Z0-9_]+_E_[A-Z0-9_]+)`/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual([...codes].sort());
  });

  it('every code the source raises is registered', () => {
    const used = new Set<string>();
    for (const file of sourceFiles(path.join(root, 'src'))) {
      if (file.endsWith(path.join('errors', 'registry.ts'))) continue;
      for (const match of readFileSync(file, 'utf8').matchAll(/'([A-Z0-9]+_E_[A-Z0-9_]+)'/g)) {
        if (match[1] !== undefined) used.add(match[1]);
      }
    }
    expect(used.size).toBeGreaterThan(20);
    for (const code of used)
      expect(codes, `${code} is used in src/ but not registered`).toContain(code);
  });

  it('errors carry code, class name, fix and details, and serialise without a stack', () => {
    const error = cofferError('MSP_E_CA_NOT_CA', 'cacerts/x.pem: not a CA', {
      file: 'cacerts/x.pem',
    });
    expect(error).toBeInstanceOf(CofferError);
    expect(error.name).toBe('MspSetupError');
    expect(error.code).toBe('MSP_E_CA_NOT_CA');
    expect(error.fix).toBe(errorRegistry.MSP_E_CA_NOT_CA.fix);
    const json = JSON.stringify(error);
    expect(JSON.parse(json)).toEqual({
      code: 'MSP_E_CA_NOT_CA',
      name: 'MspSetupError',
      message: 'cacerts/x.pem: not a CA',
      fix: errorRegistry.MSP_E_CA_NOT_CA.fix,
      details: { file: 'cacerts/x.pem' },
    });
    expect(json).not.toContain('    at ');
  });
});

// `coffer app build`: a TypeScript (or JavaScript) project → an app bundle. esbuild bundles
// the entry point and its imports into one CommonJS script, leaving `@coffer/app` to the
// sandbox; the manifest comes from app.json. The bundle is checked exactly as an install
// checks it, so a build that succeeds installs (decision 0014).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';
import { cofferError } from '../../errors/index.js';
import { exportedFunctions } from './installed.js';
import { bundleFormat, compileBundle, type Bundle } from './manifest.js';

/** app.json: the manifest, plus where the code starts. */
export const manifestFile = 'app.json';
export const defaultEntry = 'src/index.ts';

export async function buildApp(dir: string): Promise<Bundle> {
  const manifestPath = path.join(dir, manifestFile);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(manifestPath, 'utf8'));
  } catch (error) {
    throw cofferError(
      'APP_E_BUNDLE_INVALID',
      `${manifestPath} cannot be read as JSON: ${(error as Error).message}`,
      { field: manifestFile },
    );
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw cofferError('APP_E_BUNDLE_INVALID', `${manifestPath} must hold a JSON object`, {
      field: manifestFile,
    });
  }
  const { main, ...manifest } = raw as Record<string, unknown>;
  if (main !== undefined && typeof main !== 'string') {
    throw cofferError('APP_E_BUNDLE_INVALID', `${manifestFile}: main must be a path`, {
      field: 'main',
    });
  }
  const entry = path.resolve(dir, main ?? defaultEntry);
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'cjs',
    platform: 'neutral',
    target: 'es2020',
    external: ['@coffer/app'],
    write: false,
    charset: 'utf8',
    legalComments: 'none',
    logLevel: 'silent',
    minifySyntax: true,
    minifyWhitespace: true,
  }).catch((error: unknown) => {
    const message = (
      error as { errors?: { text: string; location?: { file: string; line: number } | null }[] }
    ).errors
      ?.map(
        (item) =>
          `${item.location ? `${item.location.file}:${item.location.line}: ` : ''}${item.text}`,
      )
      .join('; ');
    throw cofferError(
      'APP_E_BUNDLE_INVALID',
      `${entry} does not build: ${message ?? String(error)}`,
      {
        field: 'main',
      },
    );
  });
  const code = result.outputFiles[0]?.text ?? '';
  const compiled = compileBundle({ format: bundleFormat, manifest, code });
  const exported = new Set(exportedFunctions(compiled, 'query'));
  for (const endpoint of compiled.endpoints.keys()) {
    if (!exported.has(endpoint)) {
      throw cofferError(
        'APP_E_BUNDLE_INVALID',
        `${entry} exports no function ${endpoint}, which ${manifestFile} declares`,
        { field: `endpoints.${endpoint}` },
      );
    }
  }
  return compiled.bundle;
}

// `coffer app`: build a sandboxed app bundle from a TypeScript project, install it as a
// transaction, and call its endpoints (decision 0014).
import { request as httpsRequest } from 'node:https';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from '../contracts/sandbox/build.js';
import { compileBundle } from '../contracts/index.js';
import { cofferError, errorRegistry, isCofferError, type ErrorCode } from '../errors/index.js';
import type { Command } from './main.js';
import { clientFromProfile, defaultProfile, type ClientProfile } from './profile.js';

const usage = `Usage:
  coffer app build DIR [--out FILE] [--json]     bundle DIR (app.json + src/index.ts) with esbuild
  coffer app install BUNDLE [--profile FILE]     install or upgrade it (an MSP admin signs; in a governed
                                                 consortium, a gov proposal other members vote on)
  coffer app call NAME ENDPOINT [--args JSON] [--profile FILE]
                                                 readonly: a query; readwrite: a signed transaction
  coffer app list [--profile FILE]               installed apps and their endpoints
The default bundle file is DIR/<name>-<version>.bundle.json.`;

/** Largest answer read from the node for list and readonly calls. */
const responseBytesMax = 8 * 1024 * 1024;

function parse(args: readonly string[]) {
  try {
    return parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        out: { type: 'string' },
        args: { type: 'string', default: '{}' },
        profile: { type: 'string', default: defaultProfile },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    throw cofferError('CLI_E_USAGE', `${(error as Error).message}\n\n${usage}`);
  }
}

function jsonObject(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw cofferError('CLI_E_USAGE', `${what} must be a JSON object`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw cofferError('CLI_E_USAGE', `${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** One HTTPS call to the node with the profile's credentials (GET /app, POST /app/...). */
async function nodeRequest(
  profileFile: string,
  method: string,
  urlPath: string,
  body?: unknown,
): Promise<unknown> {
  const profile = jsonObject(await readFile(profileFile, 'utf8'), profileFile) as ClientProfile;
  const [ca, cert, key] = await Promise.all(
    [profile.caFile, profile.tlsCertFile, profile.tlsKeyFile].map((file) => readFile(file, 'utf8')),
  );
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const url = new URL(urlPath, profile.url);
    const request = httpsRequest(
      url,
      {
        method,
        ca,
        cert,
        key,
        servername: profile.servername,
        headers: payload === undefined ? {} : { 'content-type': 'application/json' },
      },
      (response) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        response.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > responseBytesMax) request.destroy(new Error('answer too large'));
          else chunks.push(chunk);
        });
        response.on('end', () => {
          try {
            const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
              error?: { code: string; message: string };
            };
            if ((response.statusCode ?? 500) >= 400 && parsed.error !== undefined) {
              const code = parsed.error.code;
              reject(
                code in errorRegistry
                  ? cofferError(code as ErrorCode, parsed.error.message)
                  : new Error(`${code}: ${parsed.error.message}`),
              );
            } else resolve(parsed);
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

type Listed = { apps: { name: string; endpoints: Record<string, { mode: string }> }[] };

export const appCommand: Command = async (args, io) => {
  const { values, positionals } = parse(args);
  const [sub, first, second] = positionals;
  if (values.help || sub === undefined) {
    io.stdout(usage);
    return values.help ? 0 : 2;
  }
  if (sub === 'build') {
    if (first === undefined || positionals.length > 2) {
      throw cofferError('CLI_E_USAGE', `expected app build DIR\n\n${usage}`);
    }
    const bundle = await buildApp(first);
    const text = `${JSON.stringify(bundle, null, 2)}\n`;
    const { name, version } = bundle.manifest;
    const out = values.out ?? path.join(first, `${name}-${version}.bundle.json`);
    await writeFile(out, text);
    const summary = {
      name,
      version,
      digest: compileBundle(bundle).digest,
      endpoints: Object.keys(bundle.manifest.endpoints),
      codeBytes: Buffer.byteLength(bundle.code),
      out,
    };
    io.stdout(
      values.json
        ? JSON.stringify(summary)
        : `built ${name} ${version} → ${out} (${summary.codeBytes} bytes of code)`,
    );
    return 0;
  }
  if (sub === 'list') {
    io.stdout(JSON.stringify(await nodeRequest(values.profile, 'GET', '/app'), null, 2));
    return 0;
  }
  if (sub === 'install') {
    if (first === undefined || positionals.length > 2) {
      throw cofferError('CLI_E_USAGE', `expected app install BUNDLE\n\n${usage}`);
    }
    const bundle = jsonObject(await readFile(first, 'utf8'), first);
    const client = await clientFromProfile(values.profile);
    try {
      // A governed consortium installs apps by proposal: the admin's proposal counts as its
      // organisation's yes; other members vote with `coffer gov vote`.
      const governed = await client.query('gov', 'config').then(
        () => true,
        (error: unknown) => {
          if (isCofferError(error, 'TX_E_UNKNOWN_APP')) return false;
          // The gov app answers before genesis too; anything else is a real failure.
          if (isCofferError(error) && error.code.startsWith('GOV_E_')) return false;
          throw error;
        },
      );
      const result = governed
        ? await client.submit(
            'gov',
            'propose',
            { actions: [{ name: 'install_app', args: { bundle } }] },
            { wait: 'commit' },
          )
        : await client.submit('apps', 'install', { bundle }, { wait: 'commit' });
      io.stdout(JSON.stringify(governed ? { governed, ...result } : result, null, 2));
      return result.status === 'Committed' ? 0 : 1;
    } finally {
      client.close();
    }
  }
  if (sub === 'call') {
    if (first === undefined || second === undefined || positionals.length > 3) {
      throw cofferError('CLI_E_USAGE', `expected app call NAME ENDPOINT\n\n${usage}`);
    }
    const callArgs = jsonObject(values.args, '--args');
    const listed = (await nodeRequest(values.profile, 'GET', '/app')) as Listed;
    const endpoint = listed.apps.find((item) => item.name === first)?.endpoints[second];
    if (endpoint === undefined) {
      throw cofferError('TX_E_UNKNOWN_APP', `no installed app endpoint ${first}/${second}`);
    }
    if (endpoint.mode === 'readonly') {
      const answer = await nodeRequest(values.profile, 'POST', `/app/${first}/${second}`, {
        args: callArgs,
      });
      io.stdout(JSON.stringify(answer, null, 2));
      return 0;
    }
    const client = await clientFromProfile(values.profile);
    try {
      const result = await client.submit(first, second, callArgs, { wait: 'commit' });
      io.stdout(JSON.stringify(result, null, 2));
      return result.status === 'Committed' ? 0 : 1;
    } finally {
      client.close();
    }
  }
  throw cofferError('CLI_E_USAGE', `unknown app command ${sub}\n\n${usage}`);
};

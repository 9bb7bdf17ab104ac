// Calls to the node that serves the page, as the signed-in person: the session's bearer token
// (never a cookie, so no other site can ride it) or the browser's client certificate.
import canonicalize from 'canonicalize';
import { toBase64, utf8 } from './bytes.js';
import { signRequest } from './envelope.js';
import type { SigningIdentity } from './identity.js';

/** An error the node answered ({error: {code, message, fix}}), or a network failure. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly fix: string,
    readonly status: number,
  ) {
    super(message);
  }
}

let token: string | undefined = sessionStorage.getItem('coffer.session') ?? undefined;

export function setToken(value: string | undefined): void {
  token = value;
  if (value === undefined) sessionStorage.removeItem('coffer.session');
  else sessionStorage.setItem('coffer.session', value);
}

/** Longest wait for any call: a commit wait is at most 30 s on the node. */
const callTimeoutMs = 40_000;

export async function api<T>(
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(callTimeoutMs),
    });
  } catch (error) {
    throw new ApiError(
      'CONSOLE_NETWORK',
      `the node did not answer (${String(error)})`,
      'Check that the node runs and this page is served by it; then retry.',
      0,
    );
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new ApiError(
      'CONSOLE_BAD_ANSWER',
      `the node answered ${response.status} without JSON`,
      'Retry; if it persists, read the node log.',
      response.status,
    );
  }
  if (!response.ok) {
    const error = (json as { error?: { code?: string; message?: string; fix?: string } }).error;
    throw new ApiError(
      error?.code ?? `HTTP_${response.status}`,
      error?.message ?? `the node answered ${response.status}`,
      error?.fix ?? '',
      response.status,
    );
  }
  return json as T;
}

/** A transaction's outcome: what POST /v1/tx?wait=commit answers. */
export type TxOutcome = {
  readonly txId: string;
  readonly status: 'Unknown' | 'Pending' | 'Committed' | 'Invalid';
  readonly code?: string;
  readonly message?: string;
  readonly result?: unknown;
};

/** Signs a request in the page and submits it, waiting for its commit. */
export async function submit(
  identity: SigningIdentity,
  app: string,
  action: string,
  args: Readonly<Record<string, unknown>>,
): Promise<TxOutcome> {
  const signed = signRequest(identity, app, action, args);
  return api<TxOutcome>('POST', '/v1/tx?wait=commit&timeoutMs=30000', signed.envelope);
}

/** Runs an app's read-only query. */
export async function query<T>(
  app: string,
  name: string,
  args: Record<string, unknown> = {},
): Promise<T> {
  return (await api<{ result: T }>('POST', '/v1/query', { app, query: name, args })).result;
}

export type Caller = { mspId: string; identityId: string; role: string | null; isAdmin: boolean };

/** Signs in: a challenge from the node, signed in the page, for a session token. */
export async function signIn(
  identity: SigningIdentity,
): Promise<{ caller: Caller; nodeId: string; expiresAt: number }> {
  const challenge = await api<{ challenge: string; nodeId: string; type: string }>(
    'POST',
    '/v1/console/challenge',
  );
  const statement = canonicalize({
    type: challenge.type,
    challenge: challenge.challenge,
    nodeId: challenge.nodeId,
  });
  if (statement === undefined) throw new TypeError('the sign-in statement cannot be encoded');
  const session = await api<{ token: string; expiresAt: number; caller: Caller }>(
    'POST',
    '/v1/console/session',
    {
      mspId: identity.mspId,
      cert: identity.certPem,
      challenge: challenge.challenge,
      signature: toBase64(identity.sign(utf8.encode(statement))),
    },
  );
  setToken(session.token);
  return { caller: session.caller, nodeId: challenge.nodeId, expiresAt: session.expiresAt };
}

export async function signOut(): Promise<void> {
  try {
    await api('DELETE', '/v1/console/session');
  } finally {
    setToken(undefined);
  }
}

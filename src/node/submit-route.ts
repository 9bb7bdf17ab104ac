// POST /v1/tx, the route that carries a node's load: its answer to one envelope (one function
// for both paths) and a direct path that answers plain submissions from Node's request handler,
// without Fastify's request pipeline (decision 0039). Anything the direct path does not take
// (another route, an unusual query or header, a body without a length) goes to Fastify, so
// the answers are Fastify's wherever the two could differ. A check added to the route in
// api.ts (a hook, a header, a schema) must be added here too, or make `take` decline.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { AjvCompiler } from '@fastify/ajv-compiler';
import secureJsonParse from 'secure-json-parse';
import { cofferError, isCofferError, type CofferError } from '../errors/index.js';
import { envelopeFromJson, type Envelope } from '../ledger/tx.js';
import type { Engine } from './engine.js';

/** `?wait=commit` (answer once the outcome is known, at most timeoutMs) or not. */
export type WaitQuery = { readonly wait: 'none' | 'commit'; readonly timeoutMs: number };

/** An HTTP answer: status code, JSON body, and a Retry-After for refusals worth retrying. */
export type Answer = {
  readonly statusCode: number;
  readonly body: object;
  readonly retryAfterMs?: number;
};

/** The answer for an error: its HTTP status from the API's table, the body {error}. */
export type ErrorAnswer = (error: CofferError, retryAfterMs?: number) => Answer;

/** Retry-After's whole seconds for a wait in ms (at least 1). */
export function retryAfterSeconds(retryAfterMs: number): string {
  return String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
}

/** Writes `answer` as JSON with its Retry-After, and any `headers` besides, from Node's handler. */
export function writeAnswer(
  response: ServerResponse,
  answer: Answer,
  headers: OutgoingHttpHeaders = {},
): void {
  const payload = JSON.stringify(answer.body);
  response.writeHead(answer.statusCode, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    ...(answer.retryAfterMs === undefined
      ? {}
      : { 'retry-after': retryAfterSeconds(answer.retryAfterMs) }),
    ...headers,
  });
  response.end(payload);
}

/**
 * The answer of POST /v1/tx to one envelope's JSON: 202 Pending, or with wait=commit 200
 * Committed/Invalid (202 Pending after the timeout, or at `deadline` (ms since the epoch) when
 * given: a batch's one deadline), or the refusal.
 */
export async function answerSubmit(
  engine: Engine,
  json: unknown,
  query: WaitQuery,
  errorAnswer: ErrorAnswer,
  deadline?: number,
): Promise<Answer> {
  let envelope: Envelope;
  try {
    envelope = envelopeFromJson(json);
  } catch (error) {
    if (isCofferError(error)) return errorAnswer(error);
    throw error;
  }
  const submitted = await engine.submit(envelope);
  if (!submitted.ok) return errorAnswer(submitted.error, submitted.retryAfterMs);
  if (query.wait !== 'commit') {
    return { statusCode: 202, body: { txId: submitted.txId, status: 'Pending' } };
  }
  const status = await engine.waitFor(
    submitted.txId,
    deadline === undefined ? query.timeoutMs : Math.max(1, deadline - Date.now()),
  );
  if (status.status === 'Unknown' && status.code !== undefined) {
    // Accepted, then refused by ordering (e.g. a full disk): an error, not a status.
    return errorAnswer(
      cofferError(status.code, status.message ?? 'ordering refused the transaction'),
      1000,
    );
  }
  return {
    statusCode: status.status === 'Pending' ? 202 : 200,
    body: { txId: submitted.txId, ...status },
  };
}

export type DirectSubmitOptions = {
  readonly engine: Engine;
  /** The route's body schema: compiled with Fastify's own validator compiler and options. */
  readonly bodySchema: object;
  readonly bodyBytesMax: number;
  readonly waitMsMax: number;
  readonly waitMsDefault: number;
  readonly errorAnswer: ErrorAnswer;
  /** An error no check expected (logged by the API; the client gets 500 NODE_E_FAILED). */
  readonly unexpected: (error: unknown) => Answer;
};

export type DirectSubmit = {
  /**
   * Takes a plain POST /v1/tx (and answers it) and returns true; returns false, having read
   * nothing, for any other request, which then goes to Fastify.
   */
  readonly take: (request: IncomingMessage, response: ServerResponse) => boolean;
  /** How many requests the direct path has taken. */
  readonly taken: () => number;
  /** From now on every request goes to Fastify (which answers 503 while the API closes). */
  readonly stop: () => void;
};

const jsonContentType = /^application\/json\s*(?:;\s*charset=utf-8\s*)?$/i;
const decimalLength = /^[1-9][0-9]{0,9}$/;
const timeoutDigits = /^[1-9][0-9]{0,8}$/;
// Fastify's defaults (onProtoPoisoning, onConstructorPoisoning).
const jsonParseOptions = { protoAction: 'error', constructorAction: 'error' } as const;
const invalidJson = "Body is not valid JSON but content-type is set to 'application/json'";

export function createDirectSubmit(options: DirectSubmitOptions): DirectSubmit {
  // The validator Fastify compiles for the route (same Ajv options: coercion, defaults,
  // removal of extra properties), so both paths accept and change the same bodies.
  const validate = AjvCompiler()({}, { customOptions: {}, plugins: [] })({
    schema: options.bodySchema,
    method: 'POST',
    url: '/v1/tx',
    httpPart: 'body',
  }) as ((data: unknown) => boolean) & {
    errors?: readonly { instancePath?: string; message?: string }[] | null;
  };
  let stopped = false;
  let taken = 0;

  /** The wait query of a plain `/v1/tx[?wait=…][&timeoutMs=…]`; undefined: Fastify's. */
  const waitQueryOf = (url: string): WaitQuery | undefined => {
    const question = url.indexOf('?');
    if ((question < 0 ? url : url.slice(0, question)) !== '/v1/tx') return undefined;
    let wait: WaitQuery['wait'] | undefined;
    let timeoutMs: number | undefined;
    if (question >= 0) {
      for (const part of url.slice(question + 1).split('&')) {
        if (part === 'wait=commit' || part === 'wait=none') {
          if (wait !== undefined) return undefined;
          wait = part === 'wait=commit' ? 'commit' : 'none';
        } else if (part.startsWith('timeoutMs=') && timeoutMs === undefined) {
          const digits = part.slice('timeoutMs='.length);
          if (!timeoutDigits.test(digits)) return undefined;
          timeoutMs = Number(digits);
          if (timeoutMs > options.waitMsMax) return undefined;
        } else {
          return undefined;
        }
      }
    }
    return { wait: wait ?? 'none', timeoutMs: timeoutMs ?? options.waitMsDefault };
  };

  const answerBody = async (text: string, query: WaitQuery): Promise<Answer> => {
    let json: unknown;
    try {
      json = secureJsonParse.parse(text, undefined, jsonParseOptions);
    } catch {
      return options.errorAnswer(cofferError('NODE_E_BAD_REQUEST', invalidJson));
    }
    if (!validate(json)) {
      const message = (validate.errors ?? [])
        .map((error) => `body${error.instancePath ?? ''} ${error.message ?? ''}`)
        .join(', ');
      return options.errorAnswer(cofferError('NODE_E_BAD_REQUEST', message));
    }
    return answerSubmit(options.engine, json, query, options.errorAnswer);
  };

  const send = (response: ServerResponse, answer: Answer): void => {
    if (!response.destroyed) writeAnswer(response, answer);
  };

  const take = (request: IncomingMessage, response: ServerResponse): boolean => {
    if (stopped || request.method !== 'POST' || request.url === undefined) return false;
    const { headers } = request;
    const length = headers['content-length'];
    if (
      headers.authorization !== undefined ||
      headers['transfer-encoding'] !== undefined ||
      length === undefined ||
      !decimalLength.test(length) ||
      Number(length) > options.bodyBytesMax ||
      !jsonContentType.test(headers['content-type'] ?? '')
    ) {
      return false;
    }
    const query = waitQueryOf(request.url);
    if (query === undefined) return false;
    taken += 1;
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
    });
    request.on('end', () => {
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      answerBody(body?.toString('utf8') ?? '', query).then(
        (answer) => {
          send(response, answer);
        },
        (error: unknown) => {
          send(response, options.unexpected(error));
        },
      );
    });
    return true;
  };

  return {
    take,
    taken: () => taken,
    stop: () => {
      stopped = true;
    },
  };
}

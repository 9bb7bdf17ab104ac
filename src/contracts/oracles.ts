// The `oracles` built-in app: trusted external data (decision 0014). An MSP admin registers a
// feed with the identities allowed to publish it; a publisher's signed transaction writes a
// data point (value and the time it was observed) into the ledger; sandboxed apps read the
// latest point and its age, and endpoints subscribed to the feed run in the same transaction.
import { cofferError } from '../errors/index.js';
import { onlyFields, stringArg } from './args.js';
import { pointsMap, triggersMap, type Trigger } from './sandbox/installed.js';
import { feedPublishersMax, oracleValueBytesMax } from './sandbox/limits.js';
import { feedNamePattern } from './sandbox/manifest.js';
import type { App } from './types.js';

export const feedsMap = 'public:oracles.feeds';
const publisherPattern = /^[A-Za-z0-9.-]{1,128}:[0-9a-f]{64}$/;

export type Feed = {
  readonly feed: string;
  readonly owner: string;
  readonly summary: string;
  /** `<mspId>:<identityId>` of each identity allowed to publish. */
  readonly publishers: readonly string[];
};

export type Point = {
  readonly feed: string;
  readonly value: unknown;
  /** When the publisher observed the value (ms since the epoch), never after the batch time. */
  readonly time: number;
  readonly publisher: string;
  readonly seq: number;
  readonly txId: string;
};

const feedArg = { type: 'string', pattern: feedNamePattern.source };

export const oraclesApp: App = {
  name: 'oracles',
  version: '1.0.0',
  summary: 'Oracle feeds: registered publishers write signed data points that apps read.',
  actions: {
    register: {
      summary: 'Registers a feed or replaces its publishers (MSP admins; the owner MSP after).',
      args: {
        type: 'object',
        required: ['feed', 'publishers'],
        properties: {
          feed: feedArg,
          summary: { type: 'string', maxLength: 512 },
          publishers: {
            type: 'array',
            maxItems: feedPublishersMax,
            items: { type: 'string', pattern: publisherPattern.source },
          },
        },
      },
      run: (context, args) => {
        onlyFields(args, ['feed', 'summary', 'publishers']);
        const { caller } = context;
        if (!caller.isAdmin) {
          throw cofferError('APP_E_FORBIDDEN', `only MSP admins may register oracle feeds`);
        }
        const feed = stringArg(args, 'feed', feedNamePattern, 64);
        const summary = args['summary'] ?? '';
        if (typeof summary !== 'string' || summary.length > 512) {
          throw cofferError('APP_E_INVALID_ARGS', 'args.summary must be at most 512 characters', {
            field: 'args.summary',
          });
        }
        const publishersArg = args['publishers'];
        if (
          !Array.isArray(publishersArg) ||
          publishersArg.length === 0 ||
          publishersArg.length > feedPublishersMax
        ) {
          throw cofferError(
            'APP_E_INVALID_ARGS',
            `args.publishers must list 1 to ${feedPublishersMax} identities <mspId>:<identityId>`,
            { field: 'args.publishers' },
          );
        }
        const publishers = publishersArg.map((item, index) => {
          if (typeof item !== 'string' || !publisherPattern.test(item)) {
            throw cofferError(
              'APP_E_INVALID_ARGS',
              `args.publishers[${index}] must be <mspId>:<identityId> (see GET /v1/whoami)`,
              { field: `args.publishers[${index}]` },
            );
          }
          return item;
        });
        const existing = context.kv.get(feedsMap, feed);
        if (existing !== undefined) {
          const owner = (JSON.parse(existing) as Feed).owner;
          if (owner !== caller.mspId) {
            throw cofferError('ORACLE_E_FEED_OWNED', `feed ${feed} belongs to ${owner}`, { owner });
          }
        }
        const record: Feed = {
          feed,
          owner: caller.mspId,
          summary,
          publishers: [...new Set(publishers)].sort(),
        };
        context.kv.put(feedsMap, feed, JSON.stringify(record));
        return record;
      },
    },
    publish: {
      summary: 'Publishes a data point of a feed (its publishers only) and runs subscribed apps.',
      args: {
        type: 'object',
        required: ['feed', 'value', 'time'],
        properties: { feed: feedArg, value: {}, time: { type: 'integer', minimum: 0 } },
      },
      run: (context, args) => {
        onlyFields(args, ['feed', 'value', 'time']);
        const feed = stringArg(args, 'feed', feedNamePattern, 64);
        const text = context.kv.get(feedsMap, feed);
        if (text === undefined) {
          throw cofferError('ORACLE_E_UNKNOWN_FEED', `no oracle feed ${feed} is registered`);
        }
        const record = JSON.parse(text) as Feed;
        const publisher = `${context.caller.mspId}:${context.caller.identityId}`;
        if (!record.publishers.includes(publisher)) {
          throw cofferError(
            'ORACLE_E_PUBLISHER_FORBIDDEN',
            `${context.caller.mspId} identity ${context.caller.identityId.slice(0, 16)}… may not publish ${feed}`,
          );
        }
        const time = args['time'];
        const value = args['value'];
        const valueBytes = Buffer.byteLength(JSON.stringify(value ?? null));
        const previousText = context.kv.get(pointsMap, feed);
        const previous =
          previousText === undefined ? undefined : (JSON.parse(previousText) as Point);
        const why =
          typeof time !== 'number' || !Number.isSafeInteger(time) || time < 0
            ? 'time must be milliseconds since the epoch'
            : time > context.time
              ? `time ${time} is after the batch time ${context.time}`
              : previous !== undefined && time <= previous.time
                ? `time ${time} is not after the latest point's ${previous.time}`
                : valueBytes > oracleValueBytesMax
                  ? `value is ${valueBytes} bytes; at most oracleValueBytesMax (${oracleValueBytesMax})`
                  : undefined;
        if (why !== undefined || typeof time !== 'number') {
          throw cofferError('ORACLE_E_POINT_INVALID', `${feed}: ${why ?? 'bad time'}`);
        }
        const point: Point = {
          feed,
          value: value ?? null,
          time,
          publisher,
          seq: (previous?.seq ?? 0) + 1,
          txId: context.txId,
        };
        context.kv.put(pointsMap, feed, JSON.stringify(point));
        const triggersText = context.readPublic?.(triggersMap, feed);
        const triggers = triggersText === undefined ? [] : (JSON.parse(triggersText) as Trigger[]);
        const triggered = triggers.map((trigger) => {
          if (context.invoke === undefined) return { ...trigger, ok: false, code: 'APP_E_FAILED' };
          try {
            const result = context.invoke(trigger.app, trigger.endpoint, { feed, point }, feed);
            return { ...trigger, ok: true, result };
          } catch (error) {
            // A failing subscriber does not stop the point: its writes are dropped, its code kept.
            const code = (error as { code?: unknown }).code;
            return {
              ...trigger,
              ok: false,
              code: typeof code === 'string' ? code : 'APP_E_FAILED',
              message: error instanceof Error ? error.message.slice(0, 512) : 'failed',
            };
          }
        });
        return { feed, seq: point.seq, time, triggered };
      },
    },
  },
  queries: {
    latest: {
      summary: 'The latest data point of a feed, if any.',
      args: { type: 'object', required: ['feed'], properties: { feed: feedArg } },
      run: (context, args) => {
        onlyFields(args, ['feed']);
        const feed = stringArg(args, 'feed', feedNamePattern, 64);
        const text = context.kv.get(pointsMap, feed);
        return text === undefined
          ? { feed, found: false }
          : { found: true, ...(JSON.parse(text) as Point) };
      },
    },
  },
};

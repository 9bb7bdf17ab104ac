// The generic key-value app (tests, benchmarks, simple integrations): put, delete and get on
// maps it owns — `public:kv.<name>` maps are in clear in the ledger, `kv.<name>` maps private.
import { cofferError } from '../errors/index.js';
import { invalidArgs, onlyFields, stringArg } from './args.js';
import type { App } from './types.js';

export const kvKeyCharsMax = 1024;
export const kvValueCharsMax = 32 * 1024;
const mapPattern = /^(public:)?kv\.[A-Za-z0-9_.-]{1,64}$/;
const keyPattern = /^[\x20-\x7e]+$/;

const mapArg = {
  type: 'string',
  pattern: mapPattern.source,
  description: 'public:kv.<name> or kv.<name> (private)',
};
const keyArg = { type: 'string', maxLength: kvKeyCharsMax };

export const kvApp: App = {
  name: 'kv',
  version: '1.0.0',
  summary: 'Generic key-value maps: public:kv.* in clear, kv.* encrypted in the ledger files.',
  actions: {
    put: {
      summary: 'Sets key to value in a map.',
      args: {
        type: 'object',
        required: ['map', 'key', 'value'],
        properties: {
          map: mapArg,
          key: keyArg,
          value: { type: 'string', maxLength: kvValueCharsMax },
        },
      },
      run: (context, args) => {
        onlyFields(args, ['map', 'key', 'value']);
        const map = stringArg(args, 'map', mapPattern, 72);
        const key = stringArg(args, 'key', keyPattern, kvKeyCharsMax);
        const value = args['value'];
        if (typeof value !== 'string' || value.length > kvValueCharsMax) {
          invalidArgs('value', `must be a string of at most ${kvValueCharsMax} characters`);
        }
        const previous = context.kv.get(map, key);
        context.kv.put(map, key, value);
        // Members in RFC 8785 order: the ledger entry's canonical encoding then takes its
        // native path (canonical.ts) instead of sorting, once per transaction.
        return { created: previous === undefined, key, map };
      },
    },
    delete: {
      summary: 'Removes key from a map; refused when the key does not exist.',
      args: { type: 'object', required: ['map', 'key'], properties: { map: mapArg, key: keyArg } },
      run: (context, args) => {
        onlyFields(args, ['map', 'key']);
        const map = stringArg(args, 'map', mapPattern, 72);
        const key = stringArg(args, 'key', keyPattern, kvKeyCharsMax);
        if (context.kv.get(map, key) === undefined) {
          throw cofferError('APP_E_INVALID_ARGS', `args.key ${key} does not exist in ${map}`, {
            field: 'args.key',
          });
        }
        context.kv.delete(map, key);
        return { deleted: true, key, map };
      },
    },
  },
  queries: {
    get: {
      summary: 'Reads key from a map (committed state).',
      args: { type: 'object', required: ['map', 'key'], properties: { map: mapArg, key: keyArg } },
      run: (context, args) => {
        onlyFields(args, ['map', 'key']);
        const map = stringArg(args, 'map', mapPattern, 72);
        const key = stringArg(args, 'key', keyPattern, kvKeyCharsMax);
        const value = context.kv.get(map, key);
        return value === undefined ? { map, key, found: false } : { map, key, found: true, value };
      },
    },
  },
};

// A currency trade that is sold when the exchange rate leaves a band (the Coco seed's example
// of a contract triggered by trusted external data). The rate comes from the oracle feed
// fx.EURUSD; each new point runs onRate in the publisher's transaction.
import { caller, fail, map, oracle, publicMap, time, txId } from '@coffer/app';

/** Open trades one onRate checks: a bound on the work of one oracle point. */
const openTradesMax = 200;
/** A rate older than this cannot price a new trade. */
const rateAgeMsMax = 60_000;

type Trade = {
  id: string;
  owner: string;
  amount: number;
  low: number;
  high: number;
  boughtAt: number;
  status: 'open' | 'sold';
  soldAt?: number;
  soldTime?: number;
  txId: string | null;
};

const trades = map('trades');
const index = publicMap('open');

function openIds(): string[] {
  return index.getJson<string[]>('ids') ?? [];
}

export function trade(args: { id: string; amount: number; low: number; high: number }): Trade {
  const who = caller();
  if (who === null) return fail('NO_CALLER', 'a trade needs a signer');
  if (args.low >= args.high) fail('BAD_BAND', `low ${args.low} must be below high ${args.high}`);
  if (trades.has(args.id)) fail('DUPLICATE', `trade ${args.id} exists`);
  const rate = oracle<number>('fx.EURUSD');
  if (rate === undefined) return fail('NO_RATE', 'no EUR/USD rate has been published');
  if (rate.ageMs !== null && rate.ageMs > rateAgeMsMax) {
    fail('STALE_RATE', `the latest rate is ${rate.ageMs} ms old`);
  }
  if (rate.value < args.low || rate.value > args.high) {
    fail('OUT_OF_BAND', `the rate ${rate.value} is already outside ${args.low}..${args.high}`);
  }
  const ids = openIds();
  if (ids.length >= openTradesMax) fail('TOO_MANY', `at most ${openTradesMax} open trades`);
  const record: Trade = {
    id: args.id,
    owner: `${who.mspId}:${who.identityId}`,
    amount: args.amount,
    low: args.low,
    high: args.high,
    boughtAt: rate.value,
    status: 'open',
    txId: txId(),
  };
  trades.putJson(args.id, record);
  index.putJson('ids', [...ids, args.id]);
  return record;
}

export function onRate(args: { point: { value: number; time: number } }): { sold: string[] } {
  const rate = args.point.value;
  const sold: string[] = [];
  const stillOpen: string[] = [];
  for (const id of openIds()) {
    const record = trades.getJson<Trade>(id);
    if (record === undefined) continue;
    if (rate < record.low || rate > record.high) {
      trades.putJson(id, {
        ...record,
        status: 'sold',
        soldAt: rate,
        soldTime: time() ?? args.point.time,
      });
      sold.push(id);
    } else {
      stillOpen.push(id);
    }
  }
  if (sold.length > 0) index.putJson('ids', stillOpen);
  return { sold };
}

export function get(args: { id: string }): Trade | { id: string; found: false } {
  return trades.getJson<Trade>(args.id) ?? { id: args.id, found: false };
}

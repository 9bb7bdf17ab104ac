// Shipment tracking with bills of lading (the Coco seed's EDI example): the carrier issues a
// bill to the shipper, each holder may endorse it to the next, and the last holder surrenders
// it for delivery. The consortium shares one record instead of faxing documents around.
import { caller, fail, isoTime, publicMap, time, type Caller } from '@coffer/app';

/** History entries kept per bill: a bound on the value's size. */
const historyMax = 50;

type Bill = {
  bl: string;
  shipper: string;
  consignee: string;
  goods: string;
  from: string;
  to: string;
  carrier: string;
  holder: string;
  status: 'issued' | 'delivered';
  history: { at: string; event: string; by: string }[];
};

// Bills are public in the ledger: every member sees the same document.
const bills = publicMap('bills');

function who(): string {
  const signer: Caller | null = caller();
  if (signer === null) return fail('NO_CALLER', 'a signed transaction is needed');
  return `${signer.mspId}:${signer.identityId}`;
}

function now(): string {
  return isoTime(time() ?? 0);
}

function load(bl: string): Bill {
  const bill = bills.getJson<Bill>(bl);
  if (bill === undefined) return fail('UNKNOWN_BL', `no bill of lading ${bl}`);
  return bill;
}

function record(bill: Bill, event: string, by: string): Bill {
  const history = [...bill.history, { at: now(), event, by }].slice(-historyMax);
  const next = { ...bill, history };
  bills.putJson(bill.bl, next);
  return next;
}

export function issue(args: Omit<Bill, 'carrier' | 'holder' | 'status' | 'history'>): Bill {
  if (bills.has(args.bl)) fail('DUPLICATE', `bill ${args.bl} was already issued`);
  const carrier = who();
  const bill: Bill = { ...args, carrier, holder: carrier, status: 'issued', history: [] };
  return record(bill, `issued to ${args.shipper}`, carrier);
}

export function endorse(args: { bl: string; to: string }): Bill {
  const bill = load(args.bl);
  const by = who();
  if (bill.status !== 'issued') fail('CLOSED', `bill ${args.bl} is ${bill.status}`);
  if (bill.holder !== by) fail('NOT_HOLDER', `only the holder may endorse bill ${args.bl}`);
  return record({ ...bill, holder: args.to }, `endorsed to ${args.to}`, by);
}

export function deliver(args: { bl: string }): Bill {
  const bill = load(args.bl);
  const by = who();
  if (bill.status !== 'issued') fail('CLOSED', `bill ${args.bl} is ${bill.status}`);
  if (bill.holder !== by) fail('NOT_HOLDER', `only the holder may take delivery of ${args.bl}`);
  return record({ ...bill, status: 'delivered' }, 'delivered', by);
}

export function get(args: { bl: string }): Bill | { bl: string; found: false } {
  return bills.getJson<Bill>(args.bl) ?? { bl: args.bl, found: false };
}

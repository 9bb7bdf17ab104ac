// Deposits to Bitcoin custody addresses: blocks are read as raw hex (`getblock <hash> false`,
// the same bytes from Bitcoin Core and bcoin) and parsed here, so the scan depends on three RPC
// methods only. The cursor holds the height and the hashes of the last blocks scanned: when
// they are no longer on the chain (a reorganisation) the scan steps back to the highest block
// both branches share and scans on from there, so deposits of the new branch are reported and
// those of the old one are not. Nodes need not serve the old branch's blocks (bcoin does not).
import { createHash } from 'node:crypto';
import { Block, address as bitcoinAddress, type Network, type Transaction } from 'bitcoinjs-lib';
import { cofferError } from '../../errors/index.js';
import type { ChainBlock, SeenDeposit } from './types.js';

/** Blocks one scan reads (each is one RPC round trip and up to 4 MB). */
export const blocksPerScanMax = 100;
/** Block hashes a cursor keeps to find a fork (Bitcoin reorganisations are a few blocks). */
export const cursorHashesMax = 12;
/** Without a shared block in the cursor, a scan rescans this many blocks (reports are idempotent). */
export const reorgDepthMax = 100;
export const bitcoinAsset = 'BTC';

/** What the scan needs of a node: Bitcoin Core's names, which bcoin answers too. */
export type BitcoinBlockSource = {
  readonly getBlockCount: () => Promise<number>;
  readonly getBlockHash: (height: number) => Promise<string>;
  /** The serialised block (with witnesses), hex. */
  readonly getBlockHex: (hash: string) => Promise<string>;
};

export type BitcoinDepositScan = {
  readonly deposits: readonly SeenDeposit[];
  /** `<height>:<hash>` of the last block scanned; null while no block was scanned. */
  readonly cursor: string | null;
  /** Height of the last block both branches share when the cursor's block left the chain. */
  readonly forkHeight: number | null;
};

type Cursor = { readonly height: number; readonly hashes: readonly string[] };

function parseCursor(cursor: string): Cursor {
  const match = /^(\d{1,9}):([0-9a-f]{64}(?:,[0-9a-f]{64})*)$/.exec(cursor);
  const hashes = match?.[2]?.split(',') ?? [];
  if (match?.[1] === undefined || hashes.length > cursorHashesMax) {
    throw cofferError(
      'CUSTODY_E_WORKER_STATE_CORRUPT',
      `the Bitcoin scan cursor ${JSON.stringify(cursor.slice(0, 80))} is not <height>:<block hash>[,<parent hash>...]; delete the worker's cursor file to rescan`,
      { cursor: cursor.slice(0, 80) },
    );
  }
  return { height: Number(match[1]), hashes };
}

function formatCursor(cursor: Cursor): string | null {
  return cursor.hashes.length === 0 ? null : `${cursor.height}:${cursor.hashes.join(',')}`;
}

function advance(cursor: Cursor, block: ChainBlock): Cursor {
  return { height: block.height, hashes: [block.hash, ...cursor.hashes].slice(0, cursorHashesMax) };
}

/**
 * The P2WSH output scripts (hex) a transaction's inputs spend, from each input's witness: its
 * last item is the witness script, and OP_0 <sha256(witness script)> is what it spent.
 */
function spentScripts(tx: Transaction): Set<string> {
  const scripts = new Set<string>();
  for (const input of tx.ins) {
    const witnessScript = input.witness.at(-1);
    if (witnessScript === undefined || input.witness.length < 2) continue;
    const program = createHash('sha256').update(witnessScript).digest();
    scripts.add(`0020${program.toString('hex')}`);
  }
  return scripts;
}

/**
 * The outputs of `blockHex` that pay a watched output script (hex → address), except change:
 * outputs to a script the same transaction spends from.
 */
export function depositsInBlock(
  blockHex: string,
  block: ChainBlock,
  watched: ReadonlyMap<string, string>,
  confirmations: number,
  /** The scan cursor just after this block. */
  next: string,
): SeenDeposit[] {
  const parsed = Block.fromHex(blockHex);
  const hash = parsed.getId();
  if (hash !== block.hash) {
    throw new Error(`the node returned block ${hash} for ${block.hash}`);
  }
  const deposits: SeenDeposit[] = [];
  for (const tx of parsed.transactions ?? []) {
    const txid = tx.getId();
    const spent = spentScripts(tx);
    tx.outs.forEach((out, outputIndex) => {
      const script = Buffer.from(out.script).toString('hex');
      const address = watched.get(script);
      // Change: a wallet paying itself back in its own withdrawal is no deposit (the ledger
      // debits the withdrawal's amount and fee; crediting the change would count it twice).
      if (address === undefined || spent.has(script)) return;
      deposits.push({
        chainTxId: txid,
        outputIndex,
        address,
        walletId: null,
        asset: bitcoinAsset,
        amount: out.value.toString(),
        block,
        confirmations,
        next,
      });
    });
  }
  return deposits;
}

/** Output script (hex) → address, for the addresses a scan watches. */
export function watchList(addresses: readonly string[], network: Network): Map<string, string> {
  return new Map(
    addresses.map((a) => [
      Buffer.from(bitcoinAddress.toOutputScript(a, network)).toString('hex'),
      a,
    ]),
  );
}

/**
 * Deposits to `watched` scripts in the blocks after `cursor` (null: from `startHeight`), at most
 * `blocksPerScanMax` blocks, each with its confirmations at the current tip. The cursors passed
 * back never pass a block with fewer than `depth` confirmations: those blocks are scanned again
 * next time, so their deposits are reported again with their new confirmations (or not at all
 * once a reorganisation dropped them).
 */
export async function scanBitcoinDeposits(
  source: BitcoinBlockSource,
  watched: ReadonlyMap<string, string>,
  cursor: string | null,
  startHeight = 1,
  depth = 1,
): Promise<BitcoinDepositScan> {
  const tip = await source.getBlockCount();
  let at: Cursor = { height: startHeight - 1, hashes: [] };
  let forkHeight: number | null = null;
  if (cursor !== null) {
    at = parseCursor(cursor);
    const shared = await sharedDepth(source, at, tip);
    if (shared !== 0) {
      forkHeight = Math.max(startHeight - 1, at.height - (shared ?? reorgDepthMax));
      at = { height: forkHeight, hashes: shared === null ? [] : at.hashes.slice(shared) };
    }
  }
  // The last block at depth: the cursors stop there.
  const finalHeight = tip - depth + 1;
  let final = at;
  while (final.height > finalHeight && final.hashes.length > 1)
    final = { height: final.height - 1, hashes: final.hashes.slice(1) };
  const deposits: SeenDeposit[] = [];
  const to = Math.min(tip, at.height + blocksPerScanMax);
  for (let height = at.height + 1; height <= to; height += 1) {
    const hash = await source.getBlockHash(height);
    const block = { height, hash };
    at = advance(at, block);
    if (height <= finalHeight) final = at;
    const next = formatCursor(final) ?? '';
    const hex = await source.getBlockHex(hash);
    deposits.push(...depositsInBlock(hex, block, watched, tip - height + 1, next));
  }
  return { deposits, cursor: formatCursor(final), forkHeight };
}

/**
 * How many of the cursor's blocks, newest first, left the chain before one still on it
 * (0: the cursor's block is on the chain); null when none of its hashes is.
 */
async function sharedDepth(
  source: BitcoinBlockSource,
  at: Cursor,
  tip: number,
): Promise<number | null> {
  for (const [i, hash] of at.hashes.entries()) {
    const height = at.height - i;
    if (height <= tip && (await source.getBlockHash(height)) === hash) return i;
  }
  return null;
}

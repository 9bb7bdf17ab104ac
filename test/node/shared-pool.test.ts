// The memory warmed for commit points' copies (decision 0041): a round gets warm memory only
// when nothing else writes it, and the pool holds no pages between rounds.
import { describe, expect, it, vi } from 'vitest';
import { createSharedPool, type PageOps } from '../../src/node/shared-pool.js';

/** Page operations that finish when the test says (as the real ones do, on another thread). */
function deferredPages(): PageOps & {
  readonly finishPrefault: () => Promise<void>;
  readonly finishDiscard: () => Promise<void>;
  readonly prefaulted: Uint8Array[];
  readonly discarded: (readonly Uint8Array[])[];
} {
  const prefaulted: Uint8Array[] = [];
  const discarded: (readonly Uint8Array[])[] = [];
  const waiting: { prefault: (() => void)[]; discard: (() => void)[] } = {
    prefault: [],
    discard: [],
  };
  const finish = async (list: (() => void)[]): Promise<void> => {
    for (const resolve of list.splice(0)) resolve();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return {
    prefault: (view) => {
      prefaulted.push(view);
      return new Promise((resolve) => {
        waiting.prefault.push(resolve);
      });
    },
    discard: (views) => {
      discarded.push(views);
      return new Promise((resolve) => {
        waiting.discard.push(() => {
          resolve(0);
        });
      });
    },
    finishPrefault: () => finish(waiting.prefault),
    finishDiscard: () => finish(waiting.discard),
    prefaulted,
    discarded,
  };
}

describe('shared pool', () => {
  it('gives a round the warmed buffer, 8-byte aligned, then hands it back once the round is done', async () => {
    const pages = deferredPages();
    const pool = createSharedPool(pages);
    pool.reserve(1024);
    expect(pool.stats().state).toBe('warming');
    await pages.finishPrefault();
    expect(pool.stats()).toMatchObject({ state: 'warm', bytes: 1024 });
    const round = pool.round();
    expect(pool.stats().state).toBe('in use');
    const a = round.allocate(3);
    const b = round.allocate(16);
    expect(a.buffer).toBe(pages.prefaulted[0]?.buffer);
    expect(b.buffer).toBe(a.buffer);
    expect(b.byteOffset % 8).toBe(0);
    expect(b.byteOffset).toBeGreaterThanOrEqual(a.byteOffset + 3);
    round.done();
    expect(pool.stats().state).toBe('discarding');
    expect(pages.discarded).toEqual([[pages.prefaulted[0]]]);
    await pages.finishDiscard();
    expect(pool.stats()).toMatchObject({ state: 'cold', warmRounds: 1, coldRounds: 0 });
  });

  it('never gives a round memory that is being warmed or handed back: fresh buffers then', async () => {
    const pages = deferredPages();
    const pool = createSharedPool(pages);
    pool.reserve(1024);
    const early = pool.round();
    const view = early.allocate(64);
    expect(view.buffer).not.toBe(pages.prefaulted[0]?.buffer);
    expect(view.buffer).toBeInstanceOf(SharedArrayBuffer);
    early.done();
    // A cold round hands back only its own fresh buffers.
    expect(pages.discarded).toEqual([[view]]);
    await pages.finishPrefault();
    const warm = pool.round();
    warm.allocate(64);
    warm.done();
    expect(pool.stats().state).toBe('discarding');
    pool.reserve(1024); // ignored while handing back
    expect(pages.prefaulted).toHaveLength(1);
    const during = pool.round();
    expect(during.allocate(8).buffer).not.toBe(pages.prefaulted[0]?.buffer);
    await pages.finishDiscard();
    pool.reserve(1024);
    expect(pages.prefaulted).toHaveLength(2);
    expect(pool.stats()).toMatchObject({ state: 'warming', warmRounds: 1, coldRounds: 1 });
  });

  it('puts what does not fit in fresh buffers, and warms a larger buffer next time', async () => {
    const pages = deferredPages();
    const pool = createSharedPool(pages);
    pool.reserve(100);
    await pages.finishPrefault();
    const round = pool.round();
    const inWarm = round.allocate(64);
    const outside = round.allocate(64);
    expect(inWarm.buffer).toBe(pages.prefaulted[0]?.buffer);
    expect(outside.buffer).not.toBe(inWarm.buffer);
    round.done();
    expect(pages.discarded[0]).toEqual([pages.prefaulted[0], outside]);
    await pages.finishDiscard();
    expect(pool.stats()).toMatchObject({ warmRounds: 0, coldRounds: 1 });
    pool.reserve(200);
    expect(pages.prefaulted[1]?.byteLength).toBe(200);
  });

  it('hands warm memory back when no round comes in time, and a warm buffer too small now', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const pages = deferredPages();
      const pool = createSharedPool(pages, { warmMsMax: 1000 });
      pool.reserve(100);
      await pages.finishPrefault();
      expect(pool.stats().state).toBe('warm');
      vi.advanceTimersByTime(1001);
      expect(pool.stats().state).toBe('discarding');
      await pages.finishDiscard();
      expect(pool.stats().state).toBe('cold');
      pool.reserve(100);
      await pages.finishPrefault();
      pool.reserve(500);
      expect(pool.stats().state).toBe('discarding');
      expect(pages.discarded).toHaveLength(2);
      await pages.finishDiscard();
      pool.reserve(500);
      expect(pages.prefaulted.at(-1)?.byteLength).toBe(500);
      // Closed while warm: no timer fires afterwards, and nothing is warmed again.
      await pages.finishPrefault();
      pool.close();
      vi.advanceTimersByTime(10_000);
      expect(pages.discarded).toHaveLength(2);
      pool.reserve(500);
      expect(pages.prefaulted).toHaveLength(3);
      expect(pool.stats()).toMatchObject({ state: 'cold', bytes: 0 });
      // Closed while warming: no timer either once the warm-up ends.
      const other = createSharedPool(pages, { warmMsMax: 1000 });
      other.reserve(100);
      other.close();
      await pages.finishPrefault();
      expect(other.stats()).toMatchObject({ state: 'cold', bytes: 0 });
      vi.advanceTimersByTime(10_000);
      expect(pages.discarded).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });
});

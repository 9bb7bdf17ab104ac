// A clock and timers that move only when the test says so, so that simulations replay exactly.
import type { Timers } from '../../src/ordering/index.js';

export type VirtualTime = {
  readonly now: () => number;
  readonly timers: Timers;
  /** Moves the clock forward, running the timers that fall due, in order. */
  readonly advance: (ms: number) => void;
};

export function createVirtualTime(startMs = 1_700_000_000_000): VirtualTime {
  let now = startMs;
  let sequence = 0;
  const pending: { at: number; seq: number; callback: () => void; cancelled: boolean }[] = [];
  return {
    now: () => now,
    timers: {
      setTimeout: (callback, ms) => {
        const timer = { at: now + ms, seq: (sequence += 1), callback, cancelled: false };
        pending.push(timer);
        return () => {
          timer.cancelled = true;
        };
      },
    },
    advance: (ms) => {
      const until = now + ms;
      for (;;) {
        pending.sort((a, b) => a.at - b.at || a.seq - b.seq);
        const first = pending[0];
        if (first === undefined || first.at > until) break;
        pending.shift();
        now = Math.max(now, first.at);
        if (!first.cancelled) first.callback();
      }
      now = until;
    },
  };
}

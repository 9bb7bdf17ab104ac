// The ordering seam (decision 0008): the only durability point for inputs. The embedded log
// implements it on local segment files; issue 4 puts etcd behind the same type.
import type { CofferError } from '../errors/index.js';

export type LogEntry = { readonly position: number; readonly batch: Uint8Array };

/** 'ok', or why appends are refused right now (reads keep working in both states). */
export type LogHealth =
  | 'ok'
  | {
      /**
       * 'disk-full' clears by itself when space returns; 'failed' needs a restart. The etcd log
       * adds 'unavailable' (etcd cannot order writes; clears by itself when it answers again) and
       * 'behind' (history it misses was compacted; clears after catching up from a peer).
       */
      readonly state: 'disk-full' | 'failed' | 'unavailable' | 'behind';
      /** When the state began, in ms since the epoch. */
      readonly since: number;
      readonly error: CofferError;
    };

export type OrderingLog = {
  /**
   * Appends one batch; resolves with its position (1, 2, 3, ...) once it is durable (fsync'd).
   * Concurrent appends are group-committed: one fsync covers every batch written since the last.
   * The log reads `batch` when it writes the group: do not change its bytes before it settles.
   */
  readonly append: (batch: Uint8Array) => Promise<number>;
  /** Committed batches with position >= from, in order, at most max of them (and at most readBytesMax bytes). */
  readonly read: (from: number, max: number) => Promise<readonly LogEntry[]>;
  /** Highest durable position (0 when empty). */
  readonly committedPosition: () => number;
  /** Called after each group commit with the new committed position; returns an unsubscribe function. */
  readonly onCommit: (listener: (position: number) => void) => () => void;
  /** Health for the node API. */
  readonly health: () => LogHealth;
  /** Waits for appends already accepted, then releases the files; later calls are refused. */
  readonly close: () => Promise<void>;
};

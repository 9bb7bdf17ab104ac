// Shared memory kept warm for a snapshot's copies (a commit point's, decision 0041, or a local
// one's, decision 0043). The copies go into SharedArrayBuffers (src/ledger/shared-memory.ts);
// this pool touches their pages before the snapshot, off the main thread, and hands them back
// after it.
import {
  allocateShared,
  recordingAllocator,
  type SharedAllocate,
} from '../ledger/shared-memory.js';

/** What the pool asks of the system's memory (MallocTuning's prefault and returnPages). */
export type PageOps = {
  /** Touches every page of `view` off this thread, so that writing it later does not fault. */
  readonly prefault: (view: Uint8Array) => Promise<void>;
  /** Hands the whole pages inside the views back to the system; their bytes read as zeros. */
  readonly discard: (views: readonly Uint8Array[]) => Promise<number>;
};

/** One round of copies (a snapshot's): its allocator, and `done` once nothing reads them. */
export type SharedRound = {
  readonly allocate: SharedAllocate;
  readonly given: () => readonly Uint8Array[];
  /** Hands every page the round used back; call once its reader is done. */
  readonly done: () => void;
};

export type SharedPoolStats = {
  readonly state: 'cold' | 'warming' | 'warm' | 'in use' | 'discarding';
  readonly bytes: number;
  /** Rounds whose copies all fitted in warm memory, and rounds that wrote fresh memory. */
  readonly warmRounds: number;
  readonly coldRounds: number;
};

export type SharedPool = {
  /** Warms `bytes` for the next round, unless a round or a warm-up is under way. */
  readonly reserve: (bytes: number) => void;
  /** The next round: warm memory if there is some, fresh buffers otherwise. */
  readonly round: () => SharedRound;
  readonly stats: () => SharedPoolStats;
  /**
   * Stops warming (the engine stops): no timer is left, and a warm buffer is left to V8 (its
   * pages go with it) rather than handed back. Rounds already given end as before.
   */
  readonly close: () => void;
};

/** Memory kept warm for a round that does not come within this time is handed back. */
export const sharedPoolWarmMsMax = 15_000;

/**
 * Shared memory for rounds of copies that touches its pages before a round rather than during
 * it (decision 0041). Writing fresh memory faults every page in: on this project's machines
 * copying 160 MiB took 66–74 ms into fresh pages, 9 ms into pages touched before. `reserve`
 * makes one buffer of that size and touches its pages off this thread; a round then copies
 * into it, and into fresh buffers for what does not fit or while it is not warm. `done` hands
 * the pages back, so between rounds the pool holds none. Memory being prefaulted or handed
 * back is never given to a round (those calls write it on another thread).
 */
export function createSharedPool(
  pages: PageOps,
  options: { readonly warmMsMax?: number } = {},
): SharedPool {
  let segment: Uint8Array | undefined;
  let state: SharedPoolStats['state'] = 'cold';
  let warmRounds = 0;
  let coldRounds = 0;
  let cooling: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  const warmMsMax = options.warmMsMax ?? sharedPoolWarmMsMax;

  /** Hands `views` back (the segment among them); the pool is cold again once that is done. */
  const handBack = (views: readonly Uint8Array[]): void => {
    clearTimeout(cooling);
    state = 'discarding';
    const cold = (): void => {
      state = 'cold';
    };
    pages.discard(views).then(cold, cold);
  };

  const reserve = (bytes: number): void => {
    if (closed) return;
    if (state === 'warm' && segment !== undefined && segment.byteLength < bytes) {
      // Too small now: hand it back, and warm a larger one next time.
      handBack([segment]);
      return;
    }
    if (state !== 'cold') return;
    if (segment === undefined || segment.byteLength < bytes) segment = allocateShared(bytes);
    const warming = segment;
    state = 'warming';
    const warmed = (): void => {
      if (state !== 'warming' || segment !== warming) return;
      if (closed) {
        // Closed while warming: left to V8 as close() leaves a warm buffer.
        segment = undefined;
        state = 'cold';
        return;
      }
      state = 'warm';
      cooling = setTimeout(() => {
        handBack([warming]);
      }, warmMsMax);
      cooling.unref();
    };
    pages.prefault(warming).then(warmed, () => {
      state = 'cold';
    });
  };

  const round = (): SharedRound => {
    const usable = state === 'warm' ? segment : undefined;
    if (usable !== undefined) {
      clearTimeout(cooling);
      state = 'in use';
    }
    let offset = 0;
    const copies = recordingAllocator((bytes) => {
      const start = Math.ceil(offset / 8) * 8;
      if (usable === undefined || start + bytes > usable.byteLength) return allocateShared(bytes);
      offset = start + bytes;
      return usable.subarray(start, offset);
    });
    let finished = false;
    return {
      ...copies,
      done: () => {
        if (finished) return;
        finished = true;
        const fresh = copies.given().filter((view) => view.buffer !== usable?.buffer);
        if (usable !== undefined && fresh.length === 0) warmRounds += 1;
        else coldRounds += 1;
        if (usable === undefined) {
          pages.discard(fresh).catch(() => undefined);
          return;
        }
        handBack([usable, ...fresh]);
      },
    };
  };

  return {
    reserve,
    round,
    stats: () => ({ state, bytes: segment?.byteLength ?? 0, warmRounds, coldRounds }),
    close: () => {
      closed = true;
      clearTimeout(cooling);
      if (state === 'warm') {
        segment = undefined;
        state = 'cold';
      }
    },
  };
}

// A long-running node's memory (decision 0028): glibc's allocator and V8's heap growth.
//
// glibc's allocator. A node's C-side allocations (request and batch buffers, ledger chunks,
// snapshot sections, OpenSSL) are mostly short-lived and interleaved with long-lived ones. With
// glibc's defaults two things keep them resident after they are freed:
//   - the mmap threshold is dynamic: once a large buffer (a batch body, a snapshot section) is
//     freed, glibc raises the threshold to its size, so later buffers up to 32 MiB come from the
//     main heap instead of their own mappings, and their holes fragment it;
//   - up to 8 arenas per core, one per thread that contends.
// So at start the node fixes the threshold (buffers of 128 KiB and more get their own mapping,
// returned when freed), caps the arenas at 2, and every trimIntervalMs hands free pages in the
// middle of the heap back (malloc_trim). glibc reads MALLOC_* variables only at process start;
// mallopt is the in-process way, called through koffi (a maintained FFI, prebuilt binaries).
// Elsewhere (musl, macOS) nothing changes and the status says why.
//
// V8's heap growth. After each full collection V8 lets the heap grow to a multiple of what
// survived before it collects again: up to 4x with a large heap limit, chosen for throughput.
// A node's state grows for ever and most of what it allocates dies young, so that leaves
// hundreds of MB of garbage (and the array buffers it holds) resident between collections. The
// node can set the multiple to 1 + heapGrowthPercent / 100 instead, at the cost of more
// frequent (mostly concurrent) marking; by default it leaves V8's choice (see the constant).
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import type { Logger } from 'pino';

/** Buffers of at least this many bytes get a mapping of their own (glibc's initial default). */
export const mmapThresholdBytes = 128 * 1024;
/** malloc arenas at most (glibc's default: 8 per core). */
export const arenasMax = 2;
/** How often free heap pages are handed back to the system by default. */
export const trimIntervalMsDefault = 30_000;
/**
 * Heap growth after a full collection, in percent of what survived it, by default: 0, V8's own
 * choice. 30 took 24 MB off a node's RSS at 1M transactions for 16% more CPU (decision 0028).
 */
export const heapGrowthPercentDefault = 0;
/** Accepted heapGrowthPercent values: 0 (V8's own choice) or 10 to 300. */
export const heapGrowthPercentMin = 10;
export const heapGrowthPercentMax = 300;

/**
 * Sets V8's heap growth for the whole process (every isolate reads the flag at each full
 * collection); 0 leaves V8's own choice.
 */
export function setHeapGrowth(percent: number): void {
  if (percent === 0) return;
  if (
    !Number.isSafeInteger(percent) ||
    percent < heapGrowthPercentMin ||
    percent > heapGrowthPercentMax
  ) {
    throw new RangeError(
      `heap growth ${percent}%: give 0 or ${heapGrowthPercentMin} to ${heapGrowthPercentMax}`,
    );
  }
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}

// mallopt parameters (glibc's malloc.h).
const M_MMAP_THRESHOLD = -3;
const M_ARENA_MAX = -8;
// madvise's advice (Linux's mman.h) and sysconf's name for the page size (unistd.h).
const MADV_DONTNEED = 4;
const SC_PAGESIZE = 30;

/** glibc's struct mallinfo2 (glibc 2.33 and later), in order: every field a size_t. */
const mallinfo2Fields = [
  'arena',
  'ordblks',
  'smblks',
  'hblks',
  'hblkhd',
  'usmblks',
  'fsmblks',
  'uordblks',
  'fordblks',
  'keepcost',
] as const;
/** mallinfo2's result: koffi gives a size_t as a number, or a bigint past 2^53. */
type Mallinfo2 = Readonly<Record<(typeof mallinfo2Fields)[number], number | bigint>>;

type Libc = {
  readonly mallopt: (parameter: number, value: number) => number;
  readonly mallocTrim: (pad: number) => number;
  /** Absent before glibc 2.33. */
  readonly mallinfo2: (() => Mallinfo2) | undefined;
  /** Where a typed array's bytes start in memory. */
  readonly addressOf: (view: Uint8Array) => number;
  /** madvise on a libuv thread: calls back with its result (0) or koffi's error. */
  readonly madviseAsync: (
    address: number,
    bytes: number,
    advice: number,
    done: (error: unknown, result: number) => void,
  ) => void;
  readonly pageBytes: number;
  /** memset on a libuv thread (the view stays referenced by the caller until it calls back). */
  readonly memsetAsync: (view: Uint8Array, done: (error: unknown) => void) => void;
};

/**
 * What glibc's allocator holds, from mallinfo2 (summed over its arenas): what its heaps took from
 * the system, what of that is allocated and what is free (free pages count until a trim hands
 * them back), and the buffers mapped apart.
 */
export type MallocHeap = {
  readonly heapBytes: number;
  readonly inUseBytes: number;
  readonly freeBytes: number;
  readonly mappedBytes: number;
  readonly mappedBuffers: number;
};

export type MallocTuning = {
  /** Whether the allocator was set (glibc only). */
  readonly tuned: boolean;
  /** What was set, or why nothing was. */
  readonly detail: string;
  /** Hands free heap pages back now; false when nothing was released or not tuned. */
  readonly trim: () => boolean;
  /** What glibc's allocator holds now (undefined when not tuned, or before glibc 2.33). */
  readonly heap: () => MallocHeap | undefined;
  /** Trims so far and the longest one's duration (it runs on the calling thread). */
  readonly trims: () => { readonly count: number; readonly longestMs: number };
  /**
   * Hands back to the system the memory pages that lie wholly inside these buffers (madvise
   * MADV_DONTNEED, on a libuv thread, not this one): their bytes read as zeros afterwards, so
   * only for buffers nothing reads any more (a commit point's copies once its worker is done),
   * which would otherwise stay resident until V8 collects them. Resolves with the bytes handed
   * back; 0 when not tuned. The buffers stay referenced until then, so none is freed (and its
   * pages reused) under the call.
   */
  readonly returnPages: (views: readonly Uint8Array[]) => Promise<number>;
  /**
   * Touches every page of a buffer nothing uses yet (it is zeroed) on a libuv thread, so that
   * writing it later does not fault them in one by one on the writer's thread (decision 0041).
   * Resolves when done; resolves at once when not tuned.
   */
  readonly prefault: (view: Uint8Array) => Promise<void>;
  /** Bytes handed back by returnPages so far, and in how many calls. */
  readonly pagesReturned: () => { readonly calls: number; readonly bytes: number };
  /** Stops the periodic trim. */
  readonly stop: () => void;
};

/** The allocator left as it is, saying why. */
export function untunedMalloc(detail: string): MallocTuning {
  return {
    tuned: false,
    detail,
    trim: () => false,
    heap: () => undefined,
    trims: () => ({ count: 0, longestMs: 0 }),
    returnPages: () => Promise.resolve(0),
    prefault: () => Promise.resolve(),
    pagesReturned: () => ({ calls: 0, bytes: 0 }),
    stop: () => undefined,
  };
}

let libcLoaded: Promise<Libc | string> | undefined;

/** glibc's mallopt and malloc_trim, or why they are not available here. */
function loadLibc(): Promise<Libc | string> {
  libcLoaded ??= (async () => {
    const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } })
      .header;
    if (process.platform !== 'linux' || header?.glibcVersionRuntime === undefined) {
      return `not glibc (${process.platform}): the allocator's defaults apply`;
    }
    try {
      const koffi = (await import('koffi')).default;
      const libc = koffi.load('libc.so.6');
      const mallopt = libc.func('int mallopt(int, int)') as (p: number, v: number) => number;
      const mallocTrim = libc.func('int malloc_trim(size_t)') as (pad: number) => number;
      let mallinfo2: (() => Mallinfo2) | undefined;
      try {
        const struct = koffi.struct(
          'mallinfo2',
          Object.fromEntries(mallinfo2Fields.map((field) => [field, 'size_t'])),
        );
        mallinfo2 = libc.func('mallinfo2', struct, []) as () => Mallinfo2;
      } catch {
        mallinfo2 = undefined; // glibc before 2.33
      }
      // memmove(p, p, 0) moves nothing and returns p: koffi passes a typed array's data pointer.
      const memmove = libc.func('uintptr_t memmove(void *, void *, size_t)') as (
        to: Uint8Array,
        from: Uint8Array,
        bytes: number,
      ) => number | bigint;
      const madvise = libc.func('int madvise(uintptr_t, size_t, int)') as {
        readonly async: Libc['madviseAsync'];
      };
      const sysconf = libc.func('long sysconf(int)') as (name: number) => number | bigint;
      const memset = libc.func('void *memset(void *, int, size_t)') as {
        readonly async: (
          view: Uint8Array,
          value: number,
          bytes: number,
          done: (error: unknown) => void,
        ) => void;
      };
      return {
        mallopt,
        mallocTrim,
        mallinfo2,
        addressOf: (view) => Number(memmove(view, view, 0)),
        madviseAsync: (address, bytes, advice, done) => {
          madvise.async(address, bytes, advice, done);
        },
        pageBytes: Number(sysconf(SC_PAGESIZE)),
        memsetAsync: (view, done) => {
          memset.async(view, 0, view.byteLength, done);
        },
      };
    } catch (error) {
      return `glibc ${header.glibcVersionRuntime}, but its functions could not be loaded: ${String(error)}`;
    }
  })();
  return libcLoaded;
}

/**
 * Sets the process's allocator as above and starts trimming every `trimIntervalMs` (0: never).
 * Process-wide: several nodes in one process share the setting; each stops its own timer.
 */
export async function tuneMalloc(
  options: { readonly trimIntervalMs?: number; readonly logger?: Logger } = {},
): Promise<MallocTuning> {
  const libc = await loadLibc();
  if (typeof libc === 'string') {
    options.logger?.info(`memory: ${libc}`);
    return untunedMalloc(libc);
  }
  const set =
    libc.mallopt(M_MMAP_THRESHOLD, mmapThresholdBytes) === 1 &&
    libc.mallopt(M_ARENA_MAX, arenasMax) === 1;
  if (!set) {
    const detail = 'glibc refused mallopt: the allocator keeps its defaults';
    options.logger?.warn(`memory: ${detail}`);
    return untunedMalloc(detail);
  }
  let count = 0;
  let longestMs = 0;
  const trim = (): boolean => {
    const started = performance.now();
    const released = libc.mallocTrim(0) === 1;
    count += 1;
    longestMs = Math.max(longestMs, performance.now() - started);
    return released;
  };
  const returned = { calls: 0, bytes: 0 };
  const returnPages = (views: readonly Uint8Array[]): Promise<number> => {
    const page = libc.pageBytes;
    const ranges: { readonly start: number; readonly bytes: number }[] = [];
    for (const view of views) {
      const address = libc.addressOf(view);
      const start = Math.ceil(address / page) * page;
      const end = Math.floor((address + view.byteLength) / page) * page;
      if (end > start) ranges.push({ start, bytes: end - start });
    }
    return new Promise((resolve) => {
      let left = ranges.length;
      let bytes = 0;
      const finish = (): void => {
        returned.calls += 1;
        returned.bytes += bytes;
        // `views` is read here, after the last call: until then no buffer can be collected.
        resolve(views.length > 0 ? bytes : 0);
      };
      if (left === 0) finish();
      for (const range of ranges) {
        libc.madviseAsync(range.start, range.bytes, MADV_DONTNEED, (error, result) => {
          if (error === null && result === 0) bytes += range.bytes;
          left -= 1;
          if (left === 0) finish();
        });
      }
    });
  };
  const every = options.trimIntervalMs ?? trimIntervalMsDefault;
  const timer = every > 0 ? setInterval(trim, every).unref() : undefined;
  const detail = `glibc: buffers of ${mmapThresholdBytes} bytes or more mapped apart, ${arenasMax} arenas, ${every > 0 ? `free pages returned every ${every} ms` : 'no periodic trim'}`;
  options.logger?.debug(`memory: ${detail}`);
  return {
    tuned: true,
    detail,
    trim,
    heap: () => {
      const info = libc.mallinfo2?.();
      if (info === undefined) return undefined;
      return {
        heapBytes: Number(info.arena),
        inUseBytes: Number(info.uordblks),
        freeBytes: Number(info.fordblks),
        mappedBytes: Number(info.hblkhd),
        mappedBuffers: Number(info.hblks),
      };
    },
    trims: () => ({ count, longestMs: Math.round(longestMs * 100) / 100 }),
    returnPages,
    prefault: (view) =>
      new Promise((resolve, reject) => {
        libc.memsetAsync(view, (error) => {
          // `view` is read here, after the call: until then its buffer cannot be collected.
          if (error === null && view.byteLength >= 0) resolve();
          else reject(new Error(`prefault failed: ${String(error)}`));
        });
      }),
    pagesReturned: () => ({ ...returned }),
    stop: () => {
      clearInterval(timer);
    },
  };
}

// One seed drives every random choice of a simulation (STYLE.md 9). Seeds are fresh on each run
// unless COFFER_SEED names one, which then replays exactly.
import process from 'node:process';

export type Rng = {
  /** Uniform in [0, 1). */
  readonly next: () => number;
  /** Uniform integer in [0, n). */
  readonly int: (n: number) => number;
  /** True with probability p. */
  readonly chance: (p: number) => boolean;
  readonly bytes: (n: number) => Uint8Array;
  /** An independent generator, derived deterministically. */
  readonly fork: () => Rng;
};

/** sfc32 seeded through splitmix32: fast, good enough, and the same on every platform. */
export function createRng(seed: number): Rng {
  let s = seed >>> 0;
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  const u32 = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  const next = (): number => u32() / 2 ** 32;
  const rng: Rng = {
    next,
    int: (n) => Math.floor(next() * n),
    chance: (p) => next() < p,
    bytes: (n) => {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i += 1) out[i] = u32() & 0xff;
      return out;
    },
    fork: () => createRng(u32()),
  };
  return rng;
}

export type SeedPlan = { readonly seeds: readonly number[]; readonly describe: string };

/** `count` fresh seeds derived from the time, or just COFFER_SEED when it is set. */
export function planSeeds(count: number): SeedPlan {
  const fixed = process.env.COFFER_SEED;
  if (fixed !== undefined && fixed !== '') {
    const seed = Number(fixed);
    if (!Number.isSafeInteger(seed) || seed < 0)
      throw new Error(`COFFER_SEED=${fixed} is not a seed`);
    return { seeds: [seed], describe: `seed=${seed} (from COFFER_SEED)` };
  }
  const base = (Date.now() * 1000 + process.pid) % 2 ** 32;
  const seeds = Array.from({ length: count }, (_, i) => (base + i) % 2 ** 32);
  return {
    seeds,
    describe: `${count} seeds, seed=${base} to seed=${(base + count - 1) % 2 ** 32} (COFFER_SEED=<seed> replays one)`,
  };
}

/** Runs `body` for each seed; a failure names its seed and how to replay it. */
export async function forEachSeed(
  plan: SeedPlan,
  file: string,
  body: (seed: number) => Promise<void>,
  seedTimeoutMs = 5000,
): Promise<void> {
  for (const seed of plan.seeds) {
    let timer: NodeJS.Timeout | undefined;
    try {
      // A seed that hangs (a promise never settles) is a failure of that seed, named as such.
      await Promise.race([
        body(seed),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            reject(new Error(`hung for ${seedTimeoutMs} ms`));
          }, seedTimeoutMs);
        }),
      ]);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(
        `seed=${seed}: ${message}\n  replay: COFFER_SEED=${seed} npx vitest run ${file}`,
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
  }
}

// The explorer's charts as pure functions of the node's per-second metrics: scales, SVG paths,
// ticks, and the text a person (or a screen reader) reads instead of the picture. chart.tsx
// only renders what chartModel returns.
import type { MetricsPoint } from './types.js';

/** The SVG's own coordinates (it scales to its container, keeping this aspect ratio). */
export type ChartFrame = {
  readonly width: number;
  readonly height: number;
  /** Room for the axes' labels. */
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
};

export const chartFrame: ChartFrame = {
  width: 640,
  height: 220,
  left: 56,
  right: 16,
  top: 12,
  bottom: 28,
};

/** Horizontal grid lines (and y labels) at most. */
export const yTicksMax = 5;

export type Series = {
  readonly key: string;
  readonly label: string;
  /** One value per second; null where there is nothing to show (a gap in the line). */
  readonly values: readonly (number | null)[];
  /** Solid or dashed: colour is never the only cue. */
  readonly dash: 'solid' | 'dashed';
  /** Its colour, one of styles.css's: the accent, bad (red) or wait (amber). */
  readonly tone: 'accent' | 'bad' | 'wait';
};

export type ChartModel = {
  readonly frame: ChartFrame;
  readonly yMax: number;
  readonly yTicks: readonly { readonly y: number; readonly label: string }[];
  /** The newest tick ("now") ends at the right edge; the others are centred on their second. */
  readonly xTicks: readonly {
    readonly x: number;
    readonly label: string;
    readonly anchor: 'middle' | 'end';
  }[];
  readonly lines: readonly {
    readonly key: string;
    readonly label: string;
    readonly dash: 'solid' | 'dashed';
    readonly tone: 'accent' | 'bad' | 'wait';
    readonly path: string;
    /** Values with no neighbour to join: drawn as dots. */
    readonly dots: readonly { readonly x: number; readonly y: number }[];
  }[];
};

/** The smallest 1, 2 or 5 × 10^k at or above `value` (1 for anything not above 0). */
export function niceCeiling(value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    // The rounding keeps 0.3 (not 0.30000000000000004) at 0.5.
    const candidate = Number((step * power).toPrecision(12));
    if (candidate >= value) return candidate;
  }
  return 10 * power;
}

/** Maps [d0, d1] linearly onto [r0, r1]; an empty domain maps to the middle of the range. */
export function linearScale(
  domain: readonly [number, number],
  range: readonly [number, number],
): (value: number) => number {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  if (d1 === d0) return () => (r0 + r1) / 2;
  return (value) => r0 + ((value - d0) / (d1 - d0)) * (r1 - r0);
}

const round = (value: number): number => Math.round(value * 10) / 10;

/**
 * An SVG path through the non-null values (`M` starts each run after a gap), with the indexes
 * of values that have no non-null neighbour (a line of one point draws nothing).
 */
export function linePath(
  values: readonly (number | null)[],
  x: (index: number) => number,
  y: (value: number) => number,
): { readonly path: string; readonly isolated: readonly number[] } {
  const parts: string[] = [];
  const isolated: number[] = [];
  let previousNull = true;
  values.forEach((value, index) => {
    if (value === null) {
      previousNull = true;
      return;
    }
    parts.push(`${previousNull ? 'M' : 'L'}${round(x(index))} ${round(y(value))}`);
    const next = values[index + 1];
    if (previousNull && (next === undefined || next === null)) isolated.push(index);
    previousNull = false;
  });
  return { path: parts.join(' '), isolated };
}

/** Tick values 0, step, 2·step… up to `max` (a nice ceiling), at most `count` + 1 of them. */
export function valueTicks(max: number, count: number = yTicksMax): number[] {
  const step = niceCeiling(max / Math.max(1, count));
  const ticks: number[] = [];
  for (let index = 0; index * step <= max + step * 1e-9; index += 1) {
    ticks.push(Number((index * step).toPrecision(12)));
  }
  return ticks;
}

/** A number for an axis or a summary: at most 3 significant digits, k for thousands. */
export function formatNumber(value: number): string {
  if (value >= 10_000) return `${Number((value / 1000).toPrecision(3))}k`;
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(value >= 100 ? 4 : 2)));
}

/** Milliseconds as people read them: 0.42 ms, 12 ms, 1.3 s. */
export function formatMs(ms: number): string {
  if (ms >= 1000) return `${formatNumber(ms / 1000)} s`;
  return `${formatNumber(ms)} ms`;
}

/** A duration in seconds as words: 45 seconds, 1 minute, 5 minutes. */
export function formatSeconds(seconds: number): string {
  if (seconds % 60 === 0) {
    const minutes = seconds / 60;
    return minutes === 1 ? '1 minute' : `${minutes} minutes`;
  }
  return seconds === 1 ? '1 second' : `${seconds} seconds`;
}

/**
 * Time ticks every `stepSeconds` back from the newest second: "now", "−1 min"… (relative, so
 * the labels do not depend on the viewer's clock or time zone).
 */
export function timeTicks(
  first: number,
  last: number,
  stepSeconds: number,
): { readonly t: number; readonly label: string }[] {
  const ticks: { t: number; label: string }[] = [];
  for (let t = last; t >= first; t -= stepSeconds) {
    const ago = last - t;
    const label =
      ago === 0 ? 'now' : ago % 60 === 0 ? `−${ago / 60} min` : `−${formatNumber(ago)} s`;
    ticks.push({ t, label });
  }
  return ticks.reverse();
}

/** Only whole seconds: the node's last point is the second in progress (it would dip). */
export function completeSeconds(points: readonly MetricsPoint[]): readonly MetricsPoint[] {
  return points.slice(0, -1);
}

/** Everything chart.tsx draws for `series` over the seconds `times`. */
export function chartModel(options: {
  readonly times: readonly number[];
  readonly series: readonly Series[];
  /** Formats y tick labels. */
  readonly format: (value: number) => string;
  /** The y axis reaches at least this (so a quiet chart is not all noise). */
  readonly floor: number;
  readonly stepSeconds?: number;
  readonly frame?: ChartFrame;
}): ChartModel {
  const frame = options.frame ?? chartFrame;
  const { times } = options;
  const first = times[0] ?? 0;
  const last = times.at(-1) ?? 0;
  const highest = Math.max(
    options.floor,
    ...options.series.flatMap((series) =>
      series.values.filter((value): value is number => value !== null),
    ),
  );
  const ticks = valueTicks(niceCeiling(highest));
  const yMax = ticks.at(-1) ?? 1;
  const x = linearScale([first, last], [frame.left, frame.width - frame.right]);
  const y = linearScale([0, yMax], [frame.height - frame.bottom, frame.top]);
  const xOf = (index: number): number => x(times[index] ?? first);
  return {
    frame,
    yMax,
    yTicks: ticks.map((value) => ({ y: round(y(value)), label: options.format(value) })),
    xTicks: timeTicks(first, last, options.stepSeconds ?? 60).map((tick) => ({
      x: round(x(tick.t)),
      label: tick.label,
      anchor: tick.t === last ? 'end' : 'middle',
    })),
    lines: options.series.map((series) => {
      const { path, isolated } = linePath(series.values, xOf, y);
      return {
        key: series.key,
        label: series.label,
        dash: series.dash,
        tone: series.tone,
        path,
        dots: isolated.map((index) => ({
          x: round(xOf(index)),
          y: round(y(series.values[index] ?? 0)),
        })),
      };
    }),
  };
}

export type MetricsRow = {
  /** First and last second of the row. */
  readonly from: number;
  readonly to: number;
  readonly committed: number;
  readonly invalid: number;
  /** Transactions (committed and invalid) per second over the row. */
  readonly perSecond: number;
  /** The highest per-second percentiles in the row; null when no latency was measured. */
  readonly p50MaxMs: number | null;
  readonly p99MaxMs: number | null;
};

const maxOf = (values: readonly (number | null)[]): number | null => {
  const present = values.filter((value): value is number => value !== null);
  return present.length === 0 ? null : Math.max(...present);
};

/** The points in rows of `bucketSeconds` (the table beside a chart), newest first. */
export function aggregate(points: readonly MetricsPoint[], bucketSeconds: number): MetricsRow[] {
  const rows: MetricsRow[] = [];
  for (let end = points.length; end > 0; end -= bucketSeconds) {
    const slice = points.slice(Math.max(0, end - bucketSeconds), end);
    const firstPoint = slice[0];
    const lastPoint = slice.at(-1);
    if (firstPoint === undefined || lastPoint === undefined) continue;
    const committed = slice.reduce((sum, point) => sum + point.committed, 0);
    const invalid = slice.reduce((sum, point) => sum + point.invalid, 0);
    rows.push({
      from: firstPoint.t,
      to: lastPoint.t,
      committed,
      invalid,
      perSecond: (committed + invalid) / slice.length,
      p50MaxMs: maxOf(slice.map((point) => point.commitLatencyP50Ms)),
      p99MaxMs: maxOf(slice.map((point) => point.commitLatencyP99Ms)),
    });
  }
  return rows;
}

const plural = (count: number, one: string, many: string): string =>
  `${formatNumber(count)} ${count === 1 ? one : many}`;

/** The throughput chart in words. */
export function throughputSummary(points: readonly MetricsPoint[]): string {
  const span = formatSeconds(points.length);
  const committed = points.reduce((sum, point) => sum + point.committed, 0);
  const invalid = points.reduce((sum, point) => sum + point.invalid, 0);
  if (committed + invalid === 0) return `No transactions in the last ${span}.`;
  const peak = Math.max(...points.map((point) => point.committed + point.invalid));
  const recent = points.slice(-10);
  const recentRate =
    recent.reduce((sum, point) => sum + point.committed + point.invalid, 0) /
    Math.max(1, recent.length);
  return (
    `Last ${span}: ${plural(committed, 'transaction', 'transactions')} committed and ` +
    `${formatNumber(invalid)} invalid; peak ${formatNumber(peak)} tx/s; ` +
    `last ${formatSeconds(recent.length)}: ${formatNumber(recentRate)} tx/s.`
  );
}

/** The latency chart in words. */
export function latencySummary(points: readonly MetricsPoint[]): string {
  const span = formatSeconds(points.length);
  const p50 = points.flatMap((point) =>
    point.commitLatencyP50Ms === null ? [] : [point.commitLatencyP50Ms],
  );
  const p99 = maxOf(points.map((point) => point.commitLatencyP99Ms));
  if (p50.length === 0 || p99 === null) {
    return `No transaction submitted to this node executed in the last ${span}: no commit latency to show.`;
  }
  const low = Math.min(...p50);
  const high = Math.max(...p50);
  const range = low === high ? formatMs(low) : `${formatMs(low)} to ${formatMs(high)}`;
  return (
    `Last ${span}, over ${plural(p50.length, 'second', 'seconds')} with transactions: ` +
    `median (p50) ${range}; p99 at most ${formatMs(p99)}.`
  );
}

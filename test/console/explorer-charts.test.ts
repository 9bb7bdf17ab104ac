// The explorer's chart maths (console/src/pages/explorer/charts.ts): nice axis ceilings, scales,
// SVG paths with gaps, ticks, table rows and the summaries that stand in for the pictures,
// against plain expectations and, for paths and ceilings, properties over random inputs.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  aggregate,
  chartFrame,
  chartModel,
  completeSeconds,
  formatMs,
  formatNumber,
  formatSeconds,
  latencySummary,
  linearScale,
  linePath,
  niceCeiling,
  throughputSummary,
  timeTicks,
  valueTicks,
} from '../../console/src/pages/explorer/charts.js';
import type { MetricsPoint } from '../../console/src/pages/explorer/types.js';

const point = (
  t: number,
  committed = 0,
  invalid = 0,
  p50: number | null = null,
  p99: number | null = null,
): MetricsPoint => ({
  t,
  committed,
  invalid,
  commitLatencyP50Ms: p50,
  commitLatencyP99Ms: p99,
});

describe('niceCeiling', () => {
  it('rounds up to 1, 2 or 5 times a power of ten', () => {
    expect(
      [0, -3, Number.NaN, 0.3, 1, 1.2, 2, 2.1, 4.9, 5, 7, 10, 11, 240, 999].map(niceCeiling),
    ).toEqual([1, 1, 1, 0.5, 1, 2, 2, 5, 5, 5, 10, 10, 20, 500, 1000]);
  });

  it('is at least the value and at most 2.5 times it', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-6, max: 1e9, noNaN: true }), (value) => {
        const ceiling = niceCeiling(value);
        expect(ceiling).toBeGreaterThanOrEqual(value);
        expect(ceiling).toBeLessThanOrEqual(value * 2.5 * (1 + 1e-9));
        const mantissa = Number((ceiling / 10 ** Math.floor(Math.log10(ceiling))).toPrecision(6));
        expect([1, 2, 5]).toContain(mantissa);
      }),
    );
  });
});

describe('linearScale', () => {
  it('maps the domain onto the range, flipped ranges too', () => {
    const y = linearScale([0, 10], [200, 0]);
    expect([y(0), y(5), y(10)]).toEqual([200, 100, 0]);
  });

  it('maps an empty domain to the middle of the range', () => {
    expect(linearScale([7, 7], [0, 100])(7)).toBe(50);
  });
});

describe('linePath', () => {
  const x = (index: number) => index * 10;
  const y = (value: number) => value;

  it('joins values, starts again after a gap and reports lone values', () => {
    expect(linePath([1, 2, null, 3, null, 4, 5], x, y)).toEqual({
      path: 'M0 1 L10 2 M30 3 M50 4 L60 5',
      isolated: [3],
    });
    expect(linePath([], x, y)).toEqual({ path: '', isolated: [] });
    expect(linePath([null, 7], x, y)).toEqual({ path: 'M10 7', isolated: [1] });
  });

  it('has one move per run, one point per value and lone values as a naive scan finds them', () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.integer({ min: 0, max: 1000 }))), (values) => {
        const { path, isolated } = linePath(values, x, y);
        const commands = path === '' ? [] : path.split(' ').filter((part) => /^[ML]/.test(part));
        const present = values.filter((value) => value !== null).length;
        expect(commands).toHaveLength(present);
        const runs = values.filter(
          (value, index) => value !== null && (index === 0 || values[index - 1] === null),
        ).length;
        expect(commands.filter((command) => command.startsWith('M'))).toHaveLength(runs);
        const naive = values.flatMap((value, index) =>
          value !== null &&
          (values[index - 1] ?? null) === null &&
          (values[index + 1] ?? null) === null
            ? [index]
            : [],
        );
        expect(isolated).toEqual(naive);
      }),
    );
  });
});

describe('ticks', () => {
  it('counts values from 0 to a nice maximum', () => {
    expect(valueTicks(10)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(valueTicks(1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(valueTicks(500)).toEqual([0, 100, 200, 300, 400, 500]);
    expect(valueTicks(20)).toEqual([0, 5, 10, 15, 20]);
  });

  it('labels time back from the newest second', () => {
    expect(timeTicks(100, 280, 60)).toEqual([
      { t: 100, label: '−3 min' },
      { t: 160, label: '−2 min' },
      { t: 220, label: '−1 min' },
      { t: 280, label: 'now' },
    ]);
    expect(timeTicks(0, 45, 30).map((tick) => tick.label)).toEqual(['−30 s', 'now']);
  });
});

describe('formatting', () => {
  it('writes numbers, milliseconds and durations as people read them', () => {
    expect([0, 3, 0.25, 1.234, 12.5, 123.4, 25_000].map(formatNumber)).toEqual([
      '0',
      '3',
      '0.25',
      '1.2',
      '13',
      '123.4',
      '25k',
    ]);
    expect([0.42, 12, 1300].map(formatMs)).toEqual(['0.42 ms', '12 ms', '1.3 s']);
    expect([1, 45, 60, 300].map(formatSeconds)).toEqual([
      '1 second',
      '45 seconds',
      '1 minute',
      '5 minutes',
    ]);
  });
});

describe('chartModel', () => {
  const points = [point(100, 1), point(101, 4, 1, 3, 9), point(102, 0, 0), point(103, 2)];

  it('puts the first second at the left edge, the last at the right, zero at the bottom', () => {
    const model = chartModel({
      times: points.map((p) => p.t),
      floor: 1,
      format: formatNumber,
      stepSeconds: 1,
      series: [
        {
          key: 'c',
          label: 'Committed',
          dash: 'solid',
          tone: 'accent',
          values: points.map((p) => p.committed),
        },
        {
          key: 'l',
          label: 'p50',
          dash: 'dashed',
          tone: 'wait',
          values: points.map((p) => p.commitLatencyP50Ms),
        },
      ],
    });
    // 4 at most, ticks of 1 up to the nice ceiling 5.
    expect(model.yMax).toBe(5);
    const left = chartFrame.left;
    const right = chartFrame.width - chartFrame.right;
    const bottom = chartFrame.height - chartFrame.bottom;
    const yOf = (value: number) => bottom - ((bottom - chartFrame.top) * value) / 5;
    const at = (share: number) => Math.round((left + (right - left) * share) * 10) / 10;
    expect(model.lines[0]?.path).toBe(
      `M${left} ${yOf(1)} L${at(1 / 3)} ${yOf(4)} ` + `L${at(2 / 3)} ${yOf(0)} L${right} ${yOf(2)}`,
    );
    expect(model.yTicks[0]).toEqual({ y: bottom, label: '0' });
    expect(model.yTicks.at(-1)).toEqual({ y: chartFrame.top, label: '5' });
    expect(model.xTicks.map((tick) => tick.label)).toEqual(['−3 s', '−2 s', '−1 s', 'now']);
    expect(model.xTicks.at(-1)).toEqual({ x: right, label: 'now', anchor: 'end' });
    expect(model.xTicks[0]?.anchor).toBe('middle');
    // One latency sample: a dot, since a line of one point draws nothing.
    expect(model.lines[1]?.dots).toHaveLength(1);
    expect(model.lines[1]?.dash).toBe('dashed');
  });

  it('keeps a quiet chart at its floor instead of magnifying nothing', () => {
    const model = chartModel({
      times: [1, 2],
      floor: 1,
      format: formatNumber,
      series: [{ key: 'c', label: 'Committed', dash: 'solid', tone: 'accent', values: [0, 0] }],
    });
    expect(model.yMax).toBe(1);
  });
});

describe('table rows and summaries', () => {
  it('drops the second in progress', () => {
    expect(completeSeconds([point(1), point(2), point(3)]).map((p) => p.t)).toEqual([1, 2]);
  });

  it('groups seconds into rows, newest first, with rates and the highest percentiles', () => {
    const seconds = [
      point(1, 1, 0, 2, 4),
      point(2, 3, 1, 5, 9),
      point(3, 0, 0),
      point(4, 2, 0, 1, 1),
      point(5, 0, 0),
    ];
    expect(aggregate(seconds, 2)).toEqual([
      { from: 4, to: 5, committed: 2, invalid: 0, perSecond: 1, p50MaxMs: 1, p99MaxMs: 1 },
      { from: 2, to: 3, committed: 3, invalid: 1, perSecond: 2, p50MaxMs: 5, p99MaxMs: 9 },
      { from: 1, to: 1, committed: 1, invalid: 0, perSecond: 1, p50MaxMs: 2, p99MaxMs: 4 },
    ]);
  });

  it('says in words what the charts show', () => {
    const quiet = Array.from({ length: 300 }, (_, i) => point(i));
    expect(throughputSummary(quiet)).toBe('No transactions in the last 5 minutes.');
    expect(latencySummary(quiet)).toMatch(/^No transaction submitted to this node executed/);
    const busy = [...quiet.slice(0, 290), point(290, 6, 1, 3.3, 12), point(291, 1, 0, 8, 40)];
    busy.push(...Array.from({ length: 8 }, (_, i) => point(292 + i)));
    expect(throughputSummary(busy)).toBe(
      'Last 5 minutes: 7 transactions committed and 1 invalid; peak 7 tx/s; last 10 seconds: 0.8 tx/s.',
    );
    expect(latencySummary(busy)).toBe(
      'Last 5 minutes, over 2 seconds with transactions: median (p50) 3.3 ms to 8 ms; p99 at most 40 ms.',
    );
  });
});

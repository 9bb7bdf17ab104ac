// A small line chart drawn from chartModel (charts.ts): an SVG image with a title and a
// description for screen readers, a legend in words (dashes, not only colours), and the
// numbers as a table for whoever prefers them.
import { useId, type ReactNode } from 'react';
import type { ChartModel } from './charts.js';

const dashArray = (dash: 'solid' | 'dashed'): string | undefined =>
  dash === 'dashed' ? '6 4' : undefined;

function Legend({ model }: { model: ChartModel }) {
  return (
    <ul className="legend">
      {model.lines.map((line) => (
        <li key={line.key}>
          <svg width="28" height="10" aria-hidden="true" className={`series tone-${line.tone}`}>
            <line x1="2" y1="5" x2="26" y2="5" strokeDasharray={dashArray(line.dash)} />
          </svg>
          {line.label}
        </li>
      ))}
    </ul>
  );
}

export function LineChart({
  title,
  summary,
  model,
  yLabel,
  table,
}: {
  title: string;
  summary: string;
  model: ChartModel;
  /** The y axis's unit, e.g. "tx/s" (shown above the chart; the title says it in words). */
  yLabel: string;
  /** The same data as a table. */
  table: ReactNode;
}) {
  const id = useId();
  const { frame } = model;
  return (
    <figure className="chart">
      <p className="unit" aria-hidden="true">
        {yLabel}
      </p>
      <svg
        viewBox={`0 0 ${frame.width} ${frame.height}`}
        role="img"
        aria-labelledby={`${id}-title ${id}-desc`}
      >
        <title id={`${id}-title`}>{title}</title>
        <desc id={`${id}-desc`}>{summary}</desc>
        <g className="grid-lines">
          {model.yTicks.map((tick) => (
            <g key={tick.label}>
              <line x1={frame.left} x2={frame.width - frame.right} y1={tick.y} y2={tick.y} />
              <text x={frame.left - 6} y={tick.y + 4} textAnchor="end">
                {tick.label}
              </text>
            </g>
          ))}
          {model.xTicks.map((tick) => (
            <text key={tick.label} x={tick.x} y={frame.height - 8} textAnchor={tick.anchor}>
              {tick.label}
            </text>
          ))}
        </g>
        {model.lines.map((line) => (
          <g key={line.key} className={`series tone-${line.tone}`}>
            <path d={line.path} strokeDasharray={dashArray(line.dash)} />
            {line.dots.map((dot) => (
              <circle key={`${dot.x},${dot.y}`} cx={dot.x} cy={dot.y} r="3" />
            ))}
          </g>
        ))}
      </svg>
      <figcaption>
        <Legend model={model} />
        <p>{summary}</p>
        <details>
          <summary>The numbers as a table</summary>
          {table}
        </details>
      </figcaption>
    </figure>
  );
}

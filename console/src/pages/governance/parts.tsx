// Small pieces of the governance pages: the area's tabs, the clock, a state badge with an
// explicit tone, fact lists and actions in words.
import { useEffect, useState, type ReactNode } from 'react';
import { href } from '../../router.js';
import { describeAction, type Tone } from './describe.js';
import type { GovAction, GovConfig } from './model.js';

const tabs = [
  { page: 'proposals', label: 'Proposals' },
  { page: 'propose', label: 'Propose' },
  { page: 'organisations', label: 'Organisations' },
  { page: 'nodes', label: 'Nodes' },
] as const;

export function GovNav({ page }: { page: string }) {
  return (
    <nav aria-label="Governance" className="gov-tabs">
      <ul>
        {tabs.map((tab) => (
          <li key={tab.page}>
            <a
              href={href('governance', tab.page)}
              aria-current={page === tab.page ? 'page' : undefined}
            >
              {tab.label}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

/** The time now, refreshed every `everyMs` (expiry and validity words follow it). */
export function useNow(everyMs = 5000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

/** A state word in a badge whose colour the caller chooses (the word is always there). */
export function ToneBadge({ tone, children }: { tone: Tone; children: ReactNode }) {
  return <span className={`badge ${tone}`}>{children}</span>;
}

export function Facts({ items }: { items: readonly (readonly [string, ReactNode])[] }) {
  return (
    <dl className="gov-facts">
      {items.map(([term, value]) => (
        <div key={term}>
          <dt>{term}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

/** The actions of a proposal in words (told against the configuration in force, if given). */
export function ActionWords({
  actions,
  config,
  showArgs = false,
}: {
  actions: readonly GovAction[];
  config?: GovConfig | undefined;
  showArgs?: boolean;
}) {
  return (
    <ol className="gov-actions">
      {actions.map((action, index) => {
        const words = describeAction(action, config);
        return (
          <li key={index}>
            <span className="gov-action-title">{words.title}</span>
            {words.details.length > 0 ? (
              <ul className="gov-action-details">
                {words.details.map((detail, at) => (
                  <li key={at}>{detail}</li>
                ))}
              </ul>
            ) : null}
            {showArgs ? (
              <details>
                <summary>
                  <code>{action.name}</code> arguments (JSON)
                </summary>
                <pre className="gov-json">{JSON.stringify(action.args, null, 2)}</pre>
              </details>
            ) : null}
          </li>
        );
      })}
    </ol>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="gov-empty">{children}</p>;
}

// Small shared pieces of every page: loading data, errors that say what to do, a signed
// action's button, identifiers, times and states.
import { useCallback, useEffect, useEffectEvent, useRef, useState, type ReactNode } from 'react';
import { ApiError, type TxOutcome } from '../lib/api.js';
import { useSession } from '../session.js';

export type Loaded<T> = {
  readonly data: T | undefined;
  readonly error: unknown;
  readonly loading: boolean;
  readonly reload: () => void;
};

/**
 * Runs `load` now, on `reload`, when `key` changes (say what the data depends on) and every
 * `refreshMs` (if given). Data of another key is never shown; an answer that arrives after a
 * newer call started is dropped.
 */
export function useLoad<T>(load: () => Promise<T>, key: string, refreshMs?: number): Loaded<T> {
  const [round, setRound] = useState(0);
  const [result, setResult] = useState<{ ticket: string; key: string; data?: T; error?: unknown }>({
    ticket: '',
    key: '',
  });
  const latest = useRef('');
  const ticket = `${key}#${round}`;
  const run = useEffectEvent((current: string) => {
    latest.current = current;
    load().then(
      (data) => {
        if (latest.current === current) setResult({ ticket: current, key, data });
      },
      (error: unknown) => {
        if (latest.current !== current) return;
        setResult((previous) => ({
          ticket: current,
          key,
          ...(previous.key === key && previous.data !== undefined ? { data: previous.data } : {}),
          error,
        }));
      },
    );
  });
  useEffect(() => {
    run(ticket);
  }, [ticket]);
  useEffect(() => {
    if (refreshMs === undefined) return undefined;
    const timer = setInterval(() => setRound((value) => value + 1), refreshMs);
    return () => clearInterval(timer);
  }, [refreshMs]);
  const reload = useCallback(() => setRound((value) => value + 1), []);
  const own = result.key === key;
  return {
    data: own ? result.data : undefined,
    error: own ? result.error : undefined,
    loading: result.ticket !== ticket,
    reload,
  };
}

/** An error with its code and what to do, announced to screen readers. */
export function ErrorNote({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  const api = error instanceof ApiError ? error : undefined;
  return (
    <div className="error" role="alert">
      <strong>{api?.code ?? 'Error'}</strong>:{' '}
      {error instanceof Error ? error.message : JSON.stringify(error)}
      {api?.fix ? <p className="fix">{api.fix}</p> : null}
    </div>
  );
}

/** Data or its loading/error state. */
export function Show<T>({
  loaded,
  children,
}: {
  loaded: Loaded<T>;
  children: (data: T) => ReactNode;
}) {
  if (loaded.data === undefined) {
    return loaded.error !== undefined ? (
      <ErrorNote error={loaded.error} />
    ) : (
      <p aria-busy="true">Loading…</p>
    );
  }
  return (
    <>
      {loaded.error !== undefined ? <ErrorNote error={loaded.error} /> : null}
      {children(loaded.data)}
    </>
  );
}

/**
 * A button that signs a transaction in the page and reports its outcome. Disabled, saying why,
 * until a key store is unlocked.
 */
export function SignButton({
  label,
  app,
  action,
  args,
  onDone,
  kind = 'primary',
  confirm,
}: {
  label: string;
  app: string;
  action: string;
  args: () => Record<string, unknown> | undefined;
  onDone?: (outcome: TxOutcome) => void;
  kind?: 'primary' | 'danger' | 'secondary';
  confirm?: string;
}) {
  const session = useSession();
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<TxOutcome | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const run = async () => {
    const value = args();
    if (value === undefined) return;
    if (confirm !== undefined && !window.confirm(confirm)) return;
    setBusy(true);
    setError(undefined);
    setOutcome(undefined);
    try {
      const result = await session.submit(app, action, value);
      setOutcome(result);
      if (result.status === 'Committed') onDone?.(result);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  const locked = session.identity === undefined;
  return (
    <span className="sign-button">
      <button
        type="button"
        className={kind}
        disabled={busy || locked}
        aria-busy={busy}
        title={locked ? 'Unlock your key store to sign' : undefined}
        onClick={() => void run()}
      >
        {busy ? `${label}…` : label}
      </button>
      {outcome !== undefined ? (
        <span role="status" className={outcome.status === 'Committed' ? 'ok' : 'bad'}>
          {outcome.status === 'Committed'
            ? ` Committed (${outcome.txId.slice(0, 12)}…)`
            : ` ${outcome.status}${outcome.code ? `: ${outcome.code}` : ''}${outcome.message ? ` — ${outcome.message}` : ''}`}
        </span>
      ) : null}
      <ErrorNote error={error} />
    </span>
  );
}

/** A long hex identifier, shortened, with its whole value for copying and screen readers. */
export function Hash({ value, length = 12 }: { value: string; length?: number }) {
  return (
    <code className="hash" title={value} aria-label={value}>
      {value.length > length ? `${value.slice(0, length)}…` : value}
    </code>
  );
}

export function Time({ ms }: { ms: number | undefined }) {
  if (ms === undefined || !Number.isFinite(ms)) return <span>—</span>;
  const date = new Date(ms);
  return <time dateTime={date.toISOString()}>{date.toLocaleString()}</time>;
}

/** A state as a labelled badge (colour is never the only cue: the word is there). */
export function Badge({ state }: { state: string }) {
  const tone = /confirm|commit|accept|approved|credited|active|valid|ok|enacted/i.test(state)
    ? 'ok'
    : /reject|invalid|fail|expire|cancel|dropped|refused|withdrawn/i.test(state)
      ? 'bad'
      : 'wait';
  return <span className={`badge ${tone}`}>{state}</span>;
}

export function Section({
  title,
  children,
  actions,
}: {
  title: string;
  children: ReactNode;
  actions?: ReactNode;
}) {
  const id = `section-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return (
    <section aria-labelledby={id} className="card">
      <div className="card-head">
        <h2 id={id}>{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  );
}

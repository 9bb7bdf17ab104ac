// Who is signed in: the caller the node sees (session or client certificate) and, when a key
// store is unlocked, the identity that signs transactions in the page.
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useState,
  type ReactNode,
} from 'react';
import { api, setToken, signIn, signOut, submit, type Caller, type TxOutcome } from './lib/api.js';
import { unlockKeyStore, type SigningIdentity } from './lib/identity.js';

export type Session = {
  /** Undefined until the first whoami answers. */
  readonly ready: boolean;
  readonly caller: Caller | null;
  readonly identity: SigningIdentity | undefined;
  readonly unlock: (fileText: string, passphrase: string) => Promise<void>;
  readonly signOut: () => Promise<void>;
  /** Signs `app/action` with the unlocked key and waits for its commit. */
  readonly submit: (
    app: string,
    action: string,
    args: Record<string, unknown>,
  ) => Promise<TxOutcome>;
};

const SessionContext = createContext<Session | undefined>(undefined);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [ready, setReady] = useState(false);
  const [caller, setCaller] = useState<Caller | null>(null);
  const [identity, setIdentity] = useState<SigningIdentity | undefined>(undefined);

  useEffect(() => {
    api<{ caller: Caller | null }>('GET', '/v1/whoami')
      .then((answer) => setCaller(answer.caller))
      .catch(() => {
        setToken(undefined);
        setCaller(null);
      })
      .finally(() => setReady(true));
  }, []);

  const unlock = useCallback(async (fileText: string, passphrase: string) => {
    const opened = await unlockKeyStore(fileText, passphrase);
    const session = await signIn(opened);
    setIdentity(opened);
    setCaller(session.caller);
  }, []);

  const leave = useCallback(async () => {
    identity?.forget();
    setIdentity(undefined);
    await signOut().catch(() => undefined);
    setCaller(null);
  }, [identity]);

  const sign = useCallback(
    async (app: string, action: string, args: Record<string, unknown>) => {
      if (identity === undefined) throw new Error('unlock your key store to sign');
      return submit(identity, app, action, args);
    },
    [identity],
  );

  const value = useMemo<Session>(
    () => ({ ready, caller, identity, unlock, signOut: leave, submit: sign }),
    [ready, caller, identity, unlock, leave, sign],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (session === undefined) throw new Error('useSession outside SessionProvider');
  return session;
}

// Sign-in: a console key store chosen from disk and its passphrase. The key is unlocked and used
// in this page only; the node gets the certificate and a signature over its challenge.
import { useState, type SyntheticEvent } from 'react';
import { ErrorNote } from '../components/ui.js';
import { useSession } from '../session.js';

export function SignIn({ compact = false }: { compact?: boolean }) {
  const session = useSession();
  const [file, setFile] = useState<File | undefined>(undefined);
  const [passphrase, setPassphrase] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    if (file === undefined) {
      setError(new Error('choose your key store file'));
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await session.unlock(await file.text(), passphrase);
      setPassphrase('');
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      className={compact ? 'sign-in compact' : 'sign-in card'}
      onSubmit={(event) => void submit(event)}
      aria-label="Sign in"
    >
      {compact ? null : (
        <>
          <h1>Sign in to Coffer</h1>
          <p>
            Choose your console key store (made by <code>coffer console keystore</code> from your
            MSP folder) and type its passphrase. The key is unlocked in this page and never leaves
            it.
          </p>
        </>
      )}
      <label>
        Key store file
        <input
          type="file"
          accept=".json,application/json"
          required
          onChange={(event) => setFile(event.target.files?.[0])}
        />
      </label>
      <label>
        Passphrase
        <input
          type="password"
          autoComplete="current-password"
          required
          minLength={12}
          value={passphrase}
          onChange={(event) => setPassphrase(event.target.value)}
        />
      </label>
      <button type="submit" className="primary" disabled={busy} aria-busy={busy}>
        {busy ? 'Unlocking…' : compact ? 'Unlock to sign' : 'Sign in'}
      </button>
      <ErrorNote error={error} />
    </form>
  );
}

import { useState, type FormEvent } from 'react';
import { saveApiKey } from '../api/api-key';
import type { ApiProblem } from '../api/problem';

/**
 * Asks for the API key: on arrival when the server requires one, after a 401, or to change it.
 * A rejected key says so instead of asking silently again.
 */
export function ApiKeyPrompt({
  problem,
  onSaved,
  onCancel,
}: {
  problem: ApiProblem | null;
  onSaved: () => void;
  /** Offered when a key is already in use: keep it and close the prompt. */
  onCancel?: () => void;
}) {
  const [key, setKey] = useState('');
  const rejected = problem?.code === 'API_KEY_INVALID';
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!key.trim()) return;
    saveApiKey(key.trim());
    onSaved();
  };
  return (
    <section className="card api-key" aria-labelledby="api-key-heading">
      <h2 id="api-key-heading">This server needs an API key</h2>
      {rejected ? (
        <p className="problem" role="alert">
          That API key was not accepted. Check it and try again.
        </p>
      ) : (
        <p>Enter the key you were given. It is kept in this browser tab only and sent in a header, never in a link.</p>
      )}
      <form onSubmit={submit} className="inline-form">
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autoComplete="off"
          value={key}
          onChange={(e) => setKey(e.target.value)}
          required
          autoFocus
        />
        <button type="submit">Use this key</button>
        {onCancel ? (
          <button type="button" className="secondary" onClick={onCancel}>
            Keep the current key
          </button>
        ) : null}
      </form>
    </section>
  );
}

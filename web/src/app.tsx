import { getAccess, type AccessDto } from '@pixbatch/sdk';
import { useEffect, useState } from 'react';
import { forgetApiKey, readApiKey } from './api/api-key';
import { call, onAuthRequired } from './api/client';
import { ApiProblem } from './api/problem';
import { ApiKeyPrompt } from './components/api-key-prompt';
import { Link } from './components/link';
import { ProblemView } from './components/problem-view';
import { useRoute, type Route } from './router';
import { RequestView } from './views/request-view';
import { RequestsView } from './views/requests-view';
import { UploadView } from './views/upload-view';

function View({ route, authGeneration }: { route: Route; authGeneration: number }) {
  switch (route.view) {
    case 'upload':
      return <UploadView authGeneration={authGeneration} />;
    case 'requests':
      return <RequestsView />;
    case 'request':
      return <RequestView id={route.id} />;
    case 'not-found':
      return (
        <section>
          <h1>Page not found</h1>
          <p>
            <Link href="/">Upload a CSV</Link> or see your <Link href="/requests">requests</Link>.
          </p>
        </section>
      );
  }
}

/** Why the key prompt is open: on arrival, because the person asked to change the key, or after a refused call. */
type KeyPrompt = { reason: 'arrival' | 'change' } | { reason: 'refused'; problem: ApiProblem };

/** The refusal protected mode would answer every call with, said before the first one is made. */
const PROTECTED_MODE = new ApiProblem({
  type: 'about:blank',
  title: 'Protected mode',
  status: 403,
  code: 'PROTECTED_MODE',
});

export function App() {
  const route = useRoute();
  // How the server admits callers (GET /api/v1/access), read once on arrival; null until known.
  const [access, setAccess] = useState<AccessDto | null>(null);
  const [keyPrompt, setKeyPrompt] = useState<KeyPrompt | null>(null);
  // Bumped when a key is saved or forgotten: the current view mounts again and repeats its calls.
  const [authGeneration, setAuthGeneration] = useState(0);
  const hasKey = readApiKey() !== undefined;

  useEffect(() => onAuthRequired((problem) => setKeyPrompt({ reason: 'refused', problem })), []);

  useEffect(() => {
    // A server too old for the route, or unreachable, leaves the page as before: it asks after a 401.
    call(getAccess())
      .then((answer) => {
        setAccess(answer);
        if (answer.apiKeyRequired && readApiKey() === undefined) setKeyPrompt({ reason: 'arrival' });
      })
      .catch(() => undefined);
  }, []);

  const keyChanged = () => {
    setKeyPrompt(null);
    setAuthGeneration((n) => n + 1);
  };
  const forget = () => {
    forgetApiKey();
    setKeyPrompt({ reason: 'arrival' });
    setAuthGeneration((n) => n + 1);
  };

  const current = route.view === 'upload' ? '/' : route.view === 'requests' ? '/requests' : undefined;
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="site-header">
        <Link href="/" className="brand">
          pixbatch
        </Link>
        <nav aria-label="Main">
          <Link href="/" aria-current={current === '/' ? 'page' : undefined}>
            Upload
          </Link>
          <Link href="/requests" aria-current={current === '/requests' ? 'page' : undefined}>
            Requests
          </Link>
          <a href="/docs">API docs</a>
        </nav>
        {hasKey ? (
          <div className="key-controls">
            <button type="button" className="header-button" onClick={() => setKeyPrompt({ reason: 'change' })}>
              Change API key
            </button>
            <button type="button" className="header-button" onClick={forget}>
              Forget API key
            </button>
          </div>
        ) : null}
      </header>
      <main id="main" tabIndex={-1}>
        {access && !access.clientAllowed ? <ProblemView problem={PROTECTED_MODE} /> : null}
        {keyPrompt ? (
          <ApiKeyPrompt
            problem={keyPrompt.reason === 'refused' ? keyPrompt.problem : null}
            onSaved={keyChanged}
            onCancel={keyPrompt.reason === 'change' ? () => setKeyPrompt(null) : undefined}
          />
        ) : null}
        {/* The upload form keeps the chosen file across a key prompt; the other views reload. */}
        <View
          key={route.view === 'upload' ? 'upload' : `${authGeneration}:${location.pathname}`}
          route={route}
          authGeneration={authGeneration}
        />
      </main>
    </>
  );
}

import { useEffect, useState } from 'react';
import { onAuthRequired } from './api/client';
import type { ApiProblem } from './api/problem';
import { ApiKeyPrompt } from './components/api-key-prompt';
import { Link } from './components/link';
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

export function App() {
  const route = useRoute();
  const [authProblem, setAuthProblem] = useState<ApiProblem | null>(null);
  // Bumped when a key is saved: the current view mounts again and repeats its calls with the key.
  const [authGeneration, setAuthGeneration] = useState(0);

  useEffect(() => onAuthRequired(setAuthProblem), []);

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
      </header>
      <main id="main" tabIndex={-1}>
        {authProblem ? (
          <ApiKeyPrompt
            problem={authProblem}
            onSaved={() => {
              setAuthProblem(null);
              setAuthGeneration((n) => n + 1);
            }}
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

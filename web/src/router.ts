import { useEffect, useState } from 'react';

/** The page's routes; the server answers each with index.html (src/web/web-page.ts lists the same). */
export type Route = { view: 'upload' } | { view: 'requests' } | { view: 'request'; id: string } | { view: 'not-found' };

export function parseRoute(pathname: string): Route {
  if (pathname === '/' || pathname === '') return { view: 'upload' };
  if (pathname === '/requests' || pathname === '/requests/') return { view: 'requests' };
  const match = /^\/requests\/([^/]+)\/?$/.exec(pathname);
  if (match) return { view: 'request', id: decodeURIComponent(match[1]) };
  return { view: 'not-found' };
}

/** A new history entry (Back returns to the one before), with `state` kept by the browser across reloads. */
export function navigate(path: string, state: unknown = null): void {
  history.pushState(state, '', path);
  dispatchEvent(new PopStateEvent('popstate'));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.pathname));
    addEventListener('popstate', update);
    return () => removeEventListener('popstate', update);
  }, []);
  return route;
}

/** The query string and history state of the current entry, read again on every navigation and on Back/Forward. */
export function useLocationState(): { search: string; state: unknown } {
  const [current, setCurrent] = useState(readLocation);
  useEffect(() => {
    const update = () => setCurrent(readLocation());
    addEventListener('popstate', update);
    return () => removeEventListener('popstate', update);
  }, []);
  return current;
}

function readLocation(): { search: string; state: unknown } {
  return { search: location.search, state: history.state as unknown };
}

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

export function navigate(path: string): void {
  history.pushState(null, '', path);
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

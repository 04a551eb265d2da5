import { WEB_PAGE_ROUTES } from '../../src/web/web-page.js';

/**
 * Routes open to anyone, with or without API_KEYS and from any machine:
 * probes, metrics, the API document, output images, the web page with its
 * assets (it must load to ask for a key; its data comes from the API), and
 * how callers are admitted (the page asks it whether to prompt for a key).
 * Every other route is guarded; the route walks in the security, tenants and
 * role-surface suites check that against this one list.
 */
export const PUBLIC_ROUTES: readonly RegExp[] = [
  /^\/health\//,
  /^\/metrics$/,
  /^\/docs(\/|-json|-yaml|$)/,
  /^\/files\//,
  /^\/assets\//,
  /^\/api\/v1\/access$/,
  ...WEB_PAGE_ROUTES.map((url) => new RegExp(`^${url}$`)),
];

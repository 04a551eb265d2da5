import type { FastifyInstance } from 'fastify';

export interface RouteEntry {
  method: string;
  /** Fastify's route template, e.g. `/api/v1/requests/:id`. */
  url: string;
}

const catalogs = new WeakMap<FastifyInstance, RouteEntry[]>();

/**
 * Records every route as it is registered (Nest controllers, Swagger UI, plugins),
 * so that what a role serves can be listed from the router itself rather than
 * from a list kept by hand. Must run before anything registers a route.
 */
export function recordRoutes(fastify: FastifyInstance): void {
  const routes: RouteEntry[] = [];
  catalogs.set(fastify, routes);
  fastify.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });
}

export function routesOf(fastify: FastifyInstance): readonly RouteEntry[] {
  // Plugins and not-found handlers see an encapsulated child, which inherits from the root by prototype.
  for (let instance: object | null = fastify; instance; instance = Reflect.getPrototypeOf(instance)) {
    const routes = catalogs.get(instance as FastifyInstance);
    if (routes) return routes;
  }
  return [];
}

/**
 * The methods registered for a concrete path (e.g. `/api/v1/requests/3f…`), so an
 * unmatched request can be told 405 with `Allow` rather than 404. Empty when no
 * route has this path under any method.
 */
export function allowedMethods(fastify: FastifyInstance, path: string): string[] {
  const normalized = path.length > 1 ? path.replace(/\/+$/, '') : path;
  const methods = new Set<string>();
  for (const route of routesOf(fastify)) {
    if (templatePattern(route.url).test(normalized)) methods.add(route.method);
  }
  return [...methods].sort();
}

const patterns = new Map<string, RegExp>();

function templatePattern(template: string): RegExp {
  let pattern = patterns.get(template);
  if (!pattern) {
    const trimmed = template.length > 1 ? template.replace(/\/+$/, '') : template;
    const source = trimmed
      .split('/')
      .map((segment) => {
        if (segment === '*') return '.*';
        if (segment.startsWith(':')) return '[^/]+';
        return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('/');
    pattern = new RegExp(`^${source}$`);
    patterns.set(template, pattern);
  }
  return pattern;
}

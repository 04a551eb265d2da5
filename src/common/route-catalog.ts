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
  return catalogs.get(fastify) ?? [];
}

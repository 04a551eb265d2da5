import type { FastifyInstance } from 'fastify';
import type { PinoLogger } from 'nestjs-pino';

/** Probes and scrapes every few seconds would drown the log. */
const QUIET = /^\/(health|metrics)\b/;

/**
 * One line per HTTP request once its response is sent: method, route
 * template, status, duration and reqId. A 4xx is the caller's problem, so it
 * is info without a stack; a 5xx is logged at error (the problem filter has
 * already written its stack).
 */
export function registerAccessLog(fastify: FastifyInstance, logger: PinoLogger): void {
  fastify.addHook('onResponse', async (request, reply) => {
    if (QUIET.test(request.url)) return;
    const line = {
      reqId: request.id,
      method: request.method,
      route: request.routeOptions.url ?? null,
      url: request.url,
      status: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 10) / 10,
    };
    const message = `${request.method} ${request.url} ${reply.statusCode}`;
    if (reply.statusCode >= 500) logger.error(line, message);
    else logger.info(line, message);
  });
}

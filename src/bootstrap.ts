import helmet from '@fastify/helmet';
import multipart from '@fastify/multipart';
import { INestApplicationContext, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import { Logger, PinoLogger } from 'nestjs-pino';
import { AppModule } from './app.module.js';
import { ProblemDetailsFilter } from './common/problem-details.filter.js';
import { onClientError, onFrameworkError } from './common/framework-errors.js';
import { recordRoutes } from './common/route-catalog.js';
import { AppConfig } from './config/app-config.js';
import { registerAccessLog } from './observability/access-log.js';
import { MetricsService } from './observability/metrics.service.js';
import { REQUEST_ID_HEADER, requestIdOf } from './observability/observability.module.js';
import { createOpenApiDocument } from './openapi-document.js';
import { pageDirectives, relaxForSwaggerUi } from './web/content-security-policy.js';
import { registerWebPage } from './web/web-page.js';

/**
 * Builds the HTTP application without listening: the API for roles `all` and
 * `api`; for a worker with METRICS_PORT, only its probes and metrics.
 */
export async function createHttpApp(config: AppConfig): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    // Only JSON bodies are parsed by Fastify; the CSV arrives through multipart streaming.
    bodyLimit: 1024 * 1024,
    routerOptions: { ignoreTrailingSlash: true },
    requestIdHeader: false,
    genReqId: requestIdOf,
    frameworkErrors: onFrameworkError,
    clientErrorHandler: onClientError,
    trustProxy: config.trustProxy,
  });
  recordRoutes(adapter.getInstance());
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forConfig(config), adapter, {
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onRequest', async (request, reply) => {
    // The raw request carries the id to pino-http, the header carries it back to the caller.
    (request.raw as typeof request.raw & { id?: string }).id = request.id;
    void reply.header(REQUEST_ID_HEADER, request.id);
  });
  const accessLogger = await app.resolve<PinoLogger<never>>(PinoLogger);
  accessLogger.setContext('http');
  registerAccessLog(fastify, accessLogger);
  const metrics = app.get(MetricsService);
  // Labelled by route template (/api/v1/requests/:id), not the raw URL, to keep the series count bounded.
  fastify.addHook('onResponse', async (request, reply) => {
    metrics.httpDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: reply.statusCode },
      reply.elapsedTime / 1000,
    );
  });
  const csp = pageDirectives([config.publicBaseUrl, config.storagePublicBaseUrl]);
  await app.register(helmet, {
    contentSecurityPolicy: { directives: csp },
    // Output images are meant to be embedded by other sites' product pages.
    crossOriginResourcePolicy: { policy: 'cross-origin' },
  });
  if (config.runsApi) {
    await registerMultipart(app, config);
    relaxForSwaggerUi(fastify, csp);
    await registerWebPage(app);
  }
  // Bodies of types we do not parse are left unread, so the upload route can
  // answer with a specific problem ("expected multipart") instead of a bare 415.
  fastify.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
  app.useGlobalFilters(new ProblemDetailsFilter());
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, transform: true, forbidNonWhitelisted: true }));
  app.enableShutdownHooks();
  if (config.runsApi) setUpOpenApi(app);
  return app;
}

async function registerMultipart(app: NestFastifyApplication, config: AppConfig): Promise<void> {
  await app.register(multipart, {
    limits: {
      fileSize: config.limits.csvBytes,
      files: 1,
      fields: 10,
      fieldSize: 8 * 1024,
      parts: 12,
      headerPairs: 100,
    },
  });
}

/** Builds the worker-only application: no HTTP server (see METRICS_PORT), just queues. */
export async function createWorkerContext(config: AppConfig): Promise<INestApplicationContext> {
  const context = await NestFactory.createApplicationContext(AppModule.forConfig(config), { bufferLogs: true });
  context.useLogger(context.get(Logger));
  context.enableShutdownHooks();
  return context;
}

export function setUpOpenApi(app: NestFastifyApplication): void {
  SwaggerModule.setup('docs', app, createOpenApiDocument(app), { jsonDocumentUrl: 'docs-json' });
}

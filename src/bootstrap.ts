import helmet from '@fastify/helmet';
import multipart from '@fastify/multipart';
import { INestApplicationContext, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module.js';
import { ProblemDetailsFilter } from './common/problem-details.filter.js';
import { AppConfig } from './config/app-config.js';

/** Builds the HTTP application (roles `all` and `api`) without listening. */
export async function createHttpApp(config: AppConfig): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    // Only JSON bodies are parsed by Fastify; the CSV arrives through multipart streaming.
    bodyLimit: 1024 * 1024,
    routerOptions: { ignoreTrailingSlash: true },
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forConfig(config), adapter, {
    bufferLogs: false,
  });
  await app.register(helmet, {
    // Swagger UI at /docs needs inline scripts and styles; everything else is JSON, CSV or images.
    contentSecurityPolicy: {
      directives: {
        defaultSrc: [`'self'`],
        scriptSrc: [`'self'`, `'unsafe-inline'`],
        styleSrc: [`'self'`, `'unsafe-inline'`],
        imgSrc: [`'self'`, 'data:'],
      },
    },
    // Output images are meant to be embedded by other sites' product pages.
    crossOriginResourcePolicy: { policy: 'cross-origin' },
  });
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
  // Bodies of types we do not parse are left unread, so the upload route can
  // answer with a specific problem ("expected multipart") instead of a bare 415.
  app
    .getHttpAdapter()
    .getInstance()
    .addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
  app.useGlobalFilters(new ProblemDetailsFilter());
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, transform: true, forbidNonWhitelisted: true }));
  app.enableShutdownHooks();
  setUpOpenApi(app);
  return app;
}

/** Builds the worker-only application: no HTTP server, just queues. */
export async function createWorkerContext(config: AppConfig): Promise<INestApplicationContext> {
  const context = await NestFactory.createApplicationContext(AppModule.forConfig(config));
  context.enableShutdownHooks();
  return context;
}

export function setUpOpenApi(app: NestFastifyApplication): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('pixbatch')
      .setDescription(
        'Upload a CSV of products with image URLs; every image is fetched, compressed (quality 50, format kept, ' +
          'optional resize) and stored. Poll the status, then download a result CSV with input and output URLs side by side. ' +
          'Errors are RFC 9457 problem documents (application/problem+json) with a stable `code`.',
      )
      .setVersion('1.0.0')
      .build(),
    { operationIdFactory: (_controller, method) => method },
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
}


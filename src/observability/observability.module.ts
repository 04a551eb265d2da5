import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Global, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { Options as PinoHttpOptions } from 'pino-http';
import { AppConfig } from '../config/app-config.js';
import { ProductsDataModule } from '../products/products-data.module.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsService } from './metrics.service.js';

export const REQUEST_ID_HEADER = 'x-request-id';
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A caller's request id is kept (so one id follows a request across systems) when it is safe to log; otherwise a new one. */
export function requestIdOf(request: IncomingMessage): string {
  const incoming = request.headers[REQUEST_ID_HEADER];
  return typeof incoming === 'string' && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/**
 * The one pino configuration of a run, used by main.ts for what it logs before
 * the application exists, so every line of a run has the same format.
 */
export function pinoHttpOptions(config: AppConfig): PinoHttpOptions {
  return {
    level: config.logLevel,
    // Pretty output only for a person watching a terminal; anything else gets JSON lines.
    transport: config.prettyLogs ? { target: 'pino-pretty', options: { singleLine: true } } : undefined,
    // Fastify assigned the id (see requestIdOf); the log line uses the same one.
    genReqId: (request: IncomingMessage) => request.id ?? randomUUID(),
    redact: {
      paths: [
        'req.headers["x-api-key"]',
        'req.headers.authorization',
        'req.headers.cookie',
        'res.headers["set-cookie"]',
      ],
      censor: '[redacted]',
    },
    serializers: {
      req: (request: { id: string; method: string; url: string }) => ({
        id: request.id,
        method: request.method,
        url: request.url,
      }),
    },
    // The access line is written by a Fastify hook (see access-log.ts), which knows the route template.
    autoLogging: false,
  };
}

/** Structured logs (pino, JSON; pretty on a developer's terminal) and Prometheus metrics. */
@Global()
@Module({
  imports: [
    // MetricsService reads the image backlog from ImageDispatchRepository.
    ProductsDataModule,
    LoggerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({ pinoHttp: pinoHttpOptions(config) }),
    }),
  ],
  controllers: [MetricsController],
  providers: [MetricsService],
  exports: [MetricsService],
})
export class ObservabilityModule {}

import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { AppConfig } from '../config/app-config.js';
import { ImageDispatchRepository } from '../products/image-dispatch.repository.js';
import { JobQueue } from '../queue/job-queue.service.js';

/**
 * Every Prometheus metric the service exports, in one registry per process.
 * Names follow Prometheus conventions: a `pixbatch_` prefix, base units
 * (seconds, bytes), `_total` on counters.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly httpDuration = new Histogram({
    name: 'pixbatch_http_request_duration_seconds',
    help: 'HTTP request latency by route template, method and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly imagesProcessed = new Counter({
    name: 'pixbatch_images_processed_total',
    help:
      'Images that reached a terminal state, by outcome, error code and how a success was obtained ' +
      '(fetched and encoded, or copied after a 304 or matching bytes)',
    labelNames: ['outcome', 'code', 'obtained'] as const,
    registers: [this.registry],
  });

  readonly jobAttemptsFailed = new Counter({
    name: 'pixbatch_image_attempts_failed_total',
    help: 'Image job attempts that failed and will be retried, by error code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly imageDuration = new Histogram({
    name: 'pixbatch_image_processing_seconds',
    help: 'Time to fetch, compress and store one image that was encoded (not copied), by format',
    labelNames: ['format'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly imageBytes = new Counter({
    name: 'pixbatch_image_bytes_total',
    help: 'Bytes of images downloaded (in; nothing for a 304) and stored (out)',
    labelNames: ['direction'] as const,
    registers: [this.registry],
  });

  readonly webhookAttempts = new Counter({
    name: 'pixbatch_webhook_attempts_total',
    help: 'Webhook delivery attempts by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  constructor(work: ImageDispatchRepository, queue: JobQueue, config: AppConfig) {
    // The event-loop delay histogram samples with a timer at this precision: at
    // prom-client's default of 10 ms that timer alone cost every process 7.5 ms of CPU
    // a second, busy or idle (0.1 ms per image in the worker, as much in the API).
    // At 100 ms a 15-second scrape interval still holds 150 samples.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 });
    new Gauge({
      name: 'pixbatch_images_open',
      help: "Images of this deployment's open requests: dispatched to chunk jobs, or waiting in PostgreSQL",
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        const depth = await work.workDepth(config.deployment);
        for (const [state, count] of Object.entries(depth)) this.set({ state }, count);
      },
    });
    // For noticing a backlog with no worker to drain it.
    new Gauge({
      name: 'pixbatch_image_workers',
      help: "Worker connections on this deployment's image queue, across every process",
      registers: [this.registry],
      async collect() {
        this.set(await queue.imageWorkerCount());
      },
    });
  }
}

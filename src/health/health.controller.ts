import { Controller, Get, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiProblemResponses } from '../common/api-problem-responses.decorator.js';
import type { FastifyReply } from 'fastify';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { AppConfig } from '../config/app-config.js';
import { ImageDispatchRepository } from '../products/image-dispatch.repository.js';
import { JobQueue } from '../queue/job-queue.service.js';
import { StorageDriver } from '../storage/storage.driver.js';
import { Public } from '../common/public.decorator.js';

// A probe must answer quickly even when a dependency hangs rather than refuses.
const CHECK_TIMEOUT_MS = 2000;

// The one client error a probe can meet: Node refuses oversized headers before any route runs.
@ApiTags('health')
@ApiProblemResponses({ 431: 'Request headers over 16 KB (HEADERS_TOO_LARGE)' })
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly queue: JobQueue,
    private readonly work: ImageDispatchRepository,
    private readonly storage: StorageDriver,
    private readonly config: AppConfig,
  ) {}

  @Get('live')
  @ApiOperation({
    summary: 'Liveness: the process is up and serving',
    operationId: 'getLiveness',
    description:
      'Answers 200 while the process runs; checks no dependency, so an orchestrator restarts only a hung process.',
  })
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  @Get('ready')
  @ApiOperation({
    summary: 'Readiness: PostgreSQL, Redis and storage answer (503 when one does not)',
    operationId: 'getReadiness',
    description:
      'Checks PostgreSQL, Redis and storage within 2 s each and reports the open images (dispatched to workers, or waiting in PostgreSQL) and the workers serving this deployment; 503 names the dependency that is down.',
  })
  @HealthCheck()
  async ready(@Res({ passthrough: true }) reply: FastifyReply) {
    try {
      return await this.checkDependencies();
    } catch (error) {
      // Terminus reports a failed check by throwing; a probe (and whoever is
      // paged) needs its report of which dependency is down, which the global
      // problem filter would reduce to a bare "Service Unavailable".
      if (!(error instanceof ServiceUnavailableException)) throw error;
      void reply.status(503);
      return error.getResponse();
    }
  }

  private checkDependencies() {
    return this.health.check([
      // A real query rather than terminus' MikroORM indicator, which reports a
      // fresh process "not connected" until something else has used the pool.
      () =>
        this.indicators
          .check('database')
          // The images left to do, dispatched or waiting: PostgreSQL holds them, Redis only a window.
          .attempt(async () => ({ images: await this.work.workDepth(this.config.deployment) }))
          .withTimeout(CHECK_TIMEOUT_MS),
      // Connected image workers, for dashboards and for noticing a backlog
      // with no worker to drain it; a real Redis round trip.
      () =>
        this.indicators
          .check('redis')
          .attempt(async () => ({ imageWorkers: await this.queue.imageWorkerCount() }))
          .withTimeout(CHECK_TIMEOUT_MS),
      () =>
        this.indicators
          .check('storage')
          .attempt(() => this.storage.checkWritable())
          .withTimeout(CHECK_TIMEOUT_MS),
    ]);
  }
}

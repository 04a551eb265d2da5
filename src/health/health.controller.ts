import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  MikroOrmHealthIndicator,
} from '@nestjs/terminus';
import { JobQueue } from '../queue/job-queue.service.js';
import { StorageDriver } from '../storage/storage.driver.js';
import { Public } from '../security/public.decorator.js';

// A probe must answer quickly even when a dependency hangs rather than refuses.
const CHECK_TIMEOUT_MS = 2000;

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly database: MikroOrmHealthIndicator,
    private readonly queue: JobQueue,
    private readonly storage: StorageDriver,
  ) {}

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process is up and serving', operationId: 'getLiveness' })
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  @Get('ready')
  @ApiOperation({
    summary: 'Readiness: PostgreSQL, Redis and storage answer (503 when one does not)',
    operationId: 'getReadiness',
  })
  @HealthCheck()
  ready() {
    return this.health.check([
      () => this.database.pingCheck('database').withTimeout(CHECK_TIMEOUT_MS),
      () =>
        this.indicators
          .check('redis')
          .attempt(async () => ({ imageQueue: await this.queue.imageQueueDepth() }))
          .withTimeout(CHECK_TIMEOUT_MS),
      () =>
        this.indicators
          .check('storage')
          .attempt(() => this.storage.checkWritable())
          .withTimeout(CHECK_TIMEOUT_MS),
    ]);
  }
}

import { Controller, Get, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiProblemResponses } from '../common/api-problem-responses.decorator.js';
import type { FastifyReply } from 'fastify';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { Public } from '../common/public.decorator.js';
import { type Dependency, PROBE_INTERVAL_MS, ReadinessProbes } from './readiness-probes.js';

// The one client error a probe can meet: Node refuses oversized headers before any route runs.
@ApiTags('health')
@ApiProblemResponses({ 431: 'Request headers over 16 KB (HEADERS_TOO_LARGE)' })
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly probes: ReadinessProbes,
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
    description: `Answers from the probes the process runs in the background every ${PROBE_INTERVAL_MS / 1000} s (PostgreSQL: a query; Redis: a PING; storage: a read, and a test write at most once a minute), so calling it costs no dependency anything. 503 names the dependency that is down and why, and is also the answer until the first probes have finished or when they have stopped.`,
  })
  @HealthCheck()
  async ready(@Res({ passthrough: true }) reply: FastifyReply) {
    try {
      return await this.report();
    } catch (error) {
      // Terminus reports a failed check by throwing; a probe (and whoever is
      // paged) needs its report of which dependency is down, which the global
      // problem filter would reduce to a bare "Service Unavailable".
      if (!(error instanceof ServiceUnavailableException)) throw error;
      void reply.status(503);
      return error.getResponse();
    }
  }

  /** The last probes' results in terminus' report: each dependency up, or down with the reason. */
  private report() {
    const results = this.probes.results();
    return this.health.check(
      (Object.keys(results) as Dependency[]).map((dependency) => () => {
        const indicator = this.indicators.check(dependency);
        const { up, message } = results[dependency];
        return up ? indicator.up() : indicator.down({ message });
      }),
    );
  }
}

import type { HealthCheckStatus } from '@nestjs/terminus';

/** One dependency in terminus' report: up or down, and why when down. */
export interface DependencyReport {
  status: 'up' | 'down';
  message?: string;
}

/** Redis also reports the image queue's depth and the workers serving this deployment. */
export interface RedisReport extends DependencyReport {
  imageQueue?: { waiting: number; active: number; delayed: number };
  imageWorkers?: number;
}

interface Dependencies {
  database: DependencyReport;
  redis: RedisReport;
  storage: DependencyReport;
}

/** GET /health/ready: the dependencies that are up under `info`, those that are down under `error`. */
export interface ReadinessReport {
  status: HealthCheckStatus;
  info?: Partial<Dependencies>;
  error?: Partial<Dependencies>;
  details?: Partial<Dependencies>;
}

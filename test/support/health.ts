import type { HealthCheckStatus } from '@nestjs/terminus';

/** One dependency in terminus' report: up or down, and why when down. */
export interface DependencyReport {
  status: 'up' | 'down';
  message?: string;
}

/** PostgreSQL also reports this deployment's open images: dispatched to chunk jobs, or waiting for one. */
export interface DatabaseReport extends DependencyReport {
  images?: { dispatched: number; waiting: number };
}

/** Redis also reports the workers serving this deployment. */
export interface RedisReport extends DependencyReport {
  imageWorkers?: number;
}

interface Dependencies {
  database: DatabaseReport;
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

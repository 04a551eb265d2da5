import type { HealthCheckStatus } from '@nestjs/terminus';

/** One dependency in terminus' report: up or down, and why when down. */
export interface DependencyReport {
  status: 'up' | 'down';
  message?: string;
}

interface Dependencies {
  database: DependencyReport;
  redis: DependencyReport;
  storage: DependencyReport;
}

/** GET /health/ready: the dependencies that are up under `info`, those that are down under `error`. */
export interface ReadinessReport {
  status: HealthCheckStatus;
  info?: Partial<Dependencies>;
  error?: Partial<Dependencies>;
  details?: Partial<Dependencies>;
}

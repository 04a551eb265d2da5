import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppConfig, loadConfig } from '../../src/config/app-config.js';
import { TEST_DATABASE_URL, assertTestDatabase } from './test-database.js';

// A separate Redis database index keeps test queues away from a developer's running service.
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15';

/**
 * Environment for one suite: the test database, its own queue prefix and
 * storage directory (so suites never see each other's jobs or files), the
 * private-network guard opened for the local image server, and short delays.
 */
export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  assertTestDatabase(TEST_DATABASE_URL);
  return {
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    APP_ROLE: 'all',
    PORT: '0',
    HOST: '127.0.0.1',
    PUBLIC_BASE_URL: 'http://files.pixbatch.test',
    STORAGE_DIR: mkdtempSync(join(tmpdir(), 'pixbatch-test-')),
    QUEUE_PREFIX: `pixbatch-test-${randomUUID().slice(0, 8)}`,
    ALLOW_PRIVATE_NETWORKS: 'true',
    JOB_ATTEMPTS: '3',
    JOB_BACKOFF_MS: '50',
    FETCH_TIMEOUT_MS: '3000',
    WORKER_CONCURRENCY: '4',
    // Failures print the assertions; the service's own info lines would bury them.
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    // Suites share one database but not queues: a sweeper would adopt other
    // suites' requests. Suites that test the sweep use a database of their own.
    SWEEP_INTERVAL_MS: '3600000',
    ...overrides,
  };
}

export function testConfig(overrides: Record<string, string> = {}): AppConfig {
  return loadConfig(testEnv(overrides));
}

import { afterEach, beforeAll, beforeEach, expect, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AppConfig } from '../config/app-config.js';
import type { JobQueue } from '../queue/job-queue.service.js';
import type { StorageDriver } from '../storage/storage.driver.js';
import {
  PROBE_INTERVAL_MS,
  PROBES_STALE_AFTER_MS,
  ReadinessProbes,
  STORAGE_WRITE_INTERVAL_MS,
} from './readiness-probes.js';

describe('ReadinessProbes', () => {
  const checkWritable = jest.fn<() => Promise<void>>();
  const checkReachable = jest.fn<() => Promise<void>>();
  const ping = jest.fn<() => Promise<void>>();
  let probes: ReadinessProbes;

  // What the probes log is for operators; the results are what is checked here.
  beforeAll(() => {
    Logger.overrideLogger(false);
  });

  beforeEach(() => {
    jest.useFakeTimers();
    for (const check of [checkWritable, checkReachable, ping]) check.mockReset().mockResolvedValue(undefined);
    const em = { fork: () => ({ execute: () => Promise.resolve([]) }) } as unknown as EntityManager;
    const storage = { checkWritable, checkReachable } as unknown as StorageDriver;
    const config = { s3: null, storageDir: '/srv/pixbatch' } as unknown as AppConfig;
    probes = new ReadinessProbes(em, { ping } as unknown as JobQueue, storage, config);
  });

  afterEach(async () => {
    await probes.onModuleDestroy();
    jest.useRealTimers();
  });

  const storage = () => probes.results().storage;
  const nextRound = () => jest.advanceTimersByTimeAsync(PROBE_INTERVAL_MS);

  it('reports every dependency down until the first round has finished, and once the rounds have stopped', async () => {
    expect(probes.results()).toEqual({
      database: { up: false, message: expect.stringMatching(/not probed yet/) },
      redis: { up: false, message: expect.stringMatching(/not probed yet/) },
      storage: { up: false, message: expect.stringMatching(/not probed yet/) },
    });
    probes.onApplicationBootstrap();
    await probes.firstRound;
    expect(probes.results()).toEqual({ database: { up: true }, redis: { up: true }, storage: { up: true } });
    const later = performance.now() + PROBES_STALE_AFTER_MS + 1;
    expect(probes.results(later).redis).toEqual({ up: false, message: expect.stringMatching(/probes have stopped/) });
  });

  it('writes to storage at most once a minute and only reads it in the rounds between', async () => {
    probes.onApplicationBootstrap();
    await probes.firstRound;
    expect([checkWritable.mock.calls.length, checkReachable.mock.calls.length]).toEqual([1, 0]);
    for (let round = 0; round < 10; round++) await nextRound();
    expect([checkWritable.mock.calls.length, checkReachable.mock.calls.length]).toEqual([1, 10]);
    await jest.advanceTimersByTimeAsync(STORAGE_WRITE_INTERVAL_MS);
    expect(checkWritable.mock.calls.length).toBe(2);
    expect(ping.mock.calls.length).toBeGreaterThan(30);
  });

  it('keeps storage down after a refused write while reads answer, until a write succeeds', async () => {
    checkWritable.mockRejectedValue(new Error('AccessDenied (403)'));
    probes.onApplicationBootstrap();
    await probes.firstRound;
    expect(storage()).toEqual({ up: false, message: 'AccessDenied (403)' });
    await nextRound();
    expect(checkWritable.mock.calls.length).toBe(1);
    expect(storage()).toEqual({ up: false, message: 'AccessDenied (403)' });
    checkWritable.mockResolvedValue(undefined);
    await jest.advanceTimersByTimeAsync(STORAGE_WRITE_INTERVAL_MS);
    expect(storage()).toEqual({ up: true });
  });

  it('counts a write that failed because the store did not answer as an outage, over as soon as it answers', async () => {
    checkWritable.mockRejectedValue(new Error('ECONNREFUSED'));
    checkReachable.mockRejectedValue(new Error('ECONNREFUSED'));
    probes.onApplicationBootstrap();
    await probes.firstRound;
    expect(storage()).toEqual({ up: false, message: 'ECONNREFUSED' });
    checkReachable.mockResolvedValue(undefined);
    await nextRound();
    expect(checkWritable.mock.calls.length).toBe(1);
    expect(storage()).toEqual({ up: true });
  });

  it('counts a dependency that does not answer in time as down', async () => {
    ping.mockReturnValue(new Promise(() => undefined));
    probes.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(PROBE_INTERVAL_MS);
    await probes.firstRound;
    expect(probes.results().redis).toEqual({ up: false, message: expect.stringMatching(/no answer within/) });
  });
});

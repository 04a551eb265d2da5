import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { JobQueue } from '../queue/job-queue.service.js';
import { StorageDriver } from '../storage/storage.driver.js';

/** Pause between the end of one round of probes and the start of the next. */
export const PROBE_INTERVAL_MS = 2000;
/** A dependency that has not answered within this is down. */
const PROBE_TIMEOUT_MS = 2000;
/** Storage takes a test write at most this often per process; the rounds between only read. */
export const STORAGE_WRITE_INTERVAL_MS = 60_000;
/**
 * A round takes at most three timeouts (storage may write, then read), so the
 * next one ends within this of the last; past it the probes have stopped (a
 * blocked event loop, say) and what they last saw is no longer news.
 */
export const PROBES_STALE_AFTER_MS = 2 * PROBE_INTERVAL_MS + 3 * PROBE_TIMEOUT_MS;

export type Dependency = 'database' | 'redis' | 'storage';

export interface ProbeResult {
  up: boolean;
  /** Why it is down. */
  message?: string;
}

// Names in the log, where an outage is reported once as it starts and once as it ends.
const NAMES: Record<Dependency, string> = { database: 'PostgreSQL', redis: 'Redis', storage: 'Storage' };

/**
 * Readiness from background probes: each process checks PostgreSQL (a
 * query), Redis (a PING) and storage every PROBE_INTERVAL_MS, and
 * /health/ready answers from the last round, so a burst of probes (a load
 * balancer, or anyone: the route is public) costs no dependency a request.
 *
 * Storage is read (a key no one writes, or the folder's permissions) every
 * round and written at most once a STORAGE_WRITE_INTERVAL_MS. A write it
 * refuses while it answers reads (a read-only bucket, a full disk) keeps it
 * down until the next write succeeds; a write that failed because the store
 * did not answer at all is an outage like any other, over as soon as it
 * answers again.
 */
@Injectable()
export class ReadinessProbes implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Readiness');
  private last?: { results: Record<Dependency, ProbeResult>; at: number };
  private lastWriteAt = -Infinity;
  /** Why the last write failed while the store answered reads; null when it succeeded. */
  private writeRefused: string | null = null;
  private timer?: NodeJS.Timeout;
  private round?: Promise<void>;
  private stopped = false;
  /** Resolves once the first round has finished; readiness answers 503 until then. */
  readonly firstRound: Promise<void>;
  private resolveFirstRound!: () => void;

  constructor(
    private readonly em: EntityManager,
    private readonly queue: JobQueue,
    private readonly storage: StorageDriver,
    private readonly config: AppConfig,
  ) {
    this.firstRound = new Promise((resolve) => (this.resolveFirstRound = resolve));
  }

  onApplicationBootstrap(): void {
    // Not awaited: a slow store (or the SDK's credential chain timing out) must not hold up the boot.
    this.runRound();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.round;
  }

  /**
   * What /health/ready reports: the last round's results, or every
   * dependency down, with the reason, while no round has finished or the
   * last one is stale.
   */
  results(now = performance.now()): Record<Dependency, ProbeResult> {
    if (this.last && now - this.last.at <= PROBES_STALE_AFTER_MS) return this.last.results;
    const message = this.last
      ? `not probed for ${Math.round(now - this.last.at)} ms: the probes have stopped`
      : 'not probed yet: the process has just started';
    const down = { up: false, message };
    return { database: down, redis: down, storage: down };
  }

  private runRound(): void {
    this.round = this.probeAll()
      .catch((error: unknown) => this.logger.error(`Probing failed: ${(error as Error).message}`))
      .finally(() => {
        this.resolveFirstRound();
        if (!this.stopped) this.timer = setTimeout(() => this.runRound(), PROBE_INTERVAL_MS);
      });
  }

  private async probeAll(): Promise<void> {
    const [database, redis, storage] = await Promise.all([
      probe(() => this.em.fork().execute('SELECT 1')),
      probe(() => this.queue.ping()),
      this.probeStorage(),
    ]);
    const results = { database, redis, storage };
    this.report(results);
    this.last = { results, at: performance.now() };
  }

  private async probeStorage(): Promise<ProbeResult> {
    if (performance.now() - this.lastWriteAt >= STORAGE_WRITE_INTERVAL_MS) {
      this.lastWriteAt = performance.now();
      const written = await probe(() => this.storage.checkWritable());
      if (written.up) {
        this.writeRefused = null;
        return written;
      }
      const read = await probe(() => this.storage.checkReachable());
      this.writeRefused = read.up ? (written.message ?? null) : null;
      return written;
    }
    const read = await probe(() => this.storage.checkReachable());
    if (!read.up) return read;
    return this.writeRefused === null ? read : { up: false, message: this.writeRefused };
  }

  /** Logs each change: storage's location at the first success, every outage as it starts and ends. */
  private report(results: Record<Dependency, ProbeResult>): void {
    for (const [dependency, result] of Object.entries(results) as [Dependency, ProbeResult][]) {
      const before = this.last?.results[dependency];
      if (!result.up && (before?.up ?? true)) {
        this.logger.error(`${NAMES[dependency]} is not usable; /health/ready fails until it is: ${result.message}`);
      } else if (result.up && before && !before.up) {
        this.logger.log(`${NAMES[dependency]} is usable again`);
      } else if (result.up && !before && dependency === 'storage') {
        this.logger.log(`Storage: ${this.config.s3 ? `S3 bucket "${this.config.s3.bucket}"` : this.config.storageDir}`);
      }
    }
  }
}

/** Runs one check within PROBE_TIMEOUT_MS; a hung dependency is down like one that refuses. */
async function probe(check: () => Promise<unknown>): Promise<ProbeResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
  });
  try {
    await Promise.race([check(), timeout]);
    return { up: true };
  } catch (error) {
    return { up: false, message: (error as Error).message || String(error) };
  } finally {
    clearTimeout(timer);
  }
}

import { randomUUID } from 'node:crypto';
import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { type PreparedRunner, PreparedStatements } from '../database/prepared-statements.js';
import { type ExpiredImage, ImageDispatchRepository } from '../products/image-dispatch.repository.js';
import type { DispatchCandidate } from '../products/image-dispatch.statements.js';
import { ImageWorkRepository } from '../products/image-work.repository.js';
import { JobQueue } from '../queue/job-queue.service.js';
import type { ProcessChunkJob } from '../queue/queue.constants.js';
import { ImageRetryPolicy } from './image-retry-policy.js';

/** A full pass also recovers leases that ran out; a refill, after a chunk, only tops the window up. */
type PassKind = 'full' | 'refill';

/** How long the worker count behind the window is trusted before Redis is asked again. */
const WORKER_COUNT_TTL_MS = 10_000;

/** The most a request's chunks grow when its images are mostly copied: CHUNK_SIZE times this. */
export const MAX_CHUNK_GROWTH = 4;
/**
 * An image copied from an earlier output (a re-run's 304 or matching bytes)
 * against one fetched and encoded, in CPU: about 1/15 (bench `rerun`).
 */
const COPY_COST = 1 / 15;

/**
 * How many images the request's next chunk takes: CHUNK_SIZE for work of
 * unknown cost or mostly encoded, more once most of its images have been
 * copied (a catalogue re-run), so that a chunk holds a lane for about as long
 * either way. Every chunk costs the same few statements whatever it holds:
 * at 8 copies a chunk PostgreSQL was a third of a re-run's CPU. The estimate
 * comes from the request's own outcomes so far; should its remaining images
 * turn out to need encoding, a chunk holds a lane MAX_CHUNK_GROWTH times
 * longer than usual, and the next pass sees the new counts.
 *
 * Fewer once less than a chunk per lane of the request's images wait: its
 * waiting images over the lanes, rounded up (guided self-scheduling), so
 * that its last images go to every lane at once rather than finishing in
 * one while the others idle. Counted from the request's counters, not its
 * rows, so that a lease reads no more than it takes however many lanes.
 */
export function chunkSizeFor(
  candidate: Pick<DispatchCandidate, 'imagesDone' | 'imagesCopied' | 'imagesWaiting'>,
  base: number,
  lanes: number,
): number {
  const { imagesDone: done, imagesCopied: copied, imagesWaiting: waiting } = candidate;
  let size = base;
  if (done >= base && copied > 0) {
    const copiedShare = copied / done;
    const costPerImage = 1 - copiedShare + copiedShare * COPY_COST;
    size = Math.round(base * Math.min(MAX_CHUNK_GROWTH, Math.max(1, 1 / costPerImage)));
  }
  return Math.max(1, Math.min(size, Math.ceil(waiting / lanes)));
}

/**
 * Feeds the workers from PostgreSQL, fairly. Redis holds a bounded window of
 * chunk jobs (each a handful of one request's images), never a job per image:
 * its memory stays flat whatever the size of the requests waiting, and a
 * request that arrives behind a big one is served at the next refill.
 *
 * Every worker runs passes (on a tick, when an upload or a retry asks through
 * the queue, and once half the window is free as its chunks end), but one pass at a time runs
 * per deployment: a PostgreSQL advisory lock held for the pass's transaction,
 * released even if its process dies. A pass that finds the lock taken does
 * nothing; the pass holding it, or the next one, fills the window.
 *
 * Each chunk goes to the tenant served longest ago, then to that tenant's
 * request served longest ago, and holds images of one source host: a host
 * has at most SOURCE_HOST_CONCURRENCY chunks out at once (a chunk fetches
 * one image at a time), and none while it is paused after a Retry-After, so
 * no worker lane waits on a host. An image whose chunk's lease ran out while it
 * was being worked on (its worker died or hung) is dispatched again in a
 * chunk of its own, its attempt given back if the chunk left others open,
 * so that an image that kills workers only spends its own attempts; a
 * waiting chunk whose job Redis lost is dispatched again like any waiting
 * work once its lease runs out.
 */
@Injectable()
export class Dispatcher implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(Dispatcher.name);
  private timer?: NodeJS.Timeout;
  private running: Promise<void> | null = null;
  /** What the pass after the running one is to do, once asked for. */
  private next: PassKind | null = null;
  private stopped = false;
  private workers = { count: 1, at: -Infinity };

  constructor(
    private readonly prepared: PreparedStatements,
    private readonly dispatch: ImageDispatchRepository,
    private readonly work: ImageWorkRepository,
    private readonly queue: JobQueue,
    private readonly retries: ImageRetryPolicy,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.nudge(), this.config.dispatchIntervalMs);
    void this.nudge();
  }

  /** Lets a pass in progress finish while the ORM and Redis are still open. */
  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /**
   * A full pass now, or right after the one in progress: leases that ran out
   * are recovered and whatever the window has free is filled. The tick, an
   * upload and a retry ask for these. Resolves when done.
   */
  nudge(): Promise<void> {
    return this.schedule('full');
  }

  /**
   * A chunk has ended: the window is topped up once half of it is free. Each
   * pass costs a handful of statements whatever it hands out, so refilling
   * after every chunk cost PostgreSQL more per image than the chunks
   * themselves; with half the window (a chunk per lane) still queued, no lane
   * waits for the refill.
   */
  chunkEnded(): Promise<void> {
    return this.schedule('refill');
  }

  private schedule(kind: PassKind): Promise<void> {
    if (this.running) {
      this.next = this.next === 'full' ? 'full' : kind;
      return this.running;
    }
    this.running = this.loop(kind).finally(() => (this.running = null));
    return this.running;
  }

  private async loop(first: PassKind): Promise<void> {
    let kind: PassKind | null = first;
    while (kind && !this.stopped) {
      this.next = null;
      try {
        await this.pass(kind);
      } catch (error) {
        // Redis or PostgreSQL is away: the tick tries again, and nothing was handed out half-way.
        this.logger.warn(`Dispatch pass failed, will try again: ${(error as Error).message}`);
      }
      kind = this.next;
    }
  }

  /** One pass, if this process gets the deployment's lock; returns the chunks queued. */
  async pass(kind: PassKind = 'full'): Promise<number> {
    const lanes = await this.lanes();
    // Chunks allowed in Redis at once: two per lane, so that a lane finds its next
    // chunk waiting while the refill runs, and work arriving later waits behind
    // two chunks per lane at most.
    const window = 2 * lanes;
    const free = window - (await this.queue.chunksOutstanding());
    if (free <= 0 || (kind === 'refill' && free < window / 2)) return 0;
    const { deployment, jobLockMs: leaseMs } = this.config;
    const { chunks, exhausted } = await this.prepared.transaction(async (tx) => {
      const chunks: ProcessChunkJob[] = [];
      const exhausted: ExpiredImage[] = [];
      if (!(await this.dispatch.tryTakeDispatchLock(tx, deployment))) return { chunks, exhausted };
      // Leases run out in seconds (JOB_LOCK_MS): looking for them once a tick is soon enough.
      if (kind === 'full') {
        await this.dispatch.releaseUnclaimed(tx, deployment);
        await this.dispatch.splitExpiredChunks(tx, deployment);
        for (const image of await this.dispatch.expiredImages(tx, deployment, free)) {
          if (!this.retries.retriesAfterLostWorker(image.attempts)) {
            exhausted.push(image);
            continue;
          }
          const chunkId = randomUUID();
          if (await this.dispatch.redispatchAlone(tx, image.imageId, chunkId, leaseMs)) {
            chunks.push({ chunkId, requestId: image.requestId });
          }
        }
      }
      const state = await this.dispatch.passState(tx, deployment);
      const turns = new Turns(state.candidates);
      const loads = state.hostLoads;
      const blocked = new Set(state.pausedHosts);
      for (const [host, load] of loads) if (load >= this.config.sourceHostConcurrency) blocked.add(host);
      while (chunks.length < free) {
        const chunk = await this.nextChunk(tx, turns, blocked, lanes);
        if (!chunk) break;
        chunks.push({ chunkId: chunk.chunkId, requestId: chunk.requestId });
        const load = (loads.get(chunk.host) ?? 0) + 1;
        loads.set(chunk.host, load);
        if (load >= this.config.sourceHostConcurrency) blocked.add(chunk.host);
      }
      return { chunks, exhausted };
    });
    // Queued once committed, so that no worker can look for a chunk PostgreSQL
    // does not show yet. Should this fail, the leases run out and the images
    // are dispatched again.
    await this.queue.addChunks(chunks);
    for (const image of exhausted) await this.failLost(image);
    return chunks.length;
  }

  /**
   * The next chunk in turn: the first request (tenant served longest ago,
   * then its request served longest ago) with images due on a host that is
   * neither paused nor at SOURCE_HOST_CONCURRENCY chunks; null when none has.
   * A request found without such work is passed over for the rest of the
   * pass, since hosts only close during a pass.
   */
  private async nextChunk(
    tx: PreparedRunner,
    turns: Turns,
    blocked: ReadonlySet<string>,
    lanes: number,
  ): Promise<{ chunkId: string; requestId: string; host: string } | null> {
    for (const candidate of turns.inOrder()) {
      const chunkId = randomUUID();
      const leased = await this.dispatch.leaseNextChunk(
        tx,
        { chunkId, requestId: candidate.requestId, tenant: candidate.tenant, deployment: this.config.deployment },
        [...blocked],
        chunkSizeFor(candidate, this.config.chunkSize, lanes),
        this.config.jobLockMs,
      );
      if (leased) {
        // The pass's state was read once: what this lease took no longer waits for its next chunk.
        candidate.imagesWaiting -= leased.images;
        turns.served(candidate);
        return { chunkId, requestId: candidate.requestId, host: leased.host };
      }
      turns.passOver(candidate);
    }
    return null;
  }

  private async failLost(image: ExpiredImage): Promise<void> {
    const outcome = this.retries.failedOutcome(this.retries.lostWorkerFailure());
    const recorded = await this.work.recordWork(image.chunkId, image.requestId, [{ imageId: image.imageId, outcome }]);
    if (recorded.counted.length > 0) {
      this.logger.warn(`Image ${image.imageId} failed: its worker was lost on each of its ${image.attempts} attempts`);
    }
    if (recorded.requestDone) await this.queue.enqueueFinalize(image.requestId, recorded.round);
  }

  /** The lanes of every worker of the deployment (WORKER_CONCURRENCY each). */
  private async lanes(): Promise<number> {
    if (performance.now() - this.workers.at > WORKER_COUNT_TTL_MS) {
      this.workers = { count: Math.max(1, await this.queue.imageWorkerCount()), at: performance.now() };
    }
    return this.config.workerConcurrency * this.workers.count;
  }
}

/**
 * The round-robin order of one pass: the tenant served longest ago, then its
 * request served longest ago (never served first), then the oldest request.
 * Kept in memory for the pass, as the statements it mirrors record it.
 */
class Turns {
  private clock = Date.now();
  private readonly tenants = new Map<string, number>();
  private readonly open: { candidate: DispatchCandidate; servedAt: number; position: number }[];

  constructor(candidates: DispatchCandidate[]) {
    for (const { tenant, tenantServedAt } of candidates) this.tenants.set(tenant, tenantServedAt ?? -Infinity);
    this.open = candidates.map((candidate, position) => ({
      candidate,
      servedAt: candidate.requestServedAt ?? -Infinity,
      position,
    }));
  }

  inOrder(): DispatchCandidate[] {
    return [...this.open]
      .sort(
        (a, b) =>
          this.tenants.get(a.candidate.tenant)! - this.tenants.get(b.candidate.tenant)! ||
          a.servedAt - b.servedAt ||
          a.position - b.position,
      )
      .map((entry) => entry.candidate);
  }

  served(candidate: DispatchCandidate): void {
    const at = Math.max(Date.now(), ++this.clock);
    this.clock = at;
    this.tenants.set(candidate.tenant, at);
    const entry = this.open.find((open) => open.candidate === candidate);
    if (entry) entry.servedAt = at;
  }

  passOver(candidate: DispatchCandidate): void {
    this.open.splice(
      this.open.findIndex((open) => open.candidate === candidate),
      1,
    );
  }
}

import type { LoggerService } from '@nestjs/common';
import type { ImageOutcome, ImageWork, ImageWorkRepository } from '../products/image-work.repository.js';

/**
 * Live progress keeps this granularity: an outcome waits at most this long to
 * be written. A write is the dearest of a chunk's statements (about 1.5 ms of
 * PostgreSQL's time); at 250 ms every lane wrote four times a second, and
 * those writes were half of PostgreSQL's CPU per image (bench/README.md,
 * "Chunks of 16, a write a second"). A chunk learns of a cancel at its next
 * write, so this is also how long it may go on starting images after one.
 */
export const FLUSH_MS = 1000;

/**
 * What a chunk found for its images, written to PostgreSQL in batches: when
 * the chunk ends, or FLUSH_MS after the oldest unwritten entry, whichever
 * comes first. One statement per batch instead of one per image is most of
 * what keeps the database's CPU per image small beside the encoder's.
 *
 * A write that fails (PostgreSQL restarting) is tried again until the
 * chunk's lease would run out; after that the images are dispatched again,
 * and whatever this chunk still writes finds the guard closed.
 *
 * A write is also how the chunk learns that its images are no longer its
 * own (checkpoint): no statement per image asks.
 */
export class ChunkWorkLog {
  /** Outcomes that counted, with how long their image took (null: not measured). */
  readonly counted: { outcome: ImageOutcome; ms: number | null }[] = [];
  requestDone = false;
  round = 0;
  /**
   * False once a write found an outcome it could not count: the chunk no
   * longer holds its images (the request was cancelled or deleted, or the
   * lease ran out and they went to another chunk).
   */
  held = true;

  /** When the last write ended; the claim counts as one. */
  private lastWrite = performance.now();

  private readonly unwritten: { work: ImageWork; ms: number | null }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  private failure: Error | null = null;

  constructor(
    private readonly work: ImageWorkRepository,
    private readonly chunkId: string,
    private readonly requestId: string,
    private readonly logger: LoggerService,
    private readonly retryForMs: number,
  ) {}

  add(work: ImageWork, ms: number | null = null): void {
    this.unwritten.push({ work, ms });
    this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  /**
   * Between two images: once the last write is FLUSH_MS old, what waits is
   * written now rather than on the timer, and its answer says whether the
   * chunk may go on. A cancel is thus noticed before the next fetch that
   * follows it by FLUSH_MS or more, for no statement of its own. False when
   * the chunk is to stop.
   */
  async checkpoint(): Promise<boolean> {
    if (performance.now() - this.lastWrite >= FLUSH_MS) await this.flush();
    return this.held && this.failure === null;
  }

  /** Writes what is left; throws if it could not be written. */
  async close(): Promise<void> {
    await this.flush();
    if (this.failure) throw this.failure;
  }

  private flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.unwritten.splice(0);
    if (batch.length === 0) return this.writing;
    this.writing = this.writing.then(() => this.write(batch));
    return this.writing;
  }

  private async write(batch: { work: ImageWork; ms: number | null }[]): Promise<void> {
    try {
      const recorded = await retryWhileLeased(`Recording ${batch.length} image(s)`, this.retryForMs, this.logger, () =>
        this.work.recordWork(
          this.chunkId,
          this.requestId,
          batch.map((entry) => entry.work),
        ),
      );
      const counted = new Set(recorded.counted);
      for (const { work, ms } of batch) {
        if (!('outcome' in work)) continue;
        if (counted.has(work.imageId)) this.counted.push({ outcome: work.outcome, ms });
        else this.held = false;
      }
      if (recorded.requestDone) {
        this.requestDone = true;
        this.round = recorded.round;
      }
    } catch (error) {
      this.failure = error instanceof Error ? error : new Error(String(error));
    } finally {
      this.lastWrite = performance.now();
    }
  }
}

/**
 * Runs a statement of a chunk's worker, trying again with growing waits while
 * it fails (PostgreSQL restarting) for up to `forMs`, the chunk's lease: after
 * that its images are dispatched again anyway. Throws the last error.
 */
export async function retryWhileLeased<T>(
  what: string,
  forMs: number,
  logger: LoggerService,
  statement: () => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + forMs;
  for (let wait = 250; ; wait = Math.min(wait * 2, 5000)) {
    try {
      return await statement();
    } catch (error) {
      if (Date.now() + wait > deadline) throw error;
      logger.warn(`${what} failed, trying again: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

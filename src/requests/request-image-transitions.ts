import type { EntityManager } from '@mikro-orm/postgresql';
import type { ReopenedCounts } from './request.repository.js';

/** The images a cancel stopped. */
export interface CancelledImages {
  cancelled: number;
  /** Products whose last open images these were. */
  productsFinished: number;
  /** The chunk jobs that held some of them: their jobs can leave the queue. */
  chunkIds: string[];
}

/**
 * Cancel and retry change images, whose table products/ owns; requests/
 * declares the two transitions it needs and products/ implements them
 * (ProductsDataModule), as for RequestImageErrors, so the dependency runs one
 * way. Both run inside the caller's transaction, with the request row.
 */
export abstract class RequestImageTransitions {
  /** Every image of the request without an outcome becomes cancelled, counted on its product. */
  abstract cancelOpen(tx: EntityManager, requestId: string): Promise<CancelledImages>;

  /**
   * Failed and cancelled images go back to pending with their outcome
   * cleared and taken off their products' counts; with `onlyTransient`, only
   * the failures the retry policy judged transient (and the cancelled ones).
   */
  abstract reopenForRetry(tx: EntityManager, requestId: string, onlyTransient: boolean): Promise<ReopenedCounts>;
}

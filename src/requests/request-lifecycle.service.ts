import { EntityManager } from '@mikro-orm/postgresql';
import { HttpStatus, Injectable, Logger } from '@nestjs/common';
import { AppError, ErrorCode, requestNotFound } from '../common/app-error.js';
import { JobQueue } from '../queue/job-queue.service.js';
import { RequestEventOutbox } from './request-events.js';
import { RequestImageTransitions } from './request-image-transitions.js';
import { RequestRepository } from './request.repository.js';
import { RequestStatus, isTerminal } from './request-status.js';

/**
 * The caller's transitions of a request: cancel and retry. Each is one
 * transaction in PostgreSQL (images, products, the request row and, for a
 * cancel, its webhook event); Redis is told only after the commit: a cancel
 * drops the request's waiting chunk jobs (a chunk being worked on finds its
 * images cancelled before each fetch), a retry nudges the dispatcher.
 */
@Injectable()
export class RequestLifecycle {
  private readonly logger = new Logger(RequestLifecycle.name);

  constructor(
    private readonly em: EntityManager,
    private readonly requests: RequestRepository,
    private readonly images: RequestImageTransitions,
    private readonly webhooks: RequestEventOutbox,
    private readonly queue: JobQueue,
  ) {}

  /** Cancels an open request at once; a cancelled one answers as it is (idempotent). */
  async cancel(requestId: string): Promise<void> {
    const outcome = await this.em.fork().transactional(async (tx) => {
      const images = await this.images.cancelOpen(tx, requestId);
      const terminal = await this.requests.markCancelled(tx, requestId, images.cancelled, images.productsFinished);
      if (!terminal) return { cancelled: false as const };
      const deliveryId = await this.webhooks.recordTerminalEvent(tx, terminal);
      return { cancelled: true as const, deliveryId, chunkIds: images.chunkIds };
    });
    if (!outcome.cancelled) {
      // Nothing was open (the transaction above changed no image either): say why.
      const request = await this.requests.findById(requestId);
      if (!request) throw requestNotFound(requestId);
      if (request.status === RequestStatus.Cancelled) return;
      throw new AppError(
        HttpStatus.CONFLICT,
        ErrorCode.RequestAlreadyFinished,
        'Request already finished',
        `The request is ${request.status}; only a pending or processing request can be cancelled.`,
        { requestStatus: request.status },
      );
    }
    this.logger.log(`Request ${requestId} cancelled`);
    if (outcome.deliveryId) await this.webhooks.dispatch(outcome.deliveryId);
    // Only tidying, so a Redis that is away does not fail the cancel: a chunk
    // job left behind finds its images cancelled.
    await this.queue
      .removeChunks(outcome.chunkIds)
      .catch((error: unknown) =>
        this.logger.warn(`Request ${requestId}: its chunk jobs stay queued: ${(error as Error).message}`),
      );
  }

  /**
   * Queues a finished request's failed and cancelled images again (or, with
   * `onlyTransient`, its transient failures and cancelled images) in a new
   * round, which ends with a terminal event of its own.
   */
  async retry(requestId: string, onlyTransient: boolean): Promise<void> {
    const reopened = await this.em.fork().transactional(async (tx) => {
      const status = await this.requests.lockStatus(tx, requestId);
      if (status === null) throw requestNotFound(requestId);
      if (!isTerminal(status)) {
        throw new AppError(
          HttpStatus.CONFLICT,
          ErrorCode.RequestNotFinished,
          'Request not finished',
          `The request is ${status}; it can be retried once it is finished or cancelled.`,
          { requestStatus: status },
        );
      }
      const reopened = await this.images.reopenForRetry(tx, requestId, onlyTransient);
      if (reopened.failed + reopened.cancelled === 0) {
        throw new AppError(
          HttpStatus.UNPROCESSABLE_ENTITY,
          ErrorCode.NothingToRetry,
          'Nothing to retry',
          onlyTransient
            ? 'The request has no cancelled image and no image that failed for a transient reason.'
            : 'The request has no failed or cancelled image.',
          { requestStatus: status },
        );
      }
      await this.requests.reopen(tx, requestId, reopened);
      return reopened;
    });
    this.logger.log(
      `Request ${requestId} retried: ${reopened.failed} failed and ${reopened.cancelled} cancelled image(s)`,
    );
    // The images wait in PostgreSQL; should the nudge not arrive, the dispatchers' tick finds them.
    await this.queue
      .nudgeDispatch()
      .catch((error: unknown) => this.logger.warn(`The dispatcher was not nudged: ${(error as Error).message}`));
  }
}

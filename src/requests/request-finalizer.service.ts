import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable, Logger } from '@nestjs/common';
import { RequestEventOutbox } from './request-events.js';
import { RequestRepository } from './request.repository.js';
import { RequestStatus, isTerminal, terminalStatusFor } from './request-status.js';

/**
 * Closes a request once every image has an outcome: sets the terminal status
 * together with its webhook event, while holding the request's row lock so
 * concurrent or repeated finalize jobs find the work done. Nothing else is
 * written: the export and the output URLs are derived from the image rows
 * when asked.
 */
@Injectable()
export class RequestFinalizer {
  private readonly logger = new Logger(RequestFinalizer.name);

  constructor(
    private readonly em: EntityManager,
    private readonly requests: RequestRepository,
    private readonly events: RequestEventOutbox,
  ) {}

  async finalize(requestId: string): Promise<RequestStatus | null> {
    const finalized = await this.em.fork().transactional(async (tx) => {
      const request = await this.requests.lockForFinalize(tx, requestId);
      if (!request || isTerminal(request.status) || !request.allRecorded) return null;

      const status = terminalStatusFor(request.imagesSucceeded, request.imagesFailed);
      const terminal = await this.requests.markTerminal(tx, requestId, status);
      const deliveryId = await this.events.recordTerminalEvent(tx, terminal);
      this.logger.log(
        `Request ${requestId} ${status}: ${request.imagesSucceeded} succeeded, ${request.imagesFailed} failed`,
      );
      return { status, deliveryId };
    });
    // Only after the commit, so the job never looks for a row that is not there.
    // Dying right here loses nothing: the sweep queues the committed event.
    if (finalized?.deliveryId) await this.events.dispatch(finalized.deliveryId);
    return finalized?.status ?? null;
  }
}

import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { ImageRepository } from '../products/image.repository.js';
import { ProductRepository } from '../products/product.repository.js';
import { JobQueue } from '../queue/job-queue.service.js';
import { CreatedRequestDto } from '../requests/dto/request-status.dto.js';
import { requestLinks } from '../requests/request-links.js';
import { RequestStatus } from '../requests/request-status.js';
import { RequestRepository } from '../requests/request.repository.js';
import { RequestDetails, RequestDraft } from './request-draft.js';

@Injectable()
export class UploadsService {
  private readonly logger = new Logger(UploadsService.name);

  constructor(
    private readonly em: EntityManager,
    private readonly requests: RequestRepository,
    private readonly products: ProductRepository,
    private readonly images: ImageRepository,
    private readonly queue: JobQueue,
    private readonly config: AppConfig,
  ) {}

  /** A request to be written while its CSV is parsed; `submit` or `abort` it. */
  draft(originalFilename: string): RequestDraft {
    return new RequestDraft(
      this.em,
      { requests: this.requests, products: this.products, images: this.images },
      originalFilename,
      this.config.limits.uploadTimeoutMs,
      this.config.deployment,
    );
  }

  /**
   * Commits the request, then nudges the dispatcher. Committed is accepted:
   * the images wait in PostgreSQL, where the dispatcher finds them, so the
   * answer does not wait on Redis, and nothing about the request's size is
   * queued anywhere. Should the nudge not arrive (Redis down), the
   * dispatchers' tick finds the work.
   */
  async submit(draft: RequestDraft, details: RequestDetails): Promise<CreatedRequestDto> {
    try {
      await draft.commit(details);
    } catch (error) {
      await draft.abort();
      throw error;
    }
    const { requestId } = draft;
    this.queue
      .nudgeDispatch()
      .catch((error: unknown) =>
        this.logger.warn(`Request ${requestId} stored; the dispatcher was not nudged: ${(error as Error).message}`),
      );
    return {
      requestId,
      status: RequestStatus.Pending,
      productCount: details.productCount,
      imageCount: details.imageCount,
      links: requestLinks(requestId),
    };
  }
}

import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { ExportService } from '../export/export.service.js';
import { ImageStatus } from '../products/image-status.js';
import { outputUrlFor } from '../products/output-url.js';
import { RequestStatus, isTerminal, terminalStatusFor } from '../requests/request-status.js';
import { StorageDriver } from '../storage/storage.driver.js';
import { WebhookOutbox } from '../webhooks/webhook-outbox.service.js';

/**
 * Closes a request once every image is terminal: fills each product's output
 * URLs, writes the result CSV once, and sets the terminal status together
 * with its webhook event, all while holding the request's row lock so
 * concurrent or repeated finalize jobs find the work done.
 */
@Injectable()
export class RequestFinalizer {
  private readonly logger = new Logger(RequestFinalizer.name);

  constructor(
    private readonly em: EntityManager,
    private readonly exporter: ExportService,
    private readonly storage: StorageDriver,
    private readonly config: AppConfig,
    private readonly webhooks: WebhookOutbox,
  ) {}

  async finalize(requestId: string): Promise<RequestStatus | null> {
    const finalized = await this.em.fork().transactional(async (tx) => {
      const [request] = await tx.execute<
        {
          status: RequestStatus;
          columns: string[];
          csv_delimiter: string;
          images_succeeded: number;
          images_failed: number;
          image_count: number;
        }[]
      >(
        `SELECT status, columns, csv_delimiter, images_succeeded, images_failed, image_count
           FROM processing_request WHERE id = ? FOR UPDATE`,
        [requestId],
      );
      if (!request || isTerminal(request.status)) return null;
      if (request.images_succeeded + request.images_failed < request.image_count) return null;

      await tx.execute(
        `UPDATE product p SET output_urls = agg.urls
           FROM (SELECT i.product_id,
                        jsonb_agg(CASE WHEN i.status = ? THEN ?::text || i.output_key END ORDER BY i.position) AS urls
                   FROM image i WHERE i.request_id = ? GROUP BY i.product_id) agg
          WHERE p.id = agg.product_id`,
        [ImageStatus.Succeeded, outputUrlFor(this.config.publicBaseUrl, ''), requestId],
      );
      const resultFileKey = `results/${requestId}.csv`;
      const resultCsv = this.exporter.resultCsv(tx, requestId, request.columns, request.csv_delimiter);
      await this.storage.put(resultFileKey, resultCsv);
      const status = terminalStatusFor(request.images_succeeded, request.images_failed);
      await tx.execute(
        `UPDATE processing_request SET status = ?, result_file_key = ?, completed_at = now() WHERE id = ?`,
        [status, resultFileKey, requestId],
      );
      const deliveryId = await this.webhooks.recordTerminalEvent(tx, requestId);
      this.logger.log(
        `Request ${requestId} ${status}: ${request.images_succeeded} succeeded, ${request.images_failed} failed`,
      );
      return { status, deliveryId };
    });
    // Only after the commit, so the job never looks for a row that is not there.
    // Dying right here loses nothing: the sweep queues the committed event.
    if (finalized?.deliveryId) await this.webhooks.dispatch(finalized.deliveryId);
    return finalized?.status ?? null;
  }
}

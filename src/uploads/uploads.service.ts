import { randomUUID } from 'node:crypto';
import { EntityManager } from '@mikro-orm/postgresql';
import { HttpStatus, Injectable, Logger } from '@nestjs/common';
import { AppError, ErrorCode } from '../common/app-error.js';
import { JobQueue } from '../queue/job-queue.service.js';
import { CreatedRequestDto } from '../requests/dto/request-status.dto.js';
import { requestLinks } from '../requests/request-links.js';
import { RequestStatus } from '../requests/request-status.js';
import type { ParsedCsv } from './csv/product-csv.parser.js';

// Products per INSERT; each chunk travels as one JSON parameter, so the
// statement and its parameter count stay the same whatever the CSV's size.
const INSERT_CHUNK = 5000;

export interface NewRequest {
  csv: ParsedCsv;
  originalFilename: string;
  webhookUrl: string | null;
  /** Null: every terminal event. */
  webhookEvents: readonly string[] | null;
  resize: number | null;
  /** Client-scoped Idempotency-Key, unique across requests; null without the header. */
  idempotencyKey: string | null;
  uploadFingerprint: string;
}

@Injectable()
export class UploadsService {
  private readonly logger = new Logger(UploadsService.name);

  constructor(
    private readonly em: EntityManager,
    private readonly queue: JobQueue,
  ) {}

  /**
   * Stores the request, its products and one row per image in one
   * transaction, then enqueues the image jobs. Nothing is enqueued for a
   * transaction that did not commit, and nothing is stored for a CSV that did
   * not validate (the caller parses first).
   */
  async createRequest(input: NewRequest): Promise<CreatedRequestDto> {
    const requestId = randomUUID();
    const { products } = input.csv;
    const imageIds: string[] = [];
    const imageCount = products.reduce((sum, product) => sum + product.urls.length, 0);

    await this.em.fork().transactional(async (tx) => {
      await tx.execute(
        `INSERT INTO processing_request
           (id, status, original_filename, webhook_url, webhook_events, options, columns, product_count, image_count,
            idempotency_key, upload_fingerprint, created_at)
         VALUES (?, ?, ?, ?, ?::jsonb, ?::jsonb, ?::jsonb, ?, ?, ?, ?, now())`,
        [
          requestId,
          RequestStatus.Pending,
          input.originalFilename,
          input.webhookUrl,
          input.webhookEvents && JSON.stringify(input.webhookEvents),
          JSON.stringify({ resize: input.resize }),
          JSON.stringify(input.csv.columns),
          products.length,
          imageCount,
          input.idempotencyKey,
          input.uploadFingerprint,
        ],
      );
      for (let start = 0; start < products.length; start += INSERT_CHUNK) {
        const chunk = products.slice(start, start + INSERT_CHUNK);
        const productIds = chunk.map(() => randomUUID());
        const productRows = chunk.map((product, index) => ({
          id: productIds[index],
          row_number: product.rowNumber,
          serial_number: product.serialNumber,
          name: product.name,
          input_urls: product.urls,
          cells: product.cells,
          image_count: product.urls.length,
        }));
        await tx.execute(
          `INSERT INTO product (id, request_id, row_number, serial_number, name, input_urls, cells, image_count)
           SELECT id, ?::uuid, row_number, serial_number, name, input_urls, cells, image_count
             FROM jsonb_to_recordset(?::jsonb)
                  AS t(id uuid, row_number int, serial_number text, name text, input_urls jsonb, cells jsonb, image_count int)`,
          [requestId, JSON.stringify(productRows)],
        );
        const imageRows = chunk.flatMap((product, index) =>
          product.urls.map((url, position) => ({
            id: randomUUID(),
            product_id: productIds[index],
            position,
            input_url: url,
          })),
        );
        await tx.execute(
          `INSERT INTO image (id, request_id, product_id, position, input_url)
           SELECT id, ?::uuid, product_id, position, input_url
             FROM jsonb_to_recordset(?::jsonb) AS t(id uuid, product_id uuid, position int, input_url text)`,
          [requestId, JSON.stringify(imageRows)],
        );
        imageIds.push(...imageRows.map((image) => image.id));
      }
    });

    try {
      await this.queue.enqueueImages(requestId, imageIds);
    } catch (error) {
      throw await this.withdraw(requestId, error);
    }
    return {
      requestId,
      status: RequestStatus.Pending,
      productCount: products.length,
      imageCount,
      links: requestLinks(requestId),
    };
  }

  /**
   * The queue refused the jobs (producers fail fast while Redis is down):
   * the request is taken back, so a 503 means "nothing stored, try again".
   * Jobs a partial enqueue did add find their image gone and end at once.
   * Should the delete fail too (a double fault), the request stays and the
   * stuck-work sweep queues it once Redis is back, while the client, told to
   * retry, may upload it a second time.
   */
  private async withdraw(requestId: string, cause: unknown): Promise<AppError> {
    this.logger.warn(`Could not queue request ${requestId}; withdrawing it: ${(cause as Error).message}`);
    await this.em
      .fork()
      .execute('DELETE FROM processing_request WHERE id = ?', [requestId])
      .catch((error: unknown) =>
        this.logger.error(`Request ${requestId} stays stored; the sweep will queue it: ${(error as Error).message}`),
      );
    return new AppError(
      HttpStatus.SERVICE_UNAVAILABLE,
      ErrorCode.ServiceUnavailable,
      'The job queue is unavailable',
      'Nothing was stored; upload the file again in a moment.',
    );
  }
}

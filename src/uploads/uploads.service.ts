import { randomUUID } from 'node:crypto';
import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { JobQueue } from '../queue/job-queue.service.js';
import { CreatedRequestDto } from '../requests/dto/request-status.dto.js';
import { requestLinks } from '../requests/request-links.js';
import { RequestStatus } from '../requests/request-status.js';
import type { ParsedCsv } from './csv/product-csv.parser.js';

// Rows per INSERT; unnest() keeps the parameter count fixed whatever the size.
const INSERT_CHUNK = 5000;

export interface NewRequest {
  csv: ParsedCsv;
  originalFilename: string;
  webhookUrl: string | null;
  resize: number | null;
}

@Injectable()
export class UploadsService {
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
           (id, status, original_filename, webhook_url, options, columns, product_count, image_count, created_at)
         VALUES (?, ?, ?, ?, ?::jsonb, ?::jsonb, ?, ?, now())`,
        [
          requestId,
          RequestStatus.Pending,
          input.originalFilename,
          input.webhookUrl,
          JSON.stringify({ resize: input.resize }),
          JSON.stringify(input.csv.columns),
          products.length,
          imageCount,
        ],
      );
      for (let start = 0; start < products.length; start += INSERT_CHUNK) {
        const chunk = products.slice(start, start + INSERT_CHUNK);
        const productIds = chunk.map(() => randomUUID());
        await tx.execute(
          `INSERT INTO product (id, request_id, row_number, serial_number, name, input_urls, cells, image_count)
           SELECT id, ?::uuid, row_number, serial_number, name, input_urls::jsonb, cells::jsonb, image_count
             FROM unnest(?::uuid[], ?::int[], ?::text[], ?::text[], ?::text[], ?::text[], ?::int[])
                  AS t(id, row_number, serial_number, name, input_urls, cells, image_count)`,
          [
            requestId,
            productIds,
            chunk.map((product) => product.rowNumber),
            chunk.map((product) => product.serialNumber),
            chunk.map((product) => product.name),
            chunk.map((product) => JSON.stringify(product.urls)),
            chunk.map((product) => JSON.stringify(product.cells)),
            chunk.map((product) => product.urls.length),
          ],
        );
        const ids: string[] = [];
        const owners: string[] = [];
        const positions: number[] = [];
        const urls: string[] = [];
        chunk.forEach((product, index) => {
          product.urls.forEach((url, position) => {
            ids.push(randomUUID());
            owners.push(productIds[index]!);
            positions.push(position);
            urls.push(url);
          });
        });
        await tx.execute(
          `INSERT INTO image (id, request_id, product_id, position, input_url)
           SELECT id, ?::uuid, product_id, position, input_url
             FROM unnest(?::uuid[], ?::uuid[], ?::int[], ?::text[]) AS t(id, product_id, position, input_url)`,
          [requestId, ids, owners, positions, urls],
        );
        imageIds.push(...ids);
      }
    });

    await this.queue.enqueueImages(requestId, imageIds);
    return {
      requestId,
      status: RequestStatus.Pending,
      productCount: products.length,
      imageCount,
      links: requestLinks(requestId),
    };
  }
}

import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { ImageStatus } from '../products/image-status.js';
import type { ProcessingOptions } from './processing-request.entity.js';

export interface ImageClaim {
  imageId: string;
  requestId: string;
  inputUrl: string;
  options: ProcessingOptions;
  /** The image already reached succeeded or failed in an earlier delivery of its job. */
  alreadyTerminal: boolean;
  /** Every image of the request is terminal (meaningful when alreadyTerminal). */
  requestDone: boolean;
}

export type ImageOutcome =
  | {
      status: ImageStatus.Succeeded;
      outputKey: string;
      format: string;
      bytesIn: number;
      bytesOut: number;
      width: number;
      height: number;
    }
  | { status: ImageStatus.Failed; errorCode: string; errorMessage: string; bytesIn?: number | null };

export interface RecordedOutcome {
  /** False when another delivery of the same job had already recorded a terminal state. */
  counted: boolean;
  /** Every image of the request is now terminal. */
  requestDone: boolean;
}

const OPEN_IMAGE_STATES = `('${ImageStatus.Pending}', '${ImageStatus.Processing}')`;

/**
 * The state transitions BullMQ's at-least-once delivery must not double count.
 * Each one is a guarded UPDATE: an image moves to a terminal state only from an
 * open one, and only that move bumps the product and request counters. A
 * retried or stalled job finds the guard closed.
 *
 * Each transition is a single statement whose data-modifying CTEs run
 * atomically, like one transaction, but in one round trip instead of four or
 * five (BEGIN, the UPDATEs, COMMIT): on a 2-core machine every round trip wakes
 * PostgreSQL and costs CPU the image encoder could use. The counter UPDATEs
 * read the rows they lock, so concurrent jobs of one request still add up.
 */
@Injectable()
export class RequestProgressRepository {
  constructor(private readonly em: EntityManager) {}

  /** Marks the image as being worked on and the request as started. */
  async claimImage(imageId: string): Promise<ImageClaim | null> {
    const rows = await this.em.getConnection().execute<
      {
        id: string;
        request_id: string;
        input_url: string;
        status: ImageStatus;
        options: ProcessingOptions;
        request_done: boolean;
      }[]
    >(
      `WITH claimed AS (
         UPDATE image i
            SET status = CASE WHEN i.status IN ${OPEN_IMAGE_STATES} THEN '${ImageStatus.Processing}'::image_status ELSE i.status END,
                attempts = i.attempts + CASE WHEN i.status IN ${OPEN_IMAGE_STATES} THEN 1 ELSE 0 END
          WHERE i.id = ?
        RETURNING i.id, i.request_id, i.input_url, i.status
       ), started AS (
         UPDATE processing_request r SET status = 'processing', started_at = now()
           FROM claimed c
          WHERE r.id = c.request_id AND r.status = 'pending' AND c.status = '${ImageStatus.Processing}'
       )
       SELECT c.id, c.request_id, c.input_url, c.status, r.options,
              r.images_succeeded + r.images_failed >= r.image_count AS request_done
         FROM claimed c JOIN processing_request r ON r.id = c.request_id`,
      [imageId],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      imageId: row.id,
      requestId: row.request_id,
      inputUrl: row.input_url,
      options: row.options,
      alreadyTerminal: row.status === ImageStatus.Succeeded || row.status === ImageStatus.Failed,
      requestDone: row.request_done,
    };
  }

  async recordOutcome(imageId: string, outcome: ImageOutcome): Promise<RecordedOutcome> {
    const succeeded = outcome.status === ImageStatus.Succeeded;
    const connection = this.em.getConnection();
    const [result] = await connection.execute<{ counted: boolean; request_done: boolean | null }[]>(
      // The images repeating this one's URL (source_image_id) take the same
      // outcome in the same statement, counted with it, and only when it moves.
      `WITH finished AS (
         UPDATE image
            SET status = ?, output_key = ?, format = ?, bytes_in = ?, bytes_out = ?, width = ?, height = ?,
                error_code = ?, error_message = ?, completed_at = now()
          WHERE id = ? AND status IN ${OPEN_IMAGE_STATES}
        RETURNING id, request_id, product_id, status, output_key, format, bytes_in, bytes_out, width, height,
                  error_code, error_message, attempts, completed_at
       ), copies AS (
         UPDATE image d
            SET status = f.status, output_key = f.output_key, format = f.format, bytes_in = f.bytes_in,
                bytes_out = f.bytes_out, width = f.width, height = f.height, error_code = f.error_code,
                error_message = f.error_message, attempts = f.attempts, completed_at = f.completed_at
           FROM finished f
          WHERE d.source_image_id = f.id AND d.status IN ${OPEN_IMAGE_STATES}
        RETURNING d.product_id
       ), done AS (
         SELECT product_id FROM finished UNION ALL SELECT product_id FROM copies
       ), product_done AS (
         UPDATE product p SET images_done = p.images_done + c.n, processed = (p.images_done + c.n >= p.image_count)
           FROM (SELECT product_id, count(*)::int AS n FROM done GROUP BY product_id) c
          WHERE p.id = c.product_id
         RETURNING p.processed AS done
       ), request_done AS (
         UPDATE processing_request r
            SET images_succeeded = r.images_succeeded + ? * c.n,
                images_failed = r.images_failed + ? * c.n,
                products_processed = r.products_processed + (SELECT count(*)::int FROM product_done WHERE done)
           FROM finished f, (SELECT count(*)::int AS n FROM done) c
          WHERE r.id = f.request_id
         RETURNING r.images_succeeded + r.images_failed >= r.image_count AS done
       )
       SELECT EXISTS (SELECT 1 FROM finished) AS counted, (SELECT done FROM request_done) AS request_done`,
      [
        outcome.status,
        succeeded ? outcome.outputKey : null,
        succeeded ? outcome.format : null,
        outcome.bytesIn ?? null,
        succeeded ? outcome.bytesOut : null,
        succeeded ? outcome.width : null,
        succeeded ? outcome.height : null,
        succeeded ? null : outcome.errorCode,
        succeeded ? null : outcome.errorMessage,
        imageId,
        succeeded ? 1 : 0,
        succeeded ? 0 : 1,
      ],
    );
    if (!result?.counted) {
      // A separate statement on purpose: it must see the other delivery's commit,
      // which the snapshot of the statement above may predate.
      return { counted: false, requestDone: await this.allImagesTerminalForImage(imageId) };
    }
    return { counted: true, requestDone: result.request_done ?? false };
  }

  private async allImagesTerminalForImage(imageId: string): Promise<boolean> {
    const rows = await this.em.getConnection().execute<{ done: boolean }[]>(
      `SELECT r.images_succeeded + r.images_failed >= r.image_count AS done
         FROM image i JOIN processing_request r ON r.id = i.request_id WHERE i.id = ?`,
      [imageId],
    );
    return rows[0]?.done ?? false;
  }
}

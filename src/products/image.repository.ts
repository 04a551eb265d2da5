import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import type { ProcessingOptions } from '../requests/processing-request.entity.js';
import { OPEN_REQUEST_STATES, allImagesRecorded } from '../requests/request.repository.js';
import { RequestStatus } from '../requests/request-status.js';
import { type ImageErrorSummary, RequestImageErrors } from '../requests/request-image-errors.js';
import {
  type CancelledImages,
  type ReopenedImages,
  RequestImageTransitions,
} from '../requests/request-image-transitions.js';
import { ImageStatus } from './image-status.js';

export interface ImageClaim {
  imageId: string;
  requestId: string;
  inputUrl: string;
  /** What the output key ends in; null for images uploaded before names existed. */
  fileName: string | null;
  options: ProcessingOptions;
  /** The image already has an outcome (an earlier delivery of its job), or its request was cancelled. */
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
  | {
      status: ImageStatus.Failed;
      errorCode: string;
      errorMessage: string;
      /** As the retry policy judged it; `retry?only=transient` reopens only these. Unknown: not transient. */
      transient?: boolean;
      bytesIn?: number | null;
    };

export interface RecordedOutcome {
  /** False when another delivery of the same job had already recorded a terminal state. */
  counted: boolean;
  /** Every image of the request is now terminal. */
  requestDone: boolean;
}

const OPEN_IMAGE_STATES = `('${ImageStatus.Pending}', '${ImageStatus.Processing}')`;

/** Keyset position in a request's images: product row, then position in the row. */
export interface ImageCursor {
  rowNumber: number;
  position: number;
}

/** An image as the product listing shows it. */
export interface ListedImage {
  productId: string;
  position: number;
  inputUrl: string;
  status: ImageStatus;
  outputKey: string | null;
  format: string | null;
  width: number | null;
  height: number | null;
  bytesIn: number | null;
  bytesOut: number | null;
  attempts: number;
  errorCode: string | null;
  errorMessage: string | null;
}

/**
 * Owner of the image table, and of its transitions.
 *
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
export class ImageRepository implements RequestImageErrors, RequestImageTransitions {
  constructor(private readonly em: EntityManager) {}

  /** Marks the image as being worked on and the request as started. */
  async claimImage(imageId: string): Promise<ImageClaim | null> {
    const rows = await this.em.getConnection().execute<
      {
        id: string;
        request_id: string;
        input_url: string;
        file_name: string | null;
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
        RETURNING i.id, i.request_id, i.input_url, i.file_name, i.status
       ), started AS (
         UPDATE processing_request r SET status = '${RequestStatus.Processing}', started_at = now()
           FROM claimed c
          WHERE r.id = c.request_id AND r.status = '${RequestStatus.Pending}' AND c.status = '${ImageStatus.Processing}'
       )
       SELECT c.id, c.request_id, c.input_url, c.file_name, c.status, r.options,
              ${allImagesRecorded('r')} AS request_done
         FROM claimed c JOIN processing_request r ON r.id = c.request_id`,
      [imageId],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      imageId: row.id,
      requestId: row.request_id,
      inputUrl: row.input_url,
      fileName: row.file_name,
      options: row.options,
      alreadyTerminal:
        row.status === ImageStatus.Succeeded ||
        row.status === ImageStatus.Failed ||
        row.status === ImageStatus.Cancelled,
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
                error_code = ?, error_message = ?, error_transient = ?, completed_at = now()
          WHERE id = ? AND status IN ${OPEN_IMAGE_STATES}
        RETURNING id, request_id, product_id, status, output_key, format, bytes_in, bytes_out, width, height,
                  error_code, error_message, error_transient, attempts, completed_at
       ), copies AS (
         UPDATE image d
            SET status = f.status, output_key = f.output_key, format = f.format, bytes_in = f.bytes_in,
                bytes_out = f.bytes_out, width = f.width, height = f.height, error_code = f.error_code,
                error_message = f.error_message, error_transient = f.error_transient, attempts = f.attempts,
                completed_at = f.completed_at
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
         RETURNING ${allImagesRecorded('r')} AS done
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
        succeeded ? null : (outcome.transient ?? null),
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
      `SELECT ${allImagesRecorded('r')} AS done
         FROM image i JOIN processing_request r ON r.id = i.request_id WHERE i.id = ?`,
      [imageId],
    );
    return rows[0]?.done ?? false;
  }

  /**
   * An image being worked on is cancelled too: its worker's outcome then
   * finds the guard closed and is discarded. Images before products before
   * the request row (the caller's next statement), the order recordOutcome
   * locks them in, so the two cannot deadlock.
   */
  async cancelOpen(tx: EntityManager, requestId: string): Promise<CancelledImages> {
    const [row] = await tx.execute<{ cancelled: number; products_finished: number; job_ids: string[] }[]>(
      `WITH cancelled AS (
         UPDATE image SET status = '${ImageStatus.Cancelled}', completed_at = now()
          WHERE request_id = ? AND status IN ${OPEN_IMAGE_STATES}
        RETURNING id, product_id, source_image_id
       ), product_done AS (
         UPDATE product p SET images_done = p.images_done + c.n, processed = (p.images_done + c.n >= p.image_count)
           FROM (SELECT product_id, count(*)::int AS n FROM cancelled GROUP BY product_id) c
          WHERE p.id = c.product_id
         RETURNING p.processed AS done
       )
       SELECT (SELECT count(*)::int FROM cancelled) AS cancelled,
              (SELECT count(*)::int FROM product_done WHERE done) AS products_finished,
              COALESCE((SELECT array_agg(id::text) FROM cancelled WHERE source_image_id IS NULL), '{}') AS job_ids`,
      [requestId],
    );
    return { cancelled: row.cancelled, productsFinished: row.products_finished, jobImageIds: row.job_ids };
  }

  async reopenForRetry(tx: EntityManager, requestId: string, onlyTransient: boolean): Promise<ReopenedImages> {
    const [row] = await tx.execute<
      { failed: number; cancelled: number; products_reopened: number; job_ids: string[] }[]
    >(
      // A repeated URL has its source's status and error, so it is picked with it.
      `WITH picked AS (
         SELECT id, product_id, status AS was, source_image_id FROM image
          WHERE request_id = ?
            AND (status = '${ImageStatus.Cancelled}'
                 OR (status = '${ImageStatus.Failed}' AND (NOT ?::boolean OR error_transient)))
          FOR UPDATE
       ), reopened AS (
         UPDATE image i
            SET status = '${ImageStatus.Pending}', output_key = NULL, format = NULL, bytes_in = NULL, bytes_out = NULL,
                width = NULL, height = NULL, error_code = NULL, error_message = NULL, error_transient = NULL,
                completed_at = NULL
           FROM picked p WHERE i.id = p.id
         RETURNING i.id
       ), product_open AS (
         UPDATE product p SET images_done = p.images_done - c.n, processed = false
           FROM (SELECT product_id, count(*)::int AS n FROM picked GROUP BY product_id) c
          WHERE p.id = c.product_id
         RETURNING p.images_done + c.n >= p.image_count AS was_done
       )
       SELECT count(*) FILTER (WHERE was = '${ImageStatus.Failed}')::int AS failed,
              count(*) FILTER (WHERE was = '${ImageStatus.Cancelled}')::int AS cancelled,
              (SELECT count(*)::int FROM product_open WHERE was_done) AS products_reopened,
              COALESCE(array_agg(id::text) FILTER (WHERE source_image_id IS NULL), '{}') AS job_ids
         FROM picked`,
      [requestId, onlyTransient],
    );
    return {
      failed: row.failed,
      cancelled: row.cancelled,
      productsReopened: row.products_reopened,
      jobImageIds: row.job_ids,
    };
  }

  /**
   * A URL repeated within the request is fetched once: each later occurrence
   * points at the first (ids grow in file order) and takes its outcome.
   */
  async markRepeats(tx: EntityManager, requestId: string): Promise<void> {
    await tx.execute(
      `UPDATE image i SET source_image_id = d.first_id
         FROM (SELECT id, first_value(id) OVER (PARTITION BY input_url ORDER BY id) AS first_id
                 FROM image WHERE request_id = ?) d
        WHERE i.id = d.id AND d.id <> d.first_id`,
      [requestId],
    );
  }

  /**
   * The images that need a job after `after` (exclusive), in file order, and
   * where the next page starts (null at the end). Walks product (request_id,
   * row_number) and image (product_id, position), the two indexes the rows
   * were appended to. A repeated URL has no job of its own: it takes the
   * outcome of its source image.
   */
  async jobPage(
    requestId: string,
    after: ImageCursor,
    limit: number,
  ): Promise<{ ids: string[]; next: ImageCursor | null }> {
    const page = await this.em.fork().execute<{ id: string; row_number: number; position: number }[]>(
      `SELECT i.id, p.row_number, i.position
         FROM product p JOIN image i ON i.product_id = p.id
        WHERE p.request_id = ? AND p.row_number >= ? AND (p.row_number, i.position) > (?, ?)
          AND i.source_image_id IS NULL
        ORDER BY p.row_number, i.position
        LIMIT ${limit}`,
      [requestId, after.rowNumber, after.rowNumber, after.position],
    );
    const last = page.at(-1);
    return {
      ids: page.map((image) => image.id),
      next: page.length < limit || !last ? null : { rowNumber: last.row_number, position: last.position },
    };
  }

  /**
   * Open requests that have not moved for `staleAfterMs`: none of their
   * images got an outcome since, nor did the request start.
   */
  async staleRequests(tx: EntityManager, staleAfterMs: number): Promise<string[]> {
    const rows = await tx.execute<{ id: string }[]>(
      `SELECT r.id FROM processing_request r
        WHERE r.status IN ${OPEN_REQUEST_STATES} AND NOT ${allImagesRecorded('r')}
          AND greatest(r.created_at, r.started_at,
                       (SELECT max(i.completed_at) FROM image i WHERE i.request_id = r.id))
              < now() - ? * interval '1 millisecond'`,
      [staleAfterMs],
    );
    return rows.map((row) => row.id);
  }

  /** A page of the request's open images that have a job of their own, by id after `after`. */
  async openJobImages(tx: EntityManager, requestId: string, after: string, limit: number): Promise<string[]> {
    const rows = await tx.execute<{ id: string }[]>(
      // A repeated URL has no job: it is finished with its source image.
      `SELECT id FROM image
        WHERE request_id = ? AND status IN ${OPEN_IMAGE_STATES} AND source_image_id IS NULL AND id > ?
        ORDER BY id LIMIT ${limit}`,
      [requestId, after],
    );
    return rows.map((row) => row.id);
  }

  /** The images of the given products, by product then position. */
  async forProducts(productIds: readonly string[]): Promise<ListedImage[]> {
    if (productIds.length === 0) return [];
    const rows = await this.em.fork().execute<
      {
        product_id: string;
        position: number;
        input_url: string;
        status: ImageStatus;
        output_key: string | null;
        format: string | null;
        width: number | null;
        height: number | null;
        bytes_in: number | null;
        bytes_out: number | null;
        attempts: number;
        error_code: string | null;
        error_message: string | null;
      }[]
    >(
      `SELECT product_id, position, input_url, status, output_key, format, width, height,
              bytes_in, bytes_out, attempts, error_code, error_message
         FROM image WHERE product_id IN (?) ORDER BY product_id, position`,
      [productIds],
    );
    return rows.map((row) => ({
      productId: row.product_id,
      position: row.position,
      inputUrl: row.input_url,
      status: row.status,
      // Only a success has an output to show.
      outputKey: row.status === ImageStatus.Succeeded ? row.output_key : null,
      format: row.format,
      width: row.width,
      height: row.height,
      bytesIn: row.bytes_in,
      bytesOut: row.bytes_out,
      attempts: row.attempts,
      errorCode: row.error_code,
      errorMessage: row.error_message,
    }));
  }

  async firstErrors(requestId: string, limit: number): Promise<ImageErrorSummary[]> {
    const rows = await this.em.fork().execute<
      {
        serial_number: string;
        name: string;
        row_number: number;
        input_url: string;
        error_code: string;
        error_message: string;
      }[]
    >(
      `SELECT p.serial_number, p.name, p.row_number, i.input_url, i.error_code, i.error_message
         FROM image i JOIN product p ON p.id = i.product_id
        WHERE i.request_id = ? AND i.status = ?
        ORDER BY p.row_number, i.position
        LIMIT ${limit}`,
      [requestId, ImageStatus.Failed],
    );
    return rows.map((row) => ({
      serialNumber: row.serial_number,
      productName: row.name,
      row: row.row_number,
      url: row.input_url,
      code: row.error_code,
      message: row.error_message,
    }));
  }
}

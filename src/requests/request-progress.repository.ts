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
 * Each one is a guarded UPDATE inside one transaction: an image moves to a
 * terminal state only from an open one, and only that move bumps the product
 * and request counters. A retried or stalled job finds the guard closed.
 */
@Injectable()
export class RequestProgressRepository {
  constructor(private readonly em: EntityManager) {}

  /** Marks the image as being worked on and the request as started. */
  async claimImage(imageId: string): Promise<ImageClaim | null> {
    return this.em.fork().transactional(async (tx) => {
      const rows = await tx.execute<
        {
          id: string;
          request_id: string;
          input_url: string;
          status: ImageStatus;
          options: ProcessingOptions;
          request_done: boolean;
        }[]
      >(
        `UPDATE image i
            SET status = CASE WHEN i.status IN ${OPEN_IMAGE_STATES} THEN '${ImageStatus.Processing}'::image_status ELSE i.status END,
                attempts = i.attempts + CASE WHEN i.status IN ${OPEN_IMAGE_STATES} THEN 1 ELSE 0 END
           FROM processing_request r
          WHERE i.id = ? AND r.id = i.request_id
        RETURNING i.id, i.request_id, i.input_url, i.status, r.options,
                  r.images_succeeded + r.images_failed >= r.image_count AS request_done`,
        [imageId],
      );
      const row = rows[0];
      if (!row) return null;
      const alreadyTerminal = row.status === ImageStatus.Succeeded || row.status === ImageStatus.Failed;
      if (!alreadyTerminal) {
        await tx.execute(
          `UPDATE processing_request SET status = 'processing', started_at = now()
            WHERE id = ? AND status = 'pending'`,
          [row.request_id],
        );
      }
      return {
        imageId: row.id,
        requestId: row.request_id,
        inputUrl: row.input_url,
        options: row.options,
        alreadyTerminal,
        requestDone: row.request_done,
      };
    });
  }

  async recordOutcome(imageId: string, outcome: ImageOutcome): Promise<RecordedOutcome> {
    return this.em.fork().transactional(async (tx) => {
      const succeeded = outcome.status === ImageStatus.Succeeded;
      const updated = await tx.execute<{ request_id: string; product_id: string }[]>(
        `UPDATE image
            SET status = ?, output_key = ?, format = ?, bytes_in = ?, bytes_out = ?, width = ?, height = ?,
                error_code = ?, error_message = ?, completed_at = now()
          WHERE id = ? AND status IN ${OPEN_IMAGE_STATES}
        RETURNING request_id, product_id`,
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
        ],
      );
      const image = updated[0];
      if (!image) {
        return { counted: false, requestDone: await this.allImagesTerminalForImage(tx, imageId) };
      }
      const [product] = await tx.execute<{ done: boolean }[]>(
        `UPDATE product SET images_done = images_done + 1, processed = (images_done + 1 >= image_count)
          WHERE id = ? RETURNING processed AS done`,
        [image.product_id],
      );
      const [request] = await tx.execute<{ done: boolean }[]>(
        `UPDATE processing_request
            SET images_succeeded = images_succeeded + ?,
                images_failed = images_failed + ?,
                products_processed = products_processed + ?
          WHERE id = ?
        RETURNING images_succeeded + images_failed >= image_count AS done`,
        [succeeded ? 1 : 0, succeeded ? 0 : 1, product?.done ? 1 : 0, image.request_id],
      );
      return { counted: true, requestDone: request?.done ?? false };
    });
  }

  private async allImagesTerminalForImage(tx: EntityManager, imageId: string): Promise<boolean> {
    const rows = await tx.execute<{ done: boolean }[]>(
      `SELECT r.images_succeeded + r.images_failed >= r.image_count AS done
         FROM image i JOIN processing_request r ON r.id = i.request_id WHERE i.id = ?`,
      [imageId],
    );
    return rows[0]?.done ?? false;
  }
}

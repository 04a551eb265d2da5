import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { type ImageErrorSummary, RequestImageErrors } from '../requests/request-image-errors.js';
import { ImageStatus } from './image-status.js';

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
 * Owner of the image table's rows as uploads write them and readers list
 * them. Every change of an image's status afterwards, and the columns that
 * schedule its work, belong to ImageWorkRepository.
 */
@Injectable()
export class ImageRepository implements RequestImageErrors {
  constructor(private readonly em: EntityManager) {}

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

import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { typedSql } from '../database/typed-sql.js';
import type { ProcessingRequest } from '../requests/processing-request.entity.js';
import { type ImageErrorSummary, RequestImageErrors } from '../requests/request-image-errors.js';
import { ImageObtained } from './image-obtained.js';
import { ImageStatus } from './image-status.js';
import type { Image } from './image.entity.js';
import type { Product } from './product.entity.js';

/** An image as the product listing shows it. */
export interface ListedImage {
  productId: string;
  position: number;
  inputUrl: string;
  status: ImageStatus;
  outputKey: string | null;
  obtained: ImageObtained | null;
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
    const db = sqlOf(tx);
    await db
      .updateTable('image as i')
      .from(
        db
          .selectFrom('image')
          .select((eb) => [
            'id',
            eb.fn
              .agg<string>('first_value', ['id'])
              .over((ob) => ob.partitionBy('input_url').orderBy('id'))
              .as('first_id'),
          ])
          .where('request_id', '=', requestId)
          .as('d'),
      )
      .set((eb) => ({ source_image_id: eb.ref('d.first_id') }))
      .whereRef('i.id', '=', 'd.id')
      .whereRef('d.id', '<>', 'd.first_id')
      .execute();
  }

  /** The images of the given products, by product then position. */
  async forProducts(productIds: readonly string[]): Promise<ListedImage[]> {
    if (productIds.length === 0) return [];
    return sqlOf(this.em.fork())
      .selectFrom('image')
      .select((eb) => [
        'product_id as productId',
        'position',
        'input_url as inputUrl',
        'status',
        // Only a success has an output to show.
        eb.case().when('status', '=', ImageStatus.Succeeded).then(eb.ref('output_key')).end().as('outputKey'),
        // Successes stored before re-runs have none: they were all fetched.
        eb
          .case()
          .when('status', '=', ImageStatus.Succeeded)
          .then(eb.fn.coalesce('obtained', sql.lit(ImageObtained.Fetched)))
          .end()
          .as('obtained'),
        'format',
        'width',
        'height',
        'bytes_in as bytesIn',
        'bytes_out as bytesOut',
        'attempts',
        'error_code as errorCode',
        'error_message as errorMessage',
      ])
      .where('product_id', '=', sql<string>`any(${[...productIds]}::uuid[])`)
      .orderBy('product_id')
      .orderBy('position')
      .execute();
  }

  async firstErrors(requestId: string, limit: number): Promise<ImageErrorSummary[]> {
    return (
      sqlOf(this.em.fork())
        .selectFrom('image as i')
        .innerJoin('product as p', 'p.id', 'i.product_id')
        .select([
          'p.serial_number as serialNumber',
          'p.name as productName',
          'p.row_number as row',
          'i.input_url as url',
          'i.error_code as code',
          'i.error_message as message',
        ])
        .where('i.request_id', '=', requestId)
        .where('i.status', '=', ImageStatus.Failed)
        .orderBy('p.row_number')
        .orderBy('i.position')
        .limit(limit)
        // A failed image always has its error.
        .$narrowType<{ code: string; message: string }>()
        .execute()
    );
  }
}

function sqlOf(em: EntityManager) {
  return typedSql<typeof Image | typeof Product | typeof ProcessingRequest>(em);
}

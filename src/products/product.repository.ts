import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { type Tables, typedSql } from '../database/typed-sql.js';
import type { ProcessingRequest } from '../requests/processing-request.entity.js';
import { ImageStatus } from './image-status.js';
import type { Image } from './image.entity.js';
import type { Product } from './product.entity.js';

/** A product row as the upload hands it over, with its image ids already chosen. */
export interface NewProduct {
  id: string;
  rowNumber: number;
  serialNumber: string;
  name: string;
  cells: string[];
  imageIds: string[];
  /** Aligned with imageIds; each becomes an image row, not a product column. */
  urls: string[];
  /** Aligned with imageIds: each URL's host and port (hostAndPort), its image's source_host. */
  sourceHosts: string[];
  /** Aligned with imageIds: what each image's output key ends in (storage-keys.ts ImageNames). */
  fileNames: string[];
}

export interface ListedProduct {
  id: string;
  rowNumber: number;
  serialNumber: string;
  name: string;
  processed: boolean;
}

/** A product as the export writes it: output keys aligned with its images, null where one failed. */
export interface ExportedProduct {
  rowNumber: number;
  serialNumber: string;
  name: string;
  cells: string[];
  outputKeys: (string | null)[];
  errors: string[];
}

type ProductTables = Tables<typeof Product | typeof Image | typeof ProcessingRequest>;
type ProductColumns = ProductTables['product'];
type ImageColumns = ProductTables['image'];

/** A product row as insertWithImages sends it, its images' columns as arrays aligned with image_ids. */
type ProductRecord = Pick<ProductColumns, 'id' | 'row_number' | 'serial_number' | 'name' | 'cells' | 'image_count'> & {
  input_urls: ImageColumns['input_url'][];
  source_hosts: ImageColumns['source_host'][];
  image_ids: ImageColumns['id'][];
  file_names: NonNullable<ImageColumns['file_name']>[];
};

/**
 * A chunk of products serialised for insertWithImages. Made apart from the
 * INSERT so that an upload can build the next chunk while the previous one is
 * still being written.
 */
export class ProductChunk {
  /** The rows as one JSON array, bound as a single jsonb value. */
  readonly json: string;

  constructor(products: readonly NewProduct[]) {
    const records: ProductRecord[] = products.map((product) => ({
      id: product.id,
      row_number: product.rowNumber,
      serial_number: product.serialNumber,
      name: product.name,
      input_urls: product.urls,
      source_hosts: product.sourceHosts,
      image_ids: product.imageIds,
      file_names: product.fileNames,
      cells: product.cells,
      image_count: product.urls.length,
    }));
    this.json = JSON.stringify(records);
  }
}

/** Owner of the product table; the image rows are inserted with their products. */
@Injectable()
export class ProductRepository {
  constructor(private readonly em: EntityManager) {}

  /**
   * One statement per chunk: the image rows are unfolded from the product
   * rows by PostgreSQL, so each URL crosses the wire once; the image rows'
   * product check runs at the end of the statement (image.entity.ts), when
   * the product rows exist. The chunk travels as one bound jsonb value (two
   * parameters in all, however large the chunk), which pg sends as it is: no
   * escaping.
   */
  async insertWithImages(tx: EntityManager, requestId: string, chunk: ProductChunk): Promise<void> {
    const request = sql<string>`${requestId}::uuid`;
    await sqlOf(tx)
      .with('t', (db) =>
        db
          .selectFrom(
            sql<ProductRecord>`jsonb_to_recordset(${chunk.json}::jsonb)`.as<'t'>(
              sql`t(id uuid, row_number int, serial_number text, name text, input_urls jsonb, source_hosts jsonb,
                    image_ids jsonb, file_names jsonb, cells jsonb, image_count int)`,
            ),
          )
          .selectAll(),
      )
      .with('products', (db) =>
        db
          .insertInto('product')
          .columns(['id', 'request_id', 'row_number', 'serial_number', 'name', 'cells', 'image_count'])
          .expression((eb) =>
            eb
              .selectFrom('t')
              .select(['id', request.as('request_id'), 'row_number', 'serial_number', 'name', 'cells', 'image_count']),
          ),
      )
      .insertInto('image')
      .columns(['id', 'request_id', 'product_id', 'position', 'input_url', 'source_host', 'file_name'])
      .expression((eb) =>
        eb
          .selectFrom('t')
          .crossJoinLateral((eb) =>
            sql<{ url: string; source_host: string; image_id: string; file_name: string; position: number }>`ROWS FROM (
                jsonb_array_elements_text(${eb.ref('t.input_urls')}),
                jsonb_array_elements_text(${eb.ref('t.source_hosts')}),
                jsonb_array_elements_text(${eb.ref('t.image_ids')}),
                jsonb_array_elements_text(${eb.ref('t.file_names')})
              ) WITH ORDINALITY`.as<'u'>(sql`u(url, source_host, image_id, file_name, position)`),
          )
          .select((eb) => [
            sql<string>`${eb.ref('u.image_id')}::uuid`.as('id'),
            request.as('request_id'),
            't.id as product_id',
            eb('u.position', '-', 1).as('position'),
            'u.url as input_url',
            'u.source_host',
            'u.file_name',
          ]),
      )
      .execute();
  }

  page(requestId: string, limit: number, offset: number): Promise<ListedProduct[]> {
    return sqlOf(this.em.fork())
      .selectFrom('product')
      .select(['id', 'row_number as rowNumber', 'serial_number as serialNumber', 'name', 'processed'])
      .where('request_id', '=', requestId)
      .orderBy('row_number')
      .limit(limit)
      .offset(offset)
      .execute();
  }

  /** The products after row `after`, in file order, with their images' outcomes. */
  async exportPage(requestId: string, after: number, limit: number): Promise<ExportedProduct[]> {
    const rows = await sqlOf(this.em.fork())
      .selectFrom('product as p')
      // Both aggregates read the product's few images (its index), filtered in
      // the aggregate: with a status condition in WHERE and statistics not yet
      // updated after a large request, the planner also scanned the status
      // index per row (435 instead of 7 ms per page of 1 000).
      .crossJoinLateral((eb) =>
        eb
          .selectFrom('image as i')
          .select((eb) => [
            eb.fn
              .agg<(string | null)[] | null>('jsonb_agg', [
                eb.case().when('i.status', '=', ImageStatus.Succeeded).then(eb.ref('i.output_key')).end(),
              ])
              .orderBy('i.position')
              .as('output_keys'),
            eb.fn
              .coalesce(
                eb.fn
                  .agg<string[]>('jsonb_agg', [
                    sql<string>`${eb.ref('i.input_url')} || ' -> ' || ${eb.ref('i.error_code')} || ': ' || ${eb.ref('i.error_message')}`,
                  ])
                  .orderBy('i.position')
                  .filterWhere('i.status', '=', ImageStatus.Failed),
                sql<string[]>`'[]'::jsonb`,
              )
              .as('errors'),
          ])
          .whereRef('i.product_id', '=', 'p.id')
          .as('agg'),
      )
      .select([
        'p.row_number as rowNumber',
        'p.serial_number as serialNumber',
        'p.name',
        'p.cells',
        'agg.output_keys',
        'agg.errors',
      ])
      .where('p.request_id', '=', requestId)
      .where('p.row_number', '>', after)
      .orderBy('p.row_number')
      .limit(limit)
      .execute();
    return rows.map(({ output_keys: outputKeys, ...row }) => ({ ...row, outputKeys: outputKeys ?? [] }));
  }
}

function sqlOf(em: EntityManager) {
  return typedSql<typeof Product | typeof Image | typeof ProcessingRequest>(em);
}

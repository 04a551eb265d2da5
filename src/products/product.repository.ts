import { raw } from '@mikro-orm/core';
import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { ImageStatus } from './image-status.js';

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

/** Owner of the product table; the image rows are inserted with their products. */
@Injectable()
export class ProductRepository {
  constructor(private readonly em: EntityManager) {}

  /**
   * One statement per chunk: the image rows are unfolded from the product
   * rows by PostgreSQL, so each URL crosses the wire once; the foreign key to
   * the product is checked at the end of the statement, when the product
   * rows exist.
   */
  async insertWithImages(tx: EntityManager, requestId: string, products: readonly NewProduct[]): Promise<void> {
    const rows = products.map((product) => ({
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
    await tx.execute(
      `WITH t AS (
         SELECT * FROM jsonb_to_recordset(?::jsonb)
            AS t(id uuid, row_number int, serial_number text, name text, input_urls jsonb, source_hosts jsonb,
                 image_ids jsonb, file_names jsonb, cells jsonb, image_count int)
       ), products AS (
         INSERT INTO product (id, request_id, row_number, serial_number, name, cells, image_count)
         SELECT id, ?::uuid, row_number, serial_number, name, cells, image_count FROM t
       )
       INSERT INTO image (id, request_id, product_id, position, input_url, source_host, file_name)
       SELECT u.image_id::uuid, ?::uuid, t.id, u.position - 1, u.url, u.source_host, u.file_name
         FROM t CROSS JOIN LATERAL ROWS FROM (
                jsonb_array_elements_text(t.input_urls),
                jsonb_array_elements_text(t.source_hosts),
                jsonb_array_elements_text(t.image_ids),
                jsonb_array_elements_text(t.file_names)
              ) WITH ORDINALITY AS u(url, source_host, image_id, file_name, position)`,
      [jsonLiteral(rows), requestId, requestId],
    );
  }

  async page(requestId: string, limit: number, offset: number): Promise<ListedProduct[]> {
    const rows = await this.em
      .fork()
      .execute<{ id: string; row_number: number; serial_number: string; name: string; processed: boolean }[]>(
        `SELECT id, row_number, serial_number, name, processed FROM product
        WHERE request_id = ? ORDER BY row_number LIMIT ? OFFSET ?`,
        [requestId, limit, offset],
      );
    return rows.map((row) => ({
      id: row.id,
      rowNumber: row.row_number,
      serialNumber: row.serial_number,
      name: row.name,
      processed: row.processed,
    }));
  }

  /** The products after row `after`, in file order, with their images' outcomes. */
  async exportPage(requestId: string, after: number, limit: number): Promise<ExportedProduct[]> {
    const rows = await this.em.fork().execute<
      {
        row_number: number;
        serial_number: string;
        name: string;
        cells: string[];
        output_keys: (string | null)[] | null;
        errors: string[];
      }[]
    >(
      // Both aggregates read the product's few images (its index), filtered in
      // the aggregate: with a status condition in WHERE and statistics not yet
      // updated after a large request, the planner also scanned the status
      // index per row (435 instead of 7 ms per page of 1 000).
      `SELECT p.row_number, p.serial_number, p.name, p.cells, agg.output_keys, agg.errors
         FROM product p
         CROSS JOIN LATERAL (
           SELECT jsonb_agg(CASE WHEN i.status = ? THEN i.output_key END ORDER BY i.position) AS output_keys,
                  COALESCE(jsonb_agg(i.input_url || ' -> ' || i.error_code || ': ' || i.error_message
                                     ORDER BY i.position) FILTER (WHERE i.status = ?), '[]'::jsonb) AS errors
             FROM image i WHERE i.product_id = p.id) agg
        WHERE p.request_id = ? AND p.row_number > ?
        ORDER BY p.row_number
        LIMIT ${limit}`,
      [ImageStatus.Succeeded, ImageStatus.Failed, requestId, after],
    );
    return rows.map((row) => ({
      rowNumber: row.row_number,
      serialNumber: row.serial_number,
      name: row.name,
      cells: row.cells,
      outputKeys: row.output_keys ?? [],
      errors: row.errors,
    }));
  }
}

/**
 * `value` as JSON in a SQL string literal. MikroORM inlines parameters into
 * the statement, escaping a string one character at a time: on a chunk's few
 * MB of JSON that made tens of MB of garbage per chunk, most of an ingest's
 * peak memory. Two native replacements escape the same way; the E'' form
 * means the same whatever standard_conforming_strings says.
 */
function jsonLiteral(value: unknown): ReturnType<typeof raw> {
  return raw(`E'${JSON.stringify(value).replaceAll('\\', '\\\\').replaceAll("'", "''")}'`);
}

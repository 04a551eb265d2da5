import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { hostAndPort } from '../../src/common/outbound/retry-after.js';

export interface SeededRequest {
  requestId: string;
  productIds: string[];
  imageIds: string[][];
}

/**
 * Inserts a pending request with `imagesPerProduct[i]` images on product i,
 * straight into the tables. It belongs to `deployment`: by default one of its
 * own, which no dispatcher serves, so its images wait until the test moves them.
 */
export async function seedRequest(
  em: EntityManager,
  imagesPerProduct: number[],
  deployment = `seed/${randomUUID()}`,
): Promise<SeededRequest> {
  const requestId = randomUUID();
  const imageCount = imagesPerProduct.reduce((sum, count) => sum + count, 0);
  await em.execute(
    `INSERT INTO processing_request (id, original_filename, options, columns, product_count, image_count, created_at,
                                     deployment)
     VALUES (?, 'seed.csv', '{"resize":null}', '["S. No.","Product Name","Input Image Urls"]', ?, ?, now(), ?)`,
    [requestId, imagesPerProduct.length, imageCount, deployment],
  );
  const productIds: string[] = [];
  const imageIds: string[][] = [];
  for (const [index, count] of imagesPerProduct.entries()) {
    const productId = randomUUID();
    const urls = Array.from({ length: count }, (_, position) => `http://images.test/${index}/${position}.jpg`);
    await em.execute(
      `INSERT INTO product (id, request_id, row_number, serial_number, name, cells, image_count)
       VALUES (?, ?, ?, ?, ?, ?::jsonb, ?)`,
      [
        productId,
        requestId,
        index + 1,
        String(index + 1),
        `SKU${index + 1}`,
        JSON.stringify([String(index + 1), `SKU${index + 1}`, urls.join(',')]),
        count,
      ],
    );
    const ids: string[] = [];
    for (const [position, url] of urls.entries()) {
      const imageId = randomUUID();
      await em.execute(
        `INSERT INTO image (id, request_id, product_id, position, input_url, source_host) VALUES (?, ?, ?, ?, ?, ?)`,
        [imageId, requestId, productId, position, url, hostAndPort(new URL(url))],
      );
      ids.push(imageId);
    }
    productIds.push(productId);
    imageIds.push(ids);
  }
  return { requestId, productIds, imageIds };
}

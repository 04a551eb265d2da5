import { randomUUID } from 'node:crypto';
import { type EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { ormOptions } from '../../src/database/orm-options.js';
import { prepareDatabase } from '../../src/database/prepare-database.js';
import { ENTITIES } from '../../src/entities.js';
import { seedRequest } from '../factories/request.factory.js';
import { TEST_DATABASE_URL } from '../support/test-database.js';

/**
 * image.product_id has no foreign key (its per-row checks cost a third of an
 * upload's INSERT): two statement-level triggers hold what it held.
 */
describe('image rows and their product, on PostgreSQL', () => {
  let orm: MikroORM;

  beforeAll(async () => {
    await prepareDatabase(TEST_DATABASE_URL);
    orm = await MikroORM.init(ormOptions(TEST_DATABASE_URL, ENTITIES));
  });

  afterAll(async () => {
    await orm?.close(true);
  });

  const seed = (images: number[]) => orm.em.fork().transactional((tx: EntityManager) => seedRequest(tx, images));
  const imagesOf = async (requestId: string) =>
    (
      await orm.em
        .fork()
        .execute<{ n: number }[]>('SELECT count(*)::int AS n FROM image WHERE request_id = ?', [requestId])
    )[0].n;

  it('refuses an image whose product does not exist, with the foreign-key error, and stores none of the statement', async () => {
    const { requestId, productIds } = await seed([1]);
    const insert = orm.em.fork().execute(
      `INSERT INTO image (id, request_id, product_id, position, input_url, source_host)
       VALUES (?, ?, ?, 1, 'http://images.test/a.jpg', 'images.test:80'), (?, ?, ?, 0, 'http://images.test/b.jpg', 'images.test:80')`,
      [randomUUID(), requestId, productIds[0], randomUUID(), requestId, randomUUID()],
    );
    await expect(insert).rejects.toMatchObject({ code: '23503' });
    expect(await imagesOf(requestId)).toBe(1);
  });

  it("deletes a product's images with it, and only its own", async () => {
    const doomed = await seed([2, 3]);
    const kept = await seed([2]);
    await orm.em.fork().execute('DELETE FROM product WHERE id = ?', [doomed.productIds[0]]);
    expect(await imagesOf(doomed.requestId)).toBe(3);
    // A request's deletion cascades to its products, and through the trigger to their images.
    await orm.em.fork().execute('DELETE FROM processing_request WHERE id = ?', [doomed.requestId]);
    expect(await imagesOf(doomed.requestId)).toBe(0);
    expect(await imagesOf(kept.requestId)).toBe(2);
  });
});

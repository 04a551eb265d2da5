import { MikroORM } from '@mikro-orm/postgresql';
import { ormOptions } from '../../src/database/orm-options.js';
import { prepareDatabase } from '../../src/database/prepare-database.js';
import { ENTITIES } from '../../src/entities.js';
import { TEST_DATABASE_URL } from '../support/test-database.js';

/**
 * The entities and the migrations describe the same schema: on a database
 * the migrations built, MikroORM's schema generator finds nothing to change.
 * Typed SQL infers its tables from the entities (database/typed-sql.ts), so
 * an entity that drifted from its migration would type queries against
 * columns that do not exist; this fails first, with the SQL that would
 * close the gap (`npm run migration:create` writes it as a migration).
 */
describe('entities and migrations', () => {
  let orm: MikroORM;

  beforeAll(async () => {
    await prepareDatabase(TEST_DATABASE_URL);
    orm = await MikroORM.init(ormOptions(TEST_DATABASE_URL, ENTITIES));
  });

  afterAll(async () => {
    await orm.close();
  });

  it('agree: the schema diff of a migrated database is empty', async () => {
    const diff = await orm.schema.getUpdateSchemaSQL({ wrap: false, dropTables: false });
    expect(diff.trim()).toBe('');
  });
});

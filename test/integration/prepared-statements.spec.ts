import { randomUUID } from 'node:crypto';
import { MikroORM } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import { prepareDatabase } from '../../src/database/prepare-database.js';
import { ormOptions } from '../../src/database/orm-options.js';
import { PreparedStatements } from '../../src/database/prepared-statements.js';
import type { PreparedQuery } from '../../src/database/typed-sql.js';
import { ENTITIES } from '../../src/entities.js';
import { TEST_DATABASE_URL } from '../support/test-database.js';

/**
 * PreparedStatements.transaction on the real PostgreSQL: what a dispatch
 * pass relies on. Its statements commit together or not at all, and the
 * connection goes back to the pool, or is closed when it broke.
 */
describe('PreparedStatements.transaction on PostgreSQL', () => {
  let orm: MikroORM;
  let prepared: PreparedStatements;
  let pool: Pool;
  // Its own table: the suites share the database.
  const table = `prepared_spec_${randomUUID().replaceAll('-', '')}`;
  let insert: PreparedQuery<{ id: number }, { id: number }>;
  let terminateOwnConnection: PreparedQuery<Record<string, never>, unknown>;

  beforeAll(async () => {
    await prepareDatabase(TEST_DATABASE_URL);
    orm = await MikroORM.init(ormOptions(TEST_DATABASE_URL, ENTITIES));
    prepared = new PreparedStatements(orm.em);
    pool = await orm.em.getConnection().getNativeClient();
    await pool.query(`CREATE TABLE ${table} (id int PRIMARY KEY)`);
    insert = {
      name: `${table}.insert`,
      text: `INSERT INTO ${table} (id) VALUES ($1) RETURNING id`,
      bind: ({ id }) => [id],
    };
    terminateOwnConnection = {
      name: `${table}.terminate`,
      text: 'SELECT pg_terminate_backend(pg_backend_pid())',
      bind: () => [],
    };
  });

  afterAll(async () => {
    await pool?.query(`DROP TABLE IF EXISTS ${table}`);
    await orm?.close(true);
  });

  async function ids(): Promise<number[]> {
    const result = await pool.query<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`);
    return result.rows.map((row) => row.id);
  }

  /** Every connection the pool opened is idle again: none was kept by a transaction. */
  function allReturned(): boolean {
    return pool.idleCount === pool.totalCount && pool.waitingCount === 0;
  }

  it('commits every statement of work that resolves, and answers what work returned', async () => {
    const result = await prepared.transaction(async (tx) => {
      const [first] = await tx.run(insert, { id: 1 });
      const [second] = await tx.run(insert, { id: 2 });
      // Not committed yet: other connections do not see them.
      expect(await ids()).toEqual([]);
      return [first.id, second.id];
    });
    expect(result).toEqual([1, 2]);
    expect(await ids()).toEqual([1, 2]);
    expect(allReturned()).toBe(true);
  });

  it('rolls back every statement when work throws, and rethrows its error', async () => {
    const failure = new Error('the pass gave up');
    await expect(
      prepared.transaction(async (tx) => {
        await tx.run(insert, { id: 3 });
        throw failure;
      }),
    ).rejects.toBe(failure);
    // A statement that fails aborts the transaction the same way: id 1 is taken.
    await expect(
      prepared.transaction(async (tx) => {
        await tx.run(insert, { id: 4 });
        await tx.run(insert, { id: 1 });
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect(await ids()).toEqual([1, 2]);
    expect(allReturned()).toBe(true);
  });

  it('closes a connection that broke mid-transaction, and the next transaction gets a working one', async () => {
    await expect(
      prepared.transaction(async (tx) => {
        await tx.run(insert, { id: 5 });
        await tx.run(terminateOwnConnection, {});
      }),
    ).rejects.toThrow();
    expect(await ids()).toEqual([1, 2]);
    expect(allReturned()).toBe(true);
    expect(await prepared.transaction((tx) => tx.run(insert, { id: 6 }))).toEqual([{ id: 6 }]);
    expect(await ids()).toEqual([1, 2, 6]);
  });

  it('runs more transactions at once than the pool has connections, each on a connection of its own', async () => {
    const started = Array.from({ length: 30 }, (_, index) =>
      prepared.transaction(async (tx) => {
        const [row] = await tx.run(insert, { id: 100 + index });
        return row.id;
      }),
    );
    expect((await Promise.all(started)).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 30 }, (_, index) => 100 + index),
    );
    expect(allReturned()).toBe(true);
  });
});

import { Logger } from '@nestjs/common';
import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { ormOptions } from './orm-options.js';

// Any fixed 64-bit key works; it only has to be the same in every process.
const MIGRATION_LOCK_KEY = 7_301_117_003;
const logger = new Logger('Database');

/**
 * Creates the database if it is missing and applies pending migrations while
 * holding a PostgreSQL advisory lock, so that an API and several workers
 * starting together migrate exactly once.
 */
export async function prepareDatabase(databaseUrl: string): Promise<void> {
  await ensureDatabaseExists(databaseUrl);
  const lockClient = new pg.Client({ connectionString: databaseUrl });
  await lockClient.connect();
  try {
    await lockClient.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const orm = await MikroORM.init({ ...ormOptions(databaseUrl), pool: { min: 0, max: 1 } });
    try {
      const applied = await orm.migrator.up();
      if (applied.length > 0) logger.log(`Applied migrations: ${applied.map((m) => m.name).join(', ')}`);
    } finally {
      await orm.close(true);
    }
  } finally {
    await lockClient.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await lockClient.end();
  }
}

async function ensureDatabaseExists(databaseUrl: string): Promise<void> {
  const probe = new pg.Client({ connectionString: databaseUrl });
  try {
    await probe.connect();
    return;
  } catch (error) {
    if ((error as { code?: string }).code !== '3D000') throw error;
  } finally {
    await probe.end().catch(() => undefined);
  }
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  url.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    logger.log(`Created database ${name}`);
  } catch (error) {
    // Another process created it between our probe and this statement:
    // duplicate_database once its CREATE has committed, or a unique violation
    // on pg_database while both statements are still running.
    const code = (error as { code?: string }).code;
    if (code !== '42P04' && code !== '23505') throw error;
  } finally {
    await admin.end();
  }
}

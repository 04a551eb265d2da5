import { prepareDatabase } from '../src/database/prepare-database.js';
import { dropTestDatabase } from './support/test-database.js';
import { TEST_DATABASE_URL } from './support/test-env.js';

/** Starts every run from an empty, fully migrated test database (which also exercises creation). */
export default async function globalSetup(): Promise<void> {
  await dropTestDatabase();
  await prepareDatabase(TEST_DATABASE_URL);
}

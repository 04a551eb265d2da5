import { dropTestDatabase } from './support/test-database.ts';

/** Leaves nothing behind: the test database goes with the run. */
export default async function globalTeardown(): Promise<void> {
  await dropTestDatabase();
}

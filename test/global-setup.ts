import { dropTestDatabase } from './support/test-database.ts';

/**
 * Every run starts without the test database; the first suite to boot the app
 * creates and migrates it, exactly as a fresh install would.
 */
export default async function globalSetup(): Promise<void> {
  await dropTestDatabase();
}

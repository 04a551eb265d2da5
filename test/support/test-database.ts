// Loaded by jest's globalSetup through Node's own ESM loader, which cannot
// resolve the `.js` specifiers of our TypeScript sources: no relative imports here.
import pg from 'pg';

// Each run gets its own database unless one is named, so two runs on one
// machine (a developer and CI, or parallel agents) never drop each other's data.
// globalSetup fixes the name in the environment, which the test workers and
// any child process they spawn inherit.
process.env.TEST_DATABASE_URL ??= `postgresql://postgres@127.0.0.1:5432/pixbatch_${process.pid}_test`;
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;

/** Refuses any database whose name does not say it is for tests. */
export function assertTestDatabase(url: string): void {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  if (!name.endsWith('_test')) {
    throw new Error(`Refusing to run tests against database "${name}": its name must end in _test.`);
  }
}

export async function dropTestDatabase(): Promise<void> {
  await dropDatabase(TEST_DATABASE_URL);
}

/** Drops a test database (and only a test database), closing its connections first. */
export async function dropDatabase(databaseUrl: string): Promise<void> {
  assertTestDatabase(databaseUrl);
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  url.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

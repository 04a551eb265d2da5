import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import pg from 'pg';
import { QueueName } from '../../src/queue/queue.constants.js';
import { requestPrefix } from '../../src/storage/storage-keys.js';
import { TEST_DATABASE_URL } from './test-database.js';
import { waitUntil } from './wait-until.js';

/**
 * A database of the suite's own on the shared PostgreSQL, which the suite
 * drops when it is done. Dispatchers and sweeps only serve their own
 * deployment's requests (queue prefix and Redis database), so this is for
 * tidiness and for suites that stop or restart the services, not isolation.
 */
export function scratchDatabaseUrl(suite: string): string {
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/pixbatch_${process.pid}_${suite}_test`;
  return url.toString();
}

export interface Ledger {
  status: string;
  imageCount: number;
  /** The request's counters, as the status endpoint reports them. */
  counted: { succeeded: number; failed: number; productsProcessed: number };
  /** What the rows say: every image row by state, products whose every image is counted. */
  rows: {
    succeeded: number;
    failed: number;
    open: number;
    productsDone: number;
    productCount: number;
    imagesDone: number;
    /** Images still holding a chunk, a lease or a wait: scheduling state a terminal image has let go of. */
    scheduled: number;
  };
  imageIds: string[];
  /** The last part of each image's output key, in image id order. */
  outputFiles: string[];
  /** The storage folder of the request's outputs (`images/<token>/`). */
  folder: string;
  maxAttempts: number;
}

/** The row the ledger query selects. */
interface LedgerRow {
  status: string;
  public_token: string | null;
  image_count: number;
  images_succeeded: number;
  images_failed: number;
  products_processed: number;
  product_count: number;
  rows_succeeded: number;
  rows_failed: number;
  rows_open: number;
  products_done: number;
  images_done: number;
  rows_scheduled: number;
  max_attempts: number;
  image_ids: string[];
  output_files: string[];
}

/** Reads a request's counters and, independently, the rows they summarise. */
export async function ledger(databaseUrl: string, requestId: string): Promise<Ledger> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<LedgerRow>(
      `SELECT r.status, r.public_token, r.image_count, r.images_succeeded, r.images_failed, r.products_processed, r.product_count,
              (SELECT count(*)::int FROM image i WHERE i.request_id = r.id AND i.status = 'succeeded') AS rows_succeeded,
              (SELECT count(*)::int FROM image i WHERE i.request_id = r.id AND i.status = 'failed') AS rows_failed,
              (SELECT count(*)::int FROM image i WHERE i.request_id = r.id AND i.status IN ('pending', 'processing')) AS rows_open,
              (SELECT count(*)::int FROM product p WHERE p.request_id = r.id AND p.processed AND p.images_done = p.image_count) AS products_done,
              (SELECT coalesce(sum(p.images_done), 0)::int FROM product p WHERE p.request_id = r.id) AS images_done,
              (SELECT count(*)::int FROM image i WHERE i.request_id = r.id
                  AND (i.chunk_id IS NOT NULL OR i.lease_until IS NOT NULL OR i.not_before IS NOT NULL
                       OR i.waiting_since IS NOT NULL)) AS rows_scheduled,
              (SELECT max(i.attempts) FROM image i WHERE i.request_id = r.id) AS max_attempts,
              (SELECT array_agg(i.id::text ORDER BY i.id) FROM image i WHERE i.request_id = r.id) AS image_ids,
              (SELECT array_agg(substring(i.output_key from '[^/]+$') ORDER BY i.id) FROM image i WHERE i.request_id = r.id) AS output_files
         FROM processing_request r WHERE r.id = $1`,
      [requestId],
    );
    const row = rows[0];
    if (!row) throw new Error(`Request ${requestId} is not in the database`);
    return {
      status: row.status,
      imageCount: row.image_count,
      counted: {
        succeeded: row.images_succeeded,
        failed: row.images_failed,
        productsProcessed: row.products_processed,
      },
      rows: {
        succeeded: row.rows_succeeded,
        failed: row.rows_failed,
        open: row.rows_open,
        productsDone: row.products_done,
        productCount: row.product_count,
        imagesDone: row.images_done,
        scheduled: row.rows_scheduled,
      },
      imageIds: row.image_ids,
      outputFiles: row.output_files,
      folder: requestPrefix({ id: requestId, publicToken: row.public_token }),
      maxAttempts: row.max_attempts,
    };
  } finally {
    await client.end();
  }
}

/**
 * Every image terminal and counted exactly once: the request's counters, the
 * products' counters and the image rows agree, no image still holds a chunk
 * or a lease, and storage holds one output per image under its deterministic
 * key, nothing else (no second copy, no temporary file left by a killed write).
 */
export async function expectCountedOnce(databaseUrl: string, storageDir: string, requestId: string): Promise<Ledger> {
  const book = await ledger(databaseUrl, requestId);
  expect(book.status).toBe('completed');
  expect(book.rows).toEqual({
    succeeded: book.imageCount,
    failed: 0,
    open: 0,
    productsDone: book.rows.productCount,
    productCount: book.rows.productCount,
    imagesDone: book.imageCount,
    scheduled: 0,
  });
  expect(book.counted).toEqual({ succeeded: book.imageCount, failed: 0, productsProcessed: book.rows.productCount });
  const files = await readdir(join(storageDir, book.folder));
  // One file per image, under the key its outcome recorded, and nothing beside them.
  expect(files.sort()).toEqual([...book.outputFiles].sort());
  expect(book.outputFiles).toHaveLength(book.imageIds.length);
  return book;
}

/** Jobs in Redis on a deployment's image queue, in any state (chunk jobs are removed once they end). */
export async function chunkJobsInRedis(redisUrl: string, prefix: string): Promise<number> {
  const queue = new Queue(QueueName.Images, { connection: { url: redisUrl }, prefix });
  try {
    const counts = await queue.getJobCounts();
    return Object.values(counts).reduce((sum, count) => sum + count, 0);
  } finally {
    await queue.close();
  }
}

/**
 * Chunk jobs leave Redis once they end, completed or failed: Redis holds the
 * work in flight, never a record of it. Waits for the last ones to go (a
 * worker may still be ending a chunk that found nothing left to do).
 */
export async function expectChunkJobsGone(redisUrl: string, prefix: string, timeoutMs = 15_000): Promise<void> {
  await waitUntil(
    'every chunk job to leave Redis',
    async () => (await chunkJobsInRedis(redisUrl, prefix)) === 0,
    timeoutMs,
  );
  expect(await chunkJobsInRedis(redisUrl, prefix)).toBe(0);
}

// Helpers of the ingest section: the queue of a bench deployment, and a request
// brought to "every image done" in SQL so that only its finalize runs.
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A BullMQ queue of the deployment (names as in src/queue/queue.constants.ts); close it after use. */
export function benchQueue(env, name) {
  return new Queue(name, { connection: { url: REDIS_URL }, prefix: env.queuePrefix });
}

/** Records every image of the request as succeeded, with its counters, as the image jobs would have. */
export async function markAllSucceeded(env, requestId) {
  await env.query(
    `UPDATE image SET status = 'succeeded', output_key = 'images/' || request_id || '/' || id || '.jpg', format = 'jpeg',
                      bytes_in = 500000, bytes_out = 190000, width = 1600, height = 1200, attempts = 1, completed_at = now()
      WHERE request_id = $1`,
    [requestId],
  );
  await env.query(`UPDATE product SET images_done = image_count, processed = true WHERE request_id = $1`, [requestId]);
  // Workers record images one by one over hours, and autovacuum refreshes the
  // statistics meanwhile; one bulk UPDATE just before the finalize would leave the
  // planner with the empty tables' statistics.
  await env.query('ANALYZE image');
  await env.query('ANALYZE product');
  await env.query(
    `UPDATE processing_request SET status = 'processing', started_at = now(), images_succeeded = image_count,
                                   products_processed = product_count
      WHERE id = $1`,
    [requestId],
  );
}

/**
 * Queues the request's finalize job and waits until the request is terminal; resolves with the time taken.
 * Finalize writes no result file any more: the export is built when asked (time it with the export route).
 */
export async function finalize(env, requestId, timeoutMs = 300_000) {
  const requests = benchQueue(env, 'requests');
  const started = performance.now();
  try {
    // The id the service gives a request's first-round finalize (src/queue/queue.constants.ts).
    await requests.add('finalize-request', { requestId }, { jobId: `${requestId}.0` });
  } finally {
    await requests.close();
  }
  for (;;) {
    const [row] = await env.query('SELECT status FROM processing_request WHERE id = $1', [requestId]);
    if (['completed', 'completed_with_errors', 'failed'].includes(row.status)) return performance.now() - started;
    if (performance.now() - started > timeoutMs) throw new Error(`request ${requestId} not finalized: ${row.status}`);
    await sleep(100);
  }
}

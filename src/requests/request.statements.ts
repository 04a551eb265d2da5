import type { Kysely } from 'kysely';
import { type JsonColumns, type Param, type Tables, prepareQuery } from '../database/typed-sql.js';
import type { ProcessingRequest } from './processing-request.entity.js';

/*
 * The prepared statements of RequestRepository (request.repository.ts), which
 * owns them, and the table type they and the repository's other statements use.
 */

/** The processing_request table as typed SQL sees it (options: see JsonColumns). */
export type RequestTables = Tables<typeof ProcessingRequest> & {
  processing_request: JsonColumns<ProcessingRequest, 'options'>;
};

/** The counters, named as RequestCounters names them. */
export const COUNTER_COLUMNS = [
  'product_count as productCount',
  'products_processed as productsProcessed',
  'image_count as imageCount',
  'images_succeeded as imagesSucceeded',
  'images_failed as imagesFailed',
  'images_cancelled as imagesCancelled',
  'images_revalidated as imagesRevalidated',
  'images_reused as imagesReused',
] as const;

/**
 * A request by id, prepared, for the callers that need the entity (cancel,
 * retry, export, products, webhook deliveries; a status GET reads STATUS_OF
 * below): the ORM's findOne built and planned the query each time. Its
 * columns are named, not `*` (STATUS_OF's too): a column added by a newer
 * version's migration would make PostgreSQL refuse a prepared `SELECT *` on
 * the connections of processes still running the old one ("cached plan must
 * not change result type"). request-progress.spec.ts checks that the list
 * holds every column of the entity.
 */
export const FIND_BY_ID = prepareQuery(
  'processing_request.find_by_id',
  (db: Kysely<RequestTables>, param: Param<{ requestId: string }>) =>
    db
      .selectFrom('processing_request')
      .select([
        'id',
        'status',
        'tenant',
        'original_filename',
        'webhook_url',
        'public_token',
        'idempotency_key',
        'upload_fingerprint',
        'webhook_events',
        'options',
        'columns',
        'csv_delimiter',
        'product_count',
        'products_processed',
        'image_count',
        'images_succeeded',
        'images_failed',
        'images_cancelled',
        'images_revalidated',
        'images_reused',
        'retry_round',
        'created_at',
        'started_at',
        'completed_at',
        'deployment',
        'dispatched_at',
      ])
      .where('id', '=', param('requestId')),
);

/**
 * What a request's status shows of it (RequestStatusRow), prepared and named
 * as the entity names it: the status GET builds its answer from the row. The
 * ORM's mapping of a whole entity (an EntityManager fork, hydration, the
 * identity map) was about a sixth of the API's CPU per status GET (bench,
 * status section).
 */
export const STATUS_OF = prepareQuery(
  'processing_request.status_of',
  (db: Kysely<RequestTables>, param: Param<{ requestId: string }>) =>
    db
      .selectFrom('processing_request')
      .select([
        'id',
        'status',
        'original_filename as originalFilename',
        'webhook_url as webhookUrl',
        'webhook_events as webhookEvents',
        'options',
        ...COUNTER_COLUMNS,
        'retry_round as retryRound',
        'created_at as createdAt',
        'started_at as startedAt',
        'completed_at as completedAt',
      ])
      .where('id', '=', param('requestId')),
);

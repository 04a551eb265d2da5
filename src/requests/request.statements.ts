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

/**
 * A request by id, prepared: every status GET reads it (bench, status
 * section), and the ORM's findOne built and planned the query each time.
 * Its columns are named, not `*`: a column added by a newer version's
 * migration would make PostgreSQL refuse a prepared `SELECT *` on the
 * connections of processes still running the old one ("cached plan must
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

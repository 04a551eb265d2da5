import type { EntityManager } from '@mikro-orm/postgresql';
import { type Kysely, type QueryCreator, type RawBuilder, sql } from 'kysely';
import { type Param, type Tables, prepareQuery, typedSql } from '../database/typed-sql.js';
import type { ProcessingRequest } from '../requests/processing-request.entity.js';
import { type RequestTables, allImagesRecorded } from '../requests/request.repository.js';
import { RequestStatus } from '../requests/request-status.js';
import { ImageObtained } from './image-obtained.js';
import { ImageStatus, OPEN_IMAGE_STATUSES } from './image-status.js';
import type { Image } from './image.entity.js';
import type { Product } from './product.entity.js';

/*
 * The typed statements of ImageWorkRepository (image-work.repository.ts),
 * which owns them: the chunk's prepared statements and the pieces the
 * repository's other statements share.
 */

type WorkEntities = typeof Image | typeof Product | typeof ProcessingRequest;
type WorkTables = Tables<WorkEntities> & RequestTables;
type ImageColumns = WorkTables['image'];

export function sqlOf(em: EntityManager) {
  return typedSql<WorkEntities, RequestTables>(em);
}

/**
 * The statuses in these statements are literals (sql.lit of the enum), not
 * parameters: the statements below are prepared, and a generic plan can use
 * the partial indexes on image status (and plan the status filters) only
 * when it sees the value.
 */
export const PENDING = sql.lit(ImageStatus.Pending);
const PROCESSING = sql.lit(ImageStatus.Processing);
export const OPEN = OPEN_IMAGE_STATUSES.map((status) => sql.lit(status));

/**
 * Statements that lock several image (or product) rows lock them in id
 * order, so that two of them (a chunk's outcomes, a heartbeat, a cancel)
 * cannot each hold a row the other waits for: `SELECT id … ORDER BY id FOR
 * UPDATE`, as image_locks and product_locks below.
 *
 * `lockedFirst(cte)` is a condition that makes an UPDATE take the locks of
 * `cte` (a SELECT … ORDER BY id FOR UPDATE) before its own scan: an
 * uncorrelated subquery runs once, as an InitPlan, before the rows it filters
 * are read.
 */
function lockedFirst(cte: 'image_locks' | 'product_locks'): RawBuilder<boolean> {
  return sql<boolean>`(SELECT count(*) FROM ${sql.table(cte)}) >= 0`;
}

/** An image whose outcome (or cancel) a statement has just written: the CTE `ended`. */
interface EndedImage {
  product_id: string;
}

/**
 * Adds the CTEs `product_locks` and `product_done` that count the images of
 * the CTE `ended` (one row per image, with its product_id) on their
 * products, the products locked in id order; product_done returns whether
 * each product is now fully processed. The one spelling for an outcome and
 * for a cancel.
 */
export function countedOnProducts<DB extends WorkTables & { ended: EndedImage }>(
  db: QueryCreator<DB>,
): QueryCreator<DB & { product_locks: { id: string }; product_done: { done: boolean } }> {
  // Typed on the tables it reads; the caller's other CTEs pass through.
  const q = db as unknown as QueryCreator<WorkTables & { ended: EndedImage }>;
  return q
    .with('product_locks', (db) =>
      db
        .selectFrom('product')
        .select('id')
        .where('id', 'in', db.selectFrom('ended').select('ended.product_id'))
        .orderBy('id')
        .forUpdate(),
    )
    .with('product_done', (db) =>
      db
        .updateTable('product as p')
        .from(
          db
            .selectFrom('ended')
            .select((eb) => ['ended.product_id', eb.cast<number>(eb.fn.countAll(), 'integer').as('n')])
            .groupBy('ended.product_id')
            .as('c'),
        )
        .set((eb) => ({
          images_done: eb('p.images_done', '+', eb.ref('c.n')),
          processed: eb(eb('p.images_done', '+', eb.ref('c.n')), '>=', eb.ref('p.image_count')).$castTo<boolean>(),
        }))
        .whereRef('p.id', '=', 'c.product_id')
        .where(lockedFirst('product_locks'))
        .returning('p.processed as done'),
    ) as unknown as QueryCreator<DB & { product_locks: { id: string }; product_done: { done: boolean } }>;
}

/**
 * The statements a chunk runs, prepared (see PreparedStatements): its claim,
 * the heartbeat, and its outcomes in batches. Compiled once from typed
 * queries (prepareQuery).
 */
export const CLAIM_CHUNK = prepareQuery(
  'image.claim_chunk',
  (db: Kysely<WorkTables>, param: Param<{ leaseMs: number; chunkId: string }>) =>
    db
      .with('claimed', (db) =>
        db
          .updateTable('image')
          // Every image's attempt is counted here, as the chunk starts, not as each
          // image starts: a statement per image was the largest share of PostgreSQL's
          // CPU per image. What a chunk did not start is given back: by its worker
          // when it hands images back, by the dispatcher when the worker died
          // (ImageDispatchRepository.expiredImages).
          .set((eb) => ({
            status: PROCESSING,
            lease_until: sql<string>`now() + ${param('leaseMs')}::int * interval '1 millisecond'`,
            attempts: eb('attempts', '+', 1),
          }))
          .where('id', 'in', (eb) =>
            eb
              .selectFrom('image')
              .select('id')
              .where('chunk_id', '=', sql<string>`${param('chunkId')}::uuid`)
              .where('status', '=', PENDING)
              .orderBy('id')
              .forUpdate(),
          )
          .returning(['id', 'request_id', 'input_url', 'file_name', 'attempts', 'waiting_since']),
      )
      .with('started', (db) =>
        db
          .updateTable('processing_request as r')
          .set({ status: sql.lit(RequestStatus.Processing), started_at: sql<string>`now()` })
          .where('r.id', '=', (eb) => eb.selectFrom('claimed').select('claimed.request_id').limit(1))
          .where('r.status', '=', sql.lit(RequestStatus.Pending)),
      )
      .selectFrom('claimed as c')
      .innerJoin('processing_request as r', 'r.id', 'c.request_id')
      .select([
        'c.id as imageId',
        'c.request_id as requestId',
        'c.input_url as inputUrl',
        'c.file_name as fileName',
        'c.attempts as attempt',
        'c.waiting_since as waitingSince',
        'r.options',
        'r.public_token as publicToken',
        'r.tenant',
      ])
      .orderBy('c.id'),
);

export const EXTEND_LEASE = prepareQuery(
  'image.extend_lease',
  (db: Kysely<WorkTables>, param: Param<{ leaseMs: number; chunkId: string }>) =>
    db
      .updateTable('image')
      .set({ lease_until: sql<string>`now() + ${param('leaseMs')}::int * interval '1 millisecond'` })
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('image')
          .select('id')
          .where('chunk_id', '=', sql<string>`${param('chunkId')}::uuid`)
          .where('status', 'in', OPEN)
          .orderBy('id')
          .forUpdate(),
      ),
);

/** recordWork's batch, one array per column, aligned: unnest makes them the rows of `x`. */
export interface WorkColumns {
  ids: string[];
  statuses: ImageStatus[];
  outputKeys: (string | null)[];
  obtained: (ImageObtained | null)[];
  formats: (string | null)[];
  bytesIn: (number | null)[];
  bytesOut: (number | null)[];
  widths: (number | null)[];
  heights: (number | null)[];
  errorCodes: (string | null)[];
  errorMessages: (string | null)[];
  errorTransient: (boolean | null)[];
  delayMs: (number | null)[];
  notItsFault: (boolean | null)[];
  givenBack: (boolean | null)[];
  chunkId: string;
  requestId: string;
}

/** A row of `x`: an image's outcome in the image table's columns, or its requeue. */
type WorkRow = Pick<
  ImageColumns,
  | 'id'
  | 'status'
  | 'output_key'
  | 'obtained'
  | 'format'
  | 'bytes_in'
  | 'bytes_out'
  | 'width'
  | 'height'
  | 'error_code'
  | 'error_message'
  | 'error_transient'
> & { delay_ms: number | null; not_its_fault: boolean | null; given_back: boolean | null };

export const RECORD_WORK = prepareQuery('image.record_work', (db: Kysely<WorkTables>, param: Param<WorkColumns>) => {
  const chunk = sql<string>`${param('chunkId')}::uuid`;
  return countedOnProducts(
    db
      .with('x', (db) =>
        db
          .selectFrom(
            sql<WorkRow>`unnest(${param('ids')}::uuid[], ${param('statuses')}::image_status[], ${param('outputKeys')}::text[],
              ${param('obtained')}::image_obtained[], ${param('formats')}::text[], ${param('bytesIn')}::int[], ${param('bytesOut')}::int[], ${param('widths')}::int[],
              ${param('heights')}::int[], ${param('errorCodes')}::text[], ${param('errorMessages')}::text[],
              ${param('errorTransient')}::boolean[], ${param('delayMs')}::int[], ${param('notItsFault')}::boolean[],
              ${param('givenBack')}::boolean[])`.as<'x'>(
              sql`x(id, status, output_key, obtained, format, bytes_in, bytes_out, width, height, error_code, error_message,
                    error_transient, delay_ms, not_its_fault, given_back)`,
            ),
          )
          .selectAll(),
      )
      .with('image_locks', (db) =>
        db
          .selectFrom('image')
          .select('id')
          .where('id', 'in', db.selectFrom('x').select('x.id'))
          .orderBy('id')
          .forUpdate(),
      )
      .with('finished', (db) =>
        db
          .updateTable('image as i')
          .from('x')
          .set((eb) => ({
            status: eb.ref('x.status'),
            output_key: eb.ref('x.output_key'),
            obtained: eb.ref('x.obtained'),
            format: eb.ref('x.format'),
            bytes_in: eb.ref('x.bytes_in'),
            bytes_out: eb.ref('x.bytes_out'),
            width: eb.ref('x.width'),
            height: eb.ref('x.height'),
            error_code: eb.ref('x.error_code'),
            error_message: eb.ref('x.error_message'),
            error_transient: eb.ref('x.error_transient'),
            completed_at: sql<string>`now()`,
            chunk_id: null,
            lease_until: null,
            not_before: null,
            waiting_since: null,
          }))
          .whereRef('i.id', '=', 'x.id')
          .where('x.status', '<>', PENDING)
          .where('i.chunk_id', '=', chunk)
          .where('i.status', '=', PROCESSING)
          .where(lockedFirst('image_locks'))
          .returning([
            'i.id',
            'i.product_id',
            'i.status',
            'i.output_key',
            'i.obtained',
            'i.format',
            'i.bytes_in',
            'i.bytes_out',
            'i.width',
            'i.height',
            'i.error_code',
            'i.error_message',
            'i.error_transient',
            'i.attempts',
            'i.completed_at',
          ]),
      )
      .with('requeued', (db) =>
        db
          .updateTable('image as i')
          .from('x')
          .set((eb) => ({
            status: PENDING,
            chunk_id: null,
            lease_until: null,
            not_before: sql<string>`now() + ${eb.ref('x.delay_ms')} * interval '1 millisecond'`,
            attempts: sql<number>`${eb.ref('i.attempts')} - CASE WHEN ${eb.ref('x.given_back')} THEN 1 ELSE 0 END`,
            waiting_since: sql<
              string | null
            >`CASE WHEN ${eb.ref('x.not_its_fault')} THEN coalesce(${eb.ref('i.waiting_since')}, now()) END`,
          }))
          .whereRef('i.id', '=', 'x.id')
          .where('x.status', '=', PENDING)
          .where('i.chunk_id', '=', chunk)
          .where('i.status', '=', PROCESSING)
          .where(lockedFirst('image_locks')),
      )
      .with('copies', (db) =>
        db
          .updateTable('image as d')
          .from('finished as f')
          .set((eb) => ({
            status: eb.ref('f.status'),
            output_key: eb.ref('f.output_key'),
            obtained: eb.ref('f.obtained'),
            format: eb.ref('f.format'),
            bytes_in: eb.ref('f.bytes_in'),
            bytes_out: eb.ref('f.bytes_out'),
            width: eb.ref('f.width'),
            height: eb.ref('f.height'),
            error_code: eb.ref('f.error_code'),
            error_message: eb.ref('f.error_message'),
            error_transient: eb.ref('f.error_transient'),
            attempts: eb.ref('f.attempts'),
            completed_at: eb.ref('f.completed_at'),
          }))
          .whereRef('d.source_image_id', '=', 'f.id')
          .where('d.status', 'in', OPEN)
          .returning(['d.product_id', 'd.status', 'd.obtained']),
      )
      .with('ended', (db) =>
        db
          .selectFrom('finished')
          .select(['finished.product_id', 'finished.status', 'finished.obtained'])
          .unionAll(db.selectFrom('copies').select(['copies.product_id', 'copies.status', 'copies.obtained'])),
      ),
  )
    .with('request_done', (db) =>
      db
        .updateTable('processing_request as r')
        .from(
          db
            .selectFrom('ended')
            .select((eb) => [
              sql<number>`count(*) FILTER (WHERE ${eb.ref('ended.status')} = ${sql.lit(ImageStatus.Succeeded)})::int`.as(
                'succeeded',
              ),
              sql<number>`count(*) FILTER (WHERE ${eb.ref('ended.status')} = ${sql.lit(ImageStatus.Failed)})::int`.as(
                'failed',
              ),
              sql<number>`count(*) FILTER (WHERE ${eb.ref('ended.obtained')} = ${sql.lit(ImageObtained.Revalidated)})::int`.as(
                'revalidated',
              ),
              sql<number>`count(*) FILTER (WHERE ${eb.ref('ended.obtained')} = ${sql.lit(ImageObtained.Reused)})::int`.as(
                'reused',
              ),
            ])
            .as('c'),
        )
        .set((eb) => ({
          images_succeeded: eb('r.images_succeeded', '+', eb.ref('c.succeeded')),
          images_failed: eb('r.images_failed', '+', eb.ref('c.failed')),
          images_revalidated: eb('r.images_revalidated', '+', eb.ref('c.revalidated')),
          images_reused: eb('r.images_reused', '+', eb.ref('c.reused')),
          products_processed: eb(
            'r.products_processed',
            '+',
            eb
              .selectFrom('product_done')
              .select((eb) => eb.cast<number>(eb.fn.countAll(), 'integer').as('n'))
              .where('product_done.done', '=', true),
          ),
        }))
        .where('r.id', '=', sql<string>`${param('requestId')}::uuid`)
        .where((eb) => eb(eb('c.succeeded', '+', eb.ref('c.failed')), '>', 0))
        .returning([allImagesRecorded('r').as('done'), 'r.retry_round']),
    )
    .selectNoFrom((eb) => [
      eb.fn
        .coalesce(
          eb.selectFrom('finished').select((eb) => sql<string[]>`array_agg(${eb.ref('finished.id')}::text)`.as('ids')),
          sql<string[]>`'{}'`,
        )
        .as('counted'),
      eb.selectFrom('request_done').select('request_done.done').as('requestDone'),
      eb.selectFrom('request_done').select('request_done.retry_round').as('round'),
    ]);
});

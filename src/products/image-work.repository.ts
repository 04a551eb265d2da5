import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { type PreparedStatement, PreparedStatements } from '../database/prepared-statements.js';
import type { ProcessingOptions } from '../requests/processing-request.entity.js';
import type { ReopenedCounts } from '../requests/request.repository.js';
import { RequestStatus } from '../requests/request-status.js';
import type { RequestFolder } from '../storage/storage-keys.js';
import { type CancelledImages, RequestImageTransitions } from '../requests/request-image-transitions.js';
import { ImageStatus } from './image-status.js';

/** One image of a claimed chunk, as its worker needs it. */
export interface ClaimedImage {
  imageId: string;
  inputUrl: string;
  /** What the output key ends in; null for images uploaded before names existed. */
  fileName: string | null;
}

export interface ClaimedChunk {
  requestId: string;
  /** Where the request's outputs go. */
  folder: RequestFolder;
  options: ProcessingOptions;
  images: ClaimedImage[];
}

/** An image its worker has just started: the attempt is counted. */
export interface StartedImage {
  /** This attempt's number, 1-based. */
  attempt: number;
  /** When the image first found the store down, while it waits for it; null otherwise. */
  waitingSince: Date | null;
}

export type ImageOutcome =
  | {
      status: ImageStatus.Succeeded;
      outputKey: string;
      format: string;
      bytesIn: number;
      bytesOut: number;
      width: number;
      height: number;
    }
  | {
      status: ImageStatus.Failed;
      errorCode: string;
      errorMessage: string;
      /** As the retry policy judged it; `retry?only=transient` reopens only these. Unknown: not transient. */
      transient?: boolean;
    };

/** The image goes back to wait for another attempt. */
export interface Requeue {
  delayMs: number;
  /** The store was down: the attempt is given back, and the outage's start kept for the next wait. */
  notItsFault: boolean;
}

/** What a chunk's worker found for one image: an outcome, or another try later. */
export type ImageWork = { imageId: string } & ({ outcome: ImageOutcome } | { requeue: Requeue });

export interface RecordedWork {
  /** The images whose outcome counted: still this chunk's and open when it was written. */
  counted: string[];
  /** Every image of the request now has an outcome; `round` is the request's retry round. */
  requestDone: boolean;
  round: number;
}

/** An image still waiting for, or getting, its outcome. */
export const OPEN_IMAGE_STATUSES: readonly ImageStatus[] = [ImageStatus.Pending, ImageStatus.Processing];
export const OPEN_IMAGE_STATES = `('${ImageStatus.Pending}', '${ImageStatus.Processing}')`;
/**
 * Statements that lock several image (or product) rows lock them in id
 * order, so that two of them (a chunk's outcomes, a heartbeat, a cancel)
 * cannot each hold a row the other waits for. The ids, locked in order:
 */
const IN_ID_ORDER = (where: string) => `SELECT id FROM image WHERE ${where} ORDER BY id FOR UPDATE`;
/**
 * A condition that makes an UPDATE take the locks of `cte` (a SELECT … ORDER
 * BY id FOR UPDATE) before its own scan: an uncorrelated subquery runs once,
 * as an InitPlan, before the rows it filters are read.
 */
const LOCKED_FIRST = (cte: string) => `(SELECT count(*) FROM ${cte}) >= 0`;
/**
 * The CTEs `product_locks` and `product_done` that count the images of the
 * CTE `ended` (one row per image, with its product_id) on their products, the
 * products locked in id order; product_done returns whether each product is
 * now fully processed. The one spelling for an outcome and for a cancel.
 */
const COUNTED_ON_PRODUCTS = (ended: string) => `product_locks AS (
         SELECT id FROM product WHERE id IN (SELECT product_id FROM ${ended}) ORDER BY id FOR UPDATE
       ), product_done AS (
         UPDATE product p SET images_done = p.images_done + c.n, processed = (p.images_done + c.n >= p.image_count)
           FROM (SELECT product_id, count(*)::int AS n FROM ${ended} GROUP BY product_id) c
          WHERE p.id = c.product_id AND ${LOCKED_FIRST('product_locks')}
         RETURNING p.processed AS done
       )`;
/**
 * The statements a chunk runs for each image or batch, prepared (see
 * PreparedStatements): a chunk's claim, each image's start, the heartbeat,
 * and its outcomes.
 */
const CLAIM_CHUNK: PreparedStatement = {
  name: 'image.claim_chunk',
  text: `WITH claimed AS (
         UPDATE image SET status = '${ImageStatus.Processing}', lease_until = now() + $1::int * interval '1 millisecond'
          WHERE id IN (${IN_ID_ORDER(`chunk_id = $2 AND status = '${ImageStatus.Pending}'`)})
        RETURNING id, request_id, input_url, file_name
       ), started AS (
         UPDATE processing_request r SET status = '${RequestStatus.Processing}', started_at = now()
          WHERE r.id = (SELECT request_id FROM claimed LIMIT 1) AND r.status = '${RequestStatus.Pending}'
       )
       SELECT c.id, c.request_id, c.input_url, c.file_name, r.options, r.public_token
         FROM claimed c JOIN processing_request r ON r.id = c.request_id
        ORDER BY c.id`,
};

const START_IMAGE: PreparedStatement = {
  name: 'image.start',
  text: `UPDATE image SET attempts = attempts + 1
          WHERE id = $1 AND chunk_id = $2 AND status = '${ImageStatus.Processing}'
         RETURNING attempts, waiting_since`,
};

const EXTEND_LEASE: PreparedStatement = {
  name: 'image.extend_lease',
  text: `UPDATE image SET lease_until = now() + $1::int * interval '1 millisecond'
          WHERE id IN (${IN_ID_ORDER(`chunk_id = $2 AND status IN ${OPEN_IMAGE_STATES}`)})`,
};

/** $1: the batch as a JSON array of rows (recordWork), $2: the chunk, $3: the request. */
const RECORD_WORK: PreparedStatement = {
  name: 'image.record_work',
  text: `WITH x AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb)
            AS x(id uuid, status image_status, output_key text, format text, bytes_in int, bytes_out int, width int,
                 height int, error_code text, error_message text, error_transient boolean, delay_ms int,
                 not_its_fault boolean)
       ), image_locks AS (
         ${IN_ID_ORDER('id IN (SELECT id FROM x)')}
       ), finished AS (
         UPDATE image i
            SET status = x.status, output_key = x.output_key, format = x.format, bytes_in = x.bytes_in,
                bytes_out = x.bytes_out, width = x.width, height = x.height, error_code = x.error_code,
                error_message = x.error_message, error_transient = x.error_transient, completed_at = now(),
                chunk_id = NULL, lease_until = NULL, not_before = NULL, waiting_since = NULL
           FROM x
          WHERE i.id = x.id AND x.status <> '${ImageStatus.Pending}'
            AND i.chunk_id = $2 AND i.status = '${ImageStatus.Processing}' AND ${LOCKED_FIRST('image_locks')}
        RETURNING i.id, i.product_id, i.status, i.output_key, i.format, i.bytes_in, i.bytes_out, i.width, i.height,
                  i.error_code, i.error_message, i.error_transient, i.attempts, i.completed_at
       ), requeued AS (
         UPDATE image i
            SET status = '${ImageStatus.Pending}', chunk_id = NULL, lease_until = NULL,
                not_before = now() + x.delay_ms * interval '1 millisecond',
                attempts = i.attempts - CASE WHEN x.not_its_fault THEN 1 ELSE 0 END,
                waiting_since = CASE WHEN x.not_its_fault THEN coalesce(i.waiting_since, now()) END
           FROM x
          WHERE i.id = x.id AND x.status = '${ImageStatus.Pending}'
            AND i.chunk_id = $2 AND i.status = '${ImageStatus.Processing}' AND ${LOCKED_FIRST('image_locks')}
       ), copies AS (
         UPDATE image d
            SET status = f.status, output_key = f.output_key, format = f.format, bytes_in = f.bytes_in,
                bytes_out = f.bytes_out, width = f.width, height = f.height, error_code = f.error_code,
                error_message = f.error_message, error_transient = f.error_transient, attempts = f.attempts,
                completed_at = f.completed_at
           FROM finished f
          WHERE d.source_image_id = f.id AND d.status IN ${OPEN_IMAGE_STATES}
        RETURNING d.product_id, d.status
       ), done AS (
         SELECT product_id, status FROM finished UNION ALL SELECT product_id, status FROM copies
       ), ${COUNTED_ON_PRODUCTS('done')}, request_done AS (
         UPDATE processing_request r
            SET images_succeeded = r.images_succeeded + c.succeeded,
                images_failed = r.images_failed + c.failed,
                products_processed = r.products_processed + (SELECT count(*)::int FROM product_done WHERE done)
           FROM (SELECT count(*) FILTER (WHERE status = '${ImageStatus.Succeeded}')::int AS succeeded,
                        count(*) FILTER (WHERE status = '${ImageStatus.Failed}')::int AS failed
                   FROM done) c
          WHERE r.id = $3 AND c.succeeded + c.failed > 0
         RETURNING (r.images_succeeded + r.images_failed + r.images_cancelled >= r.image_count) AS done, r.retry_round
       )
       SELECT COALESCE((SELECT array_agg(id::text) FROM finished), '{}') AS counted,
              (SELECT done FROM request_done) AS request_done,
              (SELECT retry_round FROM request_done) AS round`,
};

/**
 * Owner of every change to an image's status. An image is pending until
 * the dispatcher leases it to a chunk job (ImageDispatchRepository sets
 * chunk_id, lease_until); the chunk's worker claims it (processing), counts
 * an attempt when it starts it, and records its outcome or sends it back to
 * wait (not_before). Every outcome is a guarded UPDATE: only the chunk that
 * holds an image, and only while the image is open, moves it to a terminal
 * state, and only that move bumps the product and request counters, so a
 * chunk whose lease ran out, or that BullMQ delivered twice, never counts an
 * image twice.
 *
 * Each transition is a single statement whose data-modifying CTEs run
 * atomically, like one transaction, but in one round trip: on a 2-core
 * machine every round trip wakes PostgreSQL and costs CPU the image encoder
 * could use. The counter UPDATEs read the rows they lock, so concurrent
 * chunks of one request still add up.
 */
@Injectable()
export class ImageWorkRepository implements RequestImageTransitions {
  constructor(private readonly prepared: PreparedStatements) {}

  /** Marks the chunk's images as being worked on, and the request as started; null when none is left to do. */
  async claimChunk(chunkId: string, leaseMs: number): Promise<ClaimedChunk | null> {
    const rows = await this.prepared.rows<{
      id: string;
      request_id: string;
      input_url: string;
      file_name: string | null;
      options: ProcessingOptions;
      public_token: string | null;
    }>(CLAIM_CHUNK, [leaseMs, chunkId]);
    const first = rows[0];
    if (!first) return null;
    return {
      requestId: first.request_id,
      folder: { id: first.request_id, publicToken: first.public_token },
      options: first.options,
      images: rows.map((row) => ({ imageId: row.id, inputUrl: row.input_url, fileName: row.file_name })),
    };
  }

  /**
   * Counts an attempt as the image starts, so that an image that kills its
   * worker runs out of attempts like any other. Null when the image is no
   * longer this chunk's to do: its request was cancelled or deleted meanwhile.
   */
  async startImage(imageId: string, chunkId: string): Promise<StartedImage | null> {
    const [row] = await this.prepared.rows<{ attempts: number; waiting_since: Date | null }>(START_IMAGE, [
      imageId,
      chunkId,
    ]);
    if (!row) return null;
    return {
      attempt: row.attempts,
      waitingSince: row.waiting_since && new Date(row.waiting_since),
    };
  }

  /** The chunk's worker is alive: its images stay its own for another `leaseMs`. */
  async extendLease(chunkId: string, leaseMs: number): Promise<void> {
    await this.prepared.rows(EXTEND_LEASE, [leaseMs, chunkId]);
  }

  /**
   * Writes what a chunk found for several of its images, in one statement:
   * outcomes, with the product and request counters, and images sent back
   * to wait. The images repeating an image's URL (source_image_id) take its
   * outcome in the same statement, counted with it.
   */
  async recordWork(chunkId: string, requestId: string, work: readonly ImageWork[]): Promise<RecordedWork> {
    const rows = work.map((item) =>
      'outcome' in item
        ? { id: item.imageId, ...outcomeColumns(item.outcome) }
        : {
            id: item.imageId,
            status: ImageStatus.Pending,
            delay_ms: item.requeue.delayMs,
            not_its_fault: item.requeue.notItsFault,
          },
    );
    const [result] = await this.prepared.rows<{
      counted: string[];
      request_done: boolean | null;
      round: number | null;
    }>(RECORD_WORK, [JSON.stringify(rows), chunkId, requestId]);
    return {
      counted: result?.counted ?? [],
      requestDone: result?.request_done ?? false,
      round: result?.round ?? 0,
    };
  }

  /**
   * An image being worked on is cancelled too: its chunk's outcome then
   * finds the guard closed and is discarded. Images before products before
   * the request row (the caller's next statement), the order recordWork
   * locks them in, so the two cannot deadlock.
   */
  async cancelOpen(tx: EntityManager, requestId: string): Promise<CancelledImages> {
    const [row] = await tx.execute<{ cancelled: number; products_finished: number; chunk_ids: string[] }[]>(
      `WITH cancelled AS (
         UPDATE image i SET status = '${ImageStatus.Cancelled}', completed_at = now(),
                chunk_id = NULL, lease_until = NULL, not_before = NULL, waiting_since = NULL
           FROM (SELECT id, chunk_id FROM image WHERE request_id = ? AND status IN ${OPEN_IMAGE_STATES}
                  ORDER BY id FOR UPDATE) o
          WHERE i.id = o.id
        RETURNING i.id, i.product_id, o.chunk_id
       ), ${COUNTED_ON_PRODUCTS('cancelled')}
       SELECT (SELECT count(*)::int FROM cancelled) AS cancelled,
              (SELECT count(*)::int FROM product_done WHERE done) AS products_finished,
              COALESCE((SELECT array_agg(DISTINCT chunk_id::text) FROM cancelled WHERE chunk_id IS NOT NULL), '{}')
                AS chunk_ids`,
      [requestId],
    );
    return { cancelled: row.cancelled, productsFinished: row.products_finished, chunkIds: row.chunk_ids };
  }

  async reopenForRetry(tx: EntityManager, requestId: string, onlyTransient: boolean): Promise<ReopenedCounts> {
    const [row] = await tx.execute<{ failed: number; cancelled: number; products_reopened: number }[]>(
      // A repeated URL has its source's status and error, so it is picked with it.
      // The attempts start again: a retry is a fresh set of tries.
      `WITH picked AS (
         SELECT id, product_id, status AS was FROM image
          WHERE request_id = ?
            AND (status = '${ImageStatus.Cancelled}'
                 OR (status = '${ImageStatus.Failed}' AND (NOT ?::boolean OR error_transient)))
          ORDER BY id FOR UPDATE
       ), reopened AS (
         UPDATE image i
            SET status = '${ImageStatus.Pending}', output_key = NULL, format = NULL, bytes_in = NULL, bytes_out = NULL,
                width = NULL, height = NULL, error_code = NULL, error_message = NULL, error_transient = NULL,
                completed_at = NULL, attempts = 0, chunk_id = NULL, lease_until = NULL, not_before = NULL,
                waiting_since = NULL
           FROM picked p WHERE i.id = p.id
         RETURNING i.id
       ), product_open AS (
         UPDATE product p SET images_done = p.images_done - c.n, processed = false
           FROM (SELECT product_id, count(*)::int AS n FROM picked GROUP BY product_id) c
          WHERE p.id = c.product_id
         RETURNING p.images_done + c.n >= p.image_count AS was_done
       )
       SELECT count(*) FILTER (WHERE was = '${ImageStatus.Failed}')::int AS failed,
              count(*) FILTER (WHERE was = '${ImageStatus.Cancelled}')::int AS cancelled,
              (SELECT count(*)::int FROM product_open WHERE was_done) AS products_reopened
         FROM picked`,
      [requestId, onlyTransient],
    );
    return { failed: row.failed, cancelled: row.cancelled, productsReopened: row.products_reopened };
  }
}

function outcomeColumns(outcome: ImageOutcome) {
  if (outcome.status === ImageStatus.Succeeded) {
    return {
      status: outcome.status,
      output_key: outcome.outputKey,
      format: outcome.format,
      bytes_in: outcome.bytesIn,
      bytes_out: outcome.bytesOut,
      width: outcome.width,
      height: outcome.height,
    };
  }
  return {
    status: outcome.status,
    error_code: outcome.errorCode,
    error_message: outcome.errorMessage,
    error_transient: outcome.transient ?? null,
  };
}

import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { PreparedStatements } from '../database/prepared-statements.js';
import type { ProcessingOptions } from '../requests/processing-request.entity.js';
import type { ReopenedCounts } from '../requests/request.repository.js';
import type { RequestFolder } from '../storage/storage-keys.js';
import { type CancelledImages, RequestImageTransitions } from '../requests/request-image-transitions.js';
import type { ImageObtained } from './image-obtained.js';
import { ImageStatus } from './image-status.js';
import {
  CLAIM_CHUNK,
  EXTEND_LEASE,
  OPEN,
  PENDING,
  RECORD_WORK,
  type WorkColumns,
  countedOnProducts,
  sqlOf,
} from './image-work.statements.js';

/** One image of a claimed chunk, as its worker needs it. */
export interface ClaimedImage {
  imageId: string;
  inputUrl: string;
  /** What the output key ends in; null for images uploaded before names existed. */
  fileName: string | null;
  /** This attempt's number, 1-based: the claim counted it. */
  attempt: number;
  /** When the image first found the store down or its host paused, while it waits for it; null otherwise. */
  waitingSince: Date | null;
}

export interface ClaimedChunk {
  requestId: string;
  /** Whose request it is: what a chunk remembers of its URLs is the tenant's (ReuseRepository). */
  tenant: string;
  /** Where the request's outputs go. */
  folder: RequestFolder;
  options: ProcessingOptions;
  images: ClaimedImage[];
}

export type ImageOutcome =
  | {
      status: ImageStatus.Succeeded;
      outputKey: string;
      /** Encoded from a download, or copied from an earlier request's output. */
      obtained: ImageObtained;
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
  /**
   * The store was down or the host paused us: the attempt is given back, and
   * the wait's start kept for the next wait.
   */
  notItsFault: boolean;
  /** The chunk never started the image (its worker stopping, its host paused): the claim's attempt is given back. */
  unstarted?: boolean;
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

/**
 * Owner of every change to an image's status. An image is pending until
 * the dispatcher leases it to a chunk job (ImageDispatchRepository sets
 * chunk_id, lease_until); the chunk's worker claims it (processing), which
 * counts an attempt, and records its outcome or sends it back to wait
 * (not_before), giving the attempt back if it never started the image. Every outcome is a guarded UPDATE: only the chunk that
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

  /**
   * Marks the chunk's images as being worked on, counting an attempt for each,
   * and the request as started; null when none is left to do.
   */
  async claimChunk(chunkId: string, leaseMs: number): Promise<ClaimedChunk | null> {
    const rows = await this.prepared.run(CLAIM_CHUNK, { leaseMs, chunkId });
    const first = rows[0];
    if (!first) return null;
    return {
      requestId: first.requestId,
      tenant: first.tenant,
      folder: { id: first.requestId, publicToken: first.publicToken },
      options: first.options,
      images: rows.map(({ imageId, inputUrl, fileName, attempt, waitingSince }) => ({
        imageId,
        inputUrl,
        fileName,
        attempt,
        waitingSince: waitingSince === null ? null : new Date(waitingSince),
      })),
    };
  }

  /** The chunk's worker is alive: its images stay its own for another `leaseMs`. */
  async extendLease(chunkId: string, leaseMs: number): Promise<void> {
    await this.prepared.run(EXTEND_LEASE, { leaseMs, chunkId });
  }

  /**
   * Writes what a chunk found for several of its images, in one statement:
   * outcomes, with the product and request counters, and images sent back
   * to wait. The images repeating an image's URL (source_image_id) take its
   * outcome in the same statement, counted with it. The batch travels as one
   * array per column (17 parameters, whatever its size), unnested in SQL.
   */
  async recordWork(chunkId: string, requestId: string, work: readonly ImageWork[]): Promise<RecordedWork> {
    const columns: WorkColumns = {
      ids: [],
      statuses: [],
      outputKeys: [],
      obtained: [],
      formats: [],
      bytesIn: [],
      bytesOut: [],
      widths: [],
      heights: [],
      errorCodes: [],
      errorMessages: [],
      errorTransient: [],
      delayMs: [],
      notItsFault: [],
      givenBack: [],
      chunkId,
      requestId,
    };
    for (const item of work) {
      const outcome = 'outcome' in item ? item.outcome : null;
      const succeeded = outcome?.status === ImageStatus.Succeeded ? outcome : null;
      const failed = outcome?.status === ImageStatus.Failed ? outcome : null;
      const requeue = 'requeue' in item ? item.requeue : null;
      columns.ids.push(item.imageId);
      columns.statuses.push(outcome?.status ?? ImageStatus.Pending);
      columns.outputKeys.push(succeeded?.outputKey ?? null);
      columns.obtained.push(succeeded?.obtained ?? null);
      columns.formats.push(succeeded?.format ?? null);
      columns.bytesIn.push(succeeded?.bytesIn ?? null);
      columns.bytesOut.push(succeeded?.bytesOut ?? null);
      columns.widths.push(succeeded?.width ?? null);
      columns.heights.push(succeeded?.height ?? null);
      columns.errorCodes.push(failed?.errorCode ?? null);
      columns.errorMessages.push(failed?.errorMessage ?? null);
      columns.errorTransient.push(failed ? (failed.transient ?? null) : null);
      columns.delayMs.push(requeue?.delayMs ?? null);
      columns.notItsFault.push(requeue?.notItsFault ?? null);
      columns.givenBack.push(requeue ? requeue.notItsFault || requeue.unstarted === true : null);
    }
    const [result] = await this.prepared.run(RECORD_WORK, columns);
    return {
      counted: result?.counted ?? [],
      requestDone: result?.requestDone ?? false,
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
    const row = await countedOnProducts(
      sqlOf(tx).with('ended', (db) =>
        db
          .updateTable('image as i')
          .from(
            db
              .selectFrom('image')
              .select(['id', 'chunk_id'])
              .where('request_id', '=', requestId)
              .where('status', 'in', OPEN)
              .orderBy('id')
              .forUpdate()
              .as('o'),
          )
          .set({
            status: sql.lit(ImageStatus.Cancelled),
            completed_at: sql<string>`now()`,
            chunk_id: null,
            lease_until: null,
            not_before: null,
            waiting_since: null,
          })
          .whereRef('i.id', '=', 'o.id')
          .returning(['i.id', 'i.product_id', 'o.chunk_id']),
      ),
    )
      .selectNoFrom((eb) => [
        eb
          .selectFrom('ended')
          .select((eb) => eb.cast<number>(eb.fn.countAll(), 'integer').as('n'))
          .as('cancelled'),
        eb
          .selectFrom('product_done')
          .select((eb) => eb.cast<number>(eb.fn.countAll(), 'integer').as('n'))
          .where('product_done.done', '=', true)
          .as('productsFinished'),
        eb.fn
          .coalesce(
            eb
              .selectFrom('ended')
              .select((eb) => sql<string[]>`array_agg(DISTINCT ${eb.ref('ended.chunk_id')}::text)`.as('ids'))
              .where('ended.chunk_id', 'is not', null),
            sql<string[]>`'{}'`,
          )
          .as('chunkIds'),
      ])
      .executeTakeFirstOrThrow();
    return { cancelled: row.cancelled ?? 0, productsFinished: row.productsFinished ?? 0, chunkIds: row.chunkIds };
  }

  async reopenForRetry(tx: EntityManager, requestId: string, onlyTransient: boolean): Promise<ReopenedCounts> {
    // A repeated URL has its source's status and error, so it is picked with it.
    // The attempts start again: a retry is a fresh set of tries.
    return sqlOf(tx)
      .with('picked', (db) =>
        db
          .selectFrom('image')
          .select(['id', 'product_id', 'status as was'])
          .where('request_id', '=', requestId)
          .where((eb) =>
            eb.or([
              eb('status', '=', sql.lit(ImageStatus.Cancelled)),
              eb.and([
                eb('status', '=', sql.lit(ImageStatus.Failed)),
                onlyTransient ? eb('error_transient', '=', true) : eb.lit(true),
              ]),
            ]),
          )
          .orderBy('id')
          .forUpdate(),
      )
      .with('reopened', (db) =>
        db
          .updateTable('image as i')
          .from('picked as p')
          .set({
            status: PENDING,
            output_key: null,
            format: null,
            bytes_in: null,
            bytes_out: null,
            width: null,
            height: null,
            error_code: null,
            error_message: null,
            error_transient: null,
            completed_at: null,
            attempts: 0,
            chunk_id: null,
            lease_until: null,
            not_before: null,
            waiting_since: null,
          })
          .whereRef('i.id', '=', 'p.id')
          .returning('i.id'),
      )
      .with('product_open', (db) =>
        db
          .updateTable('product as p')
          .from(
            db
              .selectFrom('picked')
              .select((eb) => ['picked.product_id', eb.cast<number>(eb.fn.countAll(), 'integer').as('n')])
              .groupBy('picked.product_id')
              .as('c'),
          )
          .set((eb) => ({ images_done: eb('p.images_done', '-', eb.ref('c.n')), processed: false }))
          .whereRef('p.id', '=', 'c.product_id')
          .returning((eb) =>
            eb(eb('p.images_done', '+', eb.ref('c.n')), '>=', eb.ref('p.image_count'))
              .$castTo<boolean>()
              .as('was_done'),
          ),
      )
      .selectFrom('picked')
      .select((eb) => [
        sql<number>`count(*) FILTER (WHERE ${eb.ref('picked.was')} = ${sql.lit(ImageStatus.Failed)})::int`.as('failed'),
        sql<number>`count(*) FILTER (WHERE ${eb.ref('picked.was')} = ${sql.lit(ImageStatus.Cancelled)})::int`.as(
          'cancelled',
        ),
        eb
          .selectFrom('product_open')
          .select((eb) => eb.cast<number>(eb.fn.countAll(), 'integer').as('n'))
          .where('product_open.was_done', '=', true)
          .$narrowType<{ n: number }>()
          .as('productsReopened'),
      ])
      .$narrowType<{ productsReopened: number }>()
      .executeTakeFirstOrThrow();
  }
}

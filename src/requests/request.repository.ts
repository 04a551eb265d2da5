import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { type RawBuilder, sql } from 'kysely';
import { PreparedStatements } from '../database/prepared-statements.js';
import { jsonb, tryAdvisoryXactLock, typedSql, withDriverErrors } from '../database/typed-sql.js';
import { COUNTER_COLUMNS, FIND_BY_ID, STATUS_OF, type RequestTables } from './request.statements.js';
import type { ProcessingOptions } from './processing-options.js';
import { ProcessingRequest } from './processing-request.entity.js';
import { RequestStatus, TERMINAL_REQUEST_STATUSES } from './request-status.js';
import { newPublicToken, type RequestFolder } from '../storage/storage-keys.js';
import type { RequestCounters } from './request-counts.js';

export type { RequestTables } from './request.statements.js';
type RequestColumn = keyof RequestTables['processing_request'];

/** Where a page of the request list starts: after this row, newest first (request-list.query.ts). */
export interface ListPosition {
  createdAt: string;
  id: string;
}

/** The list's filters: statuses and a creation window. */
export interface ListFilters {
  status?: readonly RequestStatus[];
  createdAfter?: Date;
  createdBefore?: Date;
}

/** A request still being worked on. */
export const OPEN_REQUEST_STATUSES: readonly RequestStatus[] = [RequestStatus.Pending, RequestStatus.Processing];

/** `alias.column` of a processing_request row, the column name checked against the entity. */
export function requestColumn(alias: string, column: RequestColumn): RawBuilder<unknown> {
  return sql.ref(`${alias}.${column}`);
}

/**
 * The one spelling of "every image of the request has an outcome", for SQL
 * on the processing_request row aliased `alias`. The counters are the only
 * source of that fact: they are bumped by the same guarded statement that
 * records an image's outcome, so they never disagree with the image rows.
 */
export function allImagesRecorded(alias: string): RawBuilder<boolean> {
  return sql<boolean>`(${imagesWithoutOutcome(alias)} <= 0)`;
}

/** How many of the request's images have no outcome yet, from the same counters, for SQL on the row aliased `alias`. */
export function imagesWithoutOutcome(alias: string): RawBuilder<number> {
  const column = (name: RequestColumn) => requestColumn(alias, name);
  return sql<number>`(${column('image_count')} - ${column('images_succeeded')} - ${column('images_failed')} - ${column('images_cancelled')})`;
}

/** What the upload knows only once the whole body has been read. */
export interface DraftDetails {
  webhookUrl: string | null;
  webhookEvents: readonly string[] | null;
  options: ProcessingOptions;
  productCount: number;
  imageCount: number;
  idempotencyKey: string | null;
  uploadFingerprint: string;
  /** The caller's tenant (API_KEYS name), which alone sees the request afterwards. */
  tenant: string;
  /** Whose dispatcher feeds the images to workers (AppConfig.deployment). */
  deployment: string;
}

/** The request row as the finalizer sees it, locked. */
export interface LockedRequest {
  status: RequestStatus;
  imagesSucceeded: number;
  imagesFailed: number;
  allRecorded: boolean;
}

/** A request just made terminal: what its webhook event reports. */
export interface TerminalRequest extends RequestCounters {
  id: string;
  status: RequestStatus;
  webhookUrl: string | null;
  webhookEvents: string[] | null;
  retryRound: number;
  createdAt: Date;
  completedAt: Date;
}

/** What a request's status shows of it: the entity has every one of these, so either can be shown. */
export type RequestStatusRow = Pick<
  ProcessingRequest,
  | 'id'
  | 'status'
  | 'originalFilename'
  | 'webhookUrl'
  | 'webhookEvents'
  | 'options'
  | keyof RequestCounters
  | 'retryRound'
  | 'createdAt'
  | 'startedAt'
  | 'completedAt'
>;

/** A request's counters as its event stream reports them. */
export interface RequestProgressRow extends RequestCounters {
  id: string;
  status: RequestStatus;
  retryRound: number;
  startedAt: Date | null;
  completedAt: Date | null;
}

/** What a retry took back from the counters (see RequestImageTransitions.reopenForRetry). */
export interface ReopenedCounts {
  failed: number;
  cancelled: number;
  productsReopened: number;
}

/** What a terminal transition returns, named as TerminalRequest names it. */
const TERMINAL_RETURNING = [
  'status',
  'webhook_url as webhookUrl',
  'webhook_events as webhookEvents',
  ...COUNTER_COLUMNS,
  'retry_round as retryRound',
  'created_at as createdAt',
  'completed_at as completedAt',
] as const;

/** Hashed with the deployment into the advisory lock key that one sweep at a time holds. */
export const SWEEP_LOCK_NAME = 'pixbatch:stuck-work-sweep:';
/** Hashed into the advisory lock key that one retention pass at a time holds. */
export const RETENTION_LOCK_NAME = 'pixbatch:retention-sweep';

/**
 * Owner of the processing_request table. Statements that take part in a
 * caller's transaction (the upload, finalize, the sweep) take its
 * EntityManager; the others run on a fork of their own.
 */
@Injectable()
export class RequestRepository {
  constructor(
    private readonly em: EntityManager,
    private readonly prepared: PreparedStatements,
  ) {}

  /** Read-only: the entity belongs to no context a caller could flush. */
  async findById(requestId: string): Promise<ProcessingRequest | null> {
    const [row] = await this.prepared.run(FIND_BY_ID, { requestId });
    return row ? this.em.fork().map(ProcessingRequest, row) : null;
  }

  /** What a status shows of a request, as a plain row (no entity), or null. */
  async statusOf(requestId: string): Promise<RequestStatusRow | null> {
    const [row] = await this.prepared.run(STATUS_OF, { requestId });
    if (!row) return null;
    return {
      ...row,
      createdAt: new Date(row.createdAt),
      startedAt: date(row.startedAt),
      completedAt: date(row.completedAt),
    };
  }

  /**
   * A page of the request list, newest first, keyset-paginated on (created_at, id)
   * so a page costs the same however deep it is, read from the (tenant,
   * created_at, id) index (or (created_at, id) on an open service). The cursor
   * keeps created_at as PostgreSQL's text, whose microseconds a JS Date would drop.
   */
  async listPage(
    tenant: string | null,
    filters: ListFilters,
    after: ListPosition | null,
    limit: number,
  ): Promise<{ request: ProcessingRequest; cursorCreatedAt: string }[]> {
    const em = this.em.fork();
    const rows = await listed(sqlOf(em), tenant, filters)
      .selectAll()
      .select((eb) => sql<string>`${eb.ref('created_at')}::text`.as('cursor_created_at'))
      .$if(!!after, (qb) =>
        qb.where(
          (eb) =>
            sql<boolean>`(${eb.ref('created_at')}, ${eb.ref('id')}) < (${after!.createdAt}::timestamptz, ${after!.id}::uuid)`,
        ),
      )
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(({ cursor_created_at: cursorCreatedAt, ...row }) => ({
      request: em.map(ProcessingRequest, row),
      cursorCreatedAt,
    }));
  }

  /** How many requests the list holds with these filters, over every page. */
  async countMatching(tenant: string | null, filters: ListFilters): Promise<number> {
    const row = await listed(sqlOf(this.em.fork()), tenant, filters)
      .select((eb) => eb.cast<number>(eb.fn.countAll(), 'integer').as('n'))
      .executeTakeFirstOrThrow();
    return row.n;
  }

  /** The tenant a request belongs to, or null when there is no such request. */
  async ownerOf(requestId: string): Promise<string | null> {
    const row = await sqlOf(this.em.fork())
      .selectFrom('processing_request')
      .select('tenant')
      .where('id', '=', requestId)
      .executeTakeFirst();
    return row?.tenant ?? null;
  }

  findByIdempotencyKey(scopedKey: string): Promise<ProcessingRequest | null> {
    return this.em.fork().findOne(ProcessingRequest, { idempotencyKey: scopedKey });
  }

  /** The request row an upload opens its transaction with; the details follow in `completeDraft`. */
  async insertDraft(
    tx: EntityManager,
    requestId: string,
    originalFilename: string,
    columns: string[],
    csvDelimiter: string,
  ): Promise<void> {
    const draft = new ProcessingRequest();
    await sqlOf(tx)
      .insertInto('processing_request')
      .values({
        id: requestId,
        status: RequestStatus.Pending,
        tenant: draft.tenant,
        public_token: newPublicToken(),
        original_filename: originalFilename,
        options: sql<ProcessingOptions>`'{}'::jsonb`,
        columns: jsonb(columns),
        csv_delimiter: csvDelimiter,
        product_count: 0,
        products_processed: 0,
        image_count: 0,
        images_succeeded: 0,
        images_failed: 0,
        images_cancelled: 0,
        images_revalidated: 0,
        images_reused: 0,
        retry_round: 0,
        created_at: sql<Date>`now()`,
      })
      .execute();
  }

  async completeDraft(tx: EntityManager, requestId: string, details: DraftDetails): Promise<void> {
    // A retry with the same idempotency key that committed first: UniqueConstraintViolationException.
    await withDriverErrors(tx, () =>
      sqlOf(tx)
        .updateTable('processing_request')
        .set({
          webhook_url: details.webhookUrl,
          webhook_events: details.webhookEvents && jsonb([...details.webhookEvents]),
          options: jsonb(details.options),
          product_count: details.productCount,
          image_count: details.imageCount,
          idempotency_key: details.idempotencyKey,
          upload_fingerprint: details.uploadFingerprint,
          tenant: details.tenant,
          deployment: details.deployment,
        })
        .where('id', '=', requestId)
        .execute(),
    );
  }

  /** Deletes the request; its products and images go with it (foreign key cascade). */
  async delete(requestId: string): Promise<void> {
    await sqlOf(this.em.fork()).deleteFrom('processing_request').where('id', '=', requestId).execute();
  }

  /** The request's status, its row locked for the rest of `tx` (a retry holds it while it reopens images). */
  async lockStatus(tx: EntityManager, requestId: string): Promise<RequestStatus | null> {
    const row = await sqlOf(tx)
      .selectFrom('processing_request')
      .select('status')
      .where('id', '=', requestId)
      .forUpdate()
      .executeTakeFirst();
    return row?.status ?? null;
  }

  /** The request's status and its folder of outputs, its row locked for the rest of `tx`. */
  async lockForDeletion(
    tx: EntityManager,
    requestId: string,
  ): Promise<{ status: RequestStatus; folder: RequestFolder } | null> {
    const row = await sqlOf(tx)
      .selectFrom('processing_request')
      .select(['status', 'id', 'public_token as publicToken'])
      .where('id', '=', requestId)
      .forUpdate()
      .executeTakeFirst();
    return row ? { status: row.status, folder: { id: row.id, publicToken: row.publicToken } } : null;
  }

  /** Removes requests; their products, images, deliveries and attempts go with them (ON DELETE CASCADE). */
  async deleteMany(tx: EntityManager, requestIds: readonly string[]): Promise<void> {
    if (requestIds.length === 0) return;
    await sqlOf(tx).deleteFrom('processing_request').where('id', '=', anyUuid(requestIds)).execute();
  }

  /**
   * Takes the retention pass's advisory lock for `tx`, then locks up to `limit`
   * requests finished more than `days` ago, skipping rows another transaction
   * holds; null when another process runs the pass.
   */
  async lockFinishedBefore(tx: EntityManager, days: number, limit: number): Promise<RequestFolder[] | null> {
    if (!(await tryAdvisoryXactLock(tx, RETENTION_LOCK_NAME))) return null;
    return sqlOf(tx)
      .selectFrom('processing_request')
      .select(['id', 'public_token as publicToken'])
      .where('completed_at', '<', sql<string>`now() - ${days}::float8 * interval '1 day'`)
      .where('status', 'in', TERMINAL_REQUEST_STATUSES)
      .orderBy('completed_at')
      .limit(limit)
      .forUpdate()
      .skipLocked()
      .execute();
  }

  /** Locks the row for the rest of `tx`, so concurrent finalize jobs run one after the other. */
  async lockForFinalize(tx: EntityManager, requestId: string): Promise<LockedRequest | null> {
    const row = await sqlOf(tx)
      .selectFrom('processing_request as r')
      .select([
        'r.status',
        'r.images_succeeded as imagesSucceeded',
        'r.images_failed as imagesFailed',
        allImagesRecorded('r').as('allRecorded'),
      ])
      .where('r.id', '=', requestId)
      .forUpdate()
      .executeTakeFirst();
    return row ?? null;
  }

  async markTerminal(tx: EntityManager, requestId: string, status: RequestStatus): Promise<TerminalRequest> {
    const row = await sqlOf(tx)
      .updateTable('processing_request')
      .set({ status, completed_at: sql<Date>`now()` })
      .where('id', '=', requestId)
      .returning(TERMINAL_RETURNING)
      .executeTakeFirstOrThrow();
    return terminal(requestId, row);
  }

  /**
   * Makes an open request cancelled, counting the images the same
   * transaction has just cancelled (`cancelled` of them, finishing
   * `productsFinished` products). Null when the request is not open (any
   * more): a finalize that committed first wins, and this transaction must
   * roll back.
   */
  async markCancelled(
    tx: EntityManager,
    requestId: string,
    cancelled: number,
    productsFinished: number,
  ): Promise<TerminalRequest | null> {
    const row = await sqlOf(tx)
      .updateTable('processing_request')
      .set((eb) => ({
        status: RequestStatus.Cancelled,
        completed_at: sql<Date>`now()`,
        images_cancelled: eb('images_cancelled', '+', cancelled),
        products_processed: eb('products_processed', '+', productsFinished),
      }))
      .where('id', '=', requestId)
      .where('status', 'in', OPEN_REQUEST_STATUSES)
      .returning(TERMINAL_RETURNING)
      .executeTakeFirst();
    return row ? terminal(requestId, row) : null;
  }

  /**
   * Takes a finished request back to processing in a new round, giving back
   * the counts of the images the same transaction has just reopened, so each
   * image stays counted once, in its last outcome.
   */
  async reopen(tx: EntityManager, requestId: string, reopened: ReopenedCounts): Promise<void> {
    await sqlOf(tx)
      .updateTable('processing_request')
      .set((eb) => ({
        status: RequestStatus.Processing,
        completed_at: null,
        retry_round: eb('retry_round', '+', 1),
        images_failed: eb('images_failed', '-', reopened.failed),
        images_cancelled: eb('images_cancelled', '-', reopened.cancelled),
        products_processed: eb('products_processed', '-', reopened.productsReopened),
      }))
      .where('id', '=', requestId)
      .execute();
  }

  /** The counters of the given requests, in one indexed read: what every event stream of a process watches. */
  async progressOf(requestIds: readonly string[]): Promise<RequestProgressRow[]> {
    if (requestIds.length === 0) return [];
    const rows = await sqlOf(this.em.fork())
      .selectFrom('processing_request')
      .select([
        'id',
        'status',
        'retry_round as retryRound',
        ...COUNTER_COLUMNS,
        'started_at as startedAt',
        'completed_at as completedAt',
      ])
      .where('id', '=', anyUuid(requestIds))
      .execute();
    return rows.map((row) => ({ ...row, startedAt: date(row.startedAt), completedAt: date(row.completedAt) }));
  }

  /**
   * Takes the sweep's transaction-scoped advisory lock, or answers false when
   * another worker holds it. If a Redis call of the sweep hangs, PostgreSQL
   * ends the idle session so the lock cannot be held forever.
   */
  async tryTakeSweepLock(tx: EntityManager, deployment: string, idleTimeoutMs: number): Promise<boolean> {
    // SET LOCAL, with the value bound: set_config(…, is_local => true).
    await sqlOf(tx)
      .selectNoFrom(
        sql<string>`set_config('idle_in_transaction_session_timeout', ${String(Math.max(10_000, Math.round(idleTimeoutMs)))}, true)`.as(
          'timeout',
        ),
      )
      .execute();
    return tryAdvisoryXactLock(tx, SWEEP_LOCK_NAME + deployment);
  }

  /**
   * Open requests whose every image has an outcome, with their round: their
   * finalize job was lost or gave up, or is running right now.
   */
  recordedButOpen(tx: EntityManager, deployment: string, limit: number): Promise<{ id: string; round: number }[]> {
    return sqlOf(tx)
      .selectFrom('processing_request as r')
      .select(['r.id', 'r.retry_round as round'])
      .where('r.status', 'in', OPEN_REQUEST_STATUSES)
      .where(allImagesRecorded('r'))
      .where((eb) => eb.or([eb('r.deployment', '=', deployment), eb('r.deployment', 'is', null)]))
      .limit(limit)
      .execute();
  }
}

function sqlOf(em: EntityManager) {
  return typedSql<typeof ProcessingRequest, RequestTables>(em);
}

/**
 * The requests of a list page and of its count: the same filters, so the
 * count is of what is paged. The caller's tenant, or everyone's when null.
 */
function listed(db: ReturnType<typeof sqlOf>, tenant: string | null, filters: ListFilters) {
  return db
    .selectFrom('processing_request')
    .$if(tenant !== null, (qb) => qb.where('tenant', '=', tenant!))
    .$if(!!filters.status?.length, (qb) =>
      qb.where('status', '=', sql<RequestStatus>`any(${filters.status}::request_status[])`),
    )
    .$if(!!filters.createdAfter, (qb) => qb.where('created_at', '>=', filters.createdAfter!.toISOString()))
    .$if(!!filters.createdBefore, (qb) => qb.where('created_at', '<', filters.createdBefore!.toISOString()));
}

/** `= any($1::uuid[])`: one bound array instead of a placeholder per id. */
function anyUuid(ids: readonly string[]): RawBuilder<string> {
  return sql<string>`any(${[...ids]}::uuid[])`;
}

function date(text: string | null): Date | null {
  return text === null ? null : new Date(text);
}

function terminal(
  requestId: string,
  row: Omit<TerminalRequest, 'id' | 'createdAt' | 'completedAt'> & { createdAt: string; completedAt: string | null },
): TerminalRequest {
  // completed_at was set by the same statement.
  return { id: requestId, ...row, createdAt: new Date(row.createdAt), completedAt: new Date(row.completedAt!) };
}

import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import type { ProcessingOptions } from './processing-options.js';
import { ProcessingRequest } from './processing-request.entity.js';
import { RequestStatus, TERMINAL_REQUEST_STATUSES } from './request-status.js';
import { newPublicToken, type RequestFolder } from '../storage/storage-keys.js';

export const OPEN_REQUEST_STATES = `('${RequestStatus.Pending}', '${RequestStatus.Processing}')`;

/** Where a page of the request list starts: after this row, newest first (request-list.query.ts). */
export interface ListPosition {
  createdAt: string;
  id: string;
}

/**
 * The one spelling of "every image of the request has an outcome", for SQL
 * on the processing_request row aliased `alias`. The counters are the only
 * source of that fact: they are bumped by the same guarded statement that
 * records an image's outcome, so they never disagree with the image rows.
 */
export function allImagesRecorded(alias: string): string {
  return `(${alias}.images_succeeded + ${alias}.images_failed + ${alias}.images_cancelled >= ${alias}.image_count)`;
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
export interface TerminalRequest {
  id: string;
  status: RequestStatus;
  webhookUrl: string | null;
  webhookEvents: string[] | null;
  productCount: number;
  productsProcessed: number;
  imageCount: number;
  imagesSucceeded: number;
  imagesFailed: number;
  imagesCancelled: number;
  retryRound: number;
  createdAt: Date;
  completedAt: Date;
}

/** A request's counters as its event stream reports them. */
export interface RequestProgressRow {
  id: string;
  status: RequestStatus;
  retryRound: number;
  productCount: number;
  productsProcessed: number;
  imageCount: number;
  imagesSucceeded: number;
  imagesFailed: number;
  imagesCancelled: number;
  startedAt: Date | null;
  completedAt: Date | null;
}

/** What a retry took back from the counters (see RequestImageTransitions.reopenForRetry). */
export interface ReopenedCounts {
  failed: number;
  cancelled: number;
  productsReopened: number;
}

const TERMINAL_RETURNING = `status, webhook_url, webhook_events, product_count, products_processed, image_count,
                 images_succeeded, images_failed, images_cancelled, retry_round, created_at, completed_at`;

interface TerminalRow {
  status: RequestStatus;
  webhook_url: string | null;
  webhook_events: string[] | null;
  product_count: number;
  products_processed: number;
  image_count: number;
  images_succeeded: number;
  images_failed: number;
  images_cancelled: number;
  retry_round: number;
  created_at: Date;
  completed_at: Date;
}

function toTerminalRequest(requestId: string, row: TerminalRow): TerminalRequest {
  return {
    id: requestId,
    status: row.status,
    webhookUrl: row.webhook_url,
    webhookEvents: row.webhook_events,
    productCount: row.product_count,
    productsProcessed: row.products_processed,
    imageCount: row.image_count,
    imagesSucceeded: row.images_succeeded,
    imagesFailed: row.images_failed,
    imagesCancelled: row.images_cancelled,
    retryRound: row.retry_round,
    createdAt: new Date(row.created_at),
    completedAt: new Date(row.completed_at),
  };
}

/** Hashed with the deployment into the advisory lock key that one sweep at a time holds. */
export const SWEEP_LOCK_NAME = 'pixbatch:stuck-work-sweep:';
/** Hashed into the advisory lock key that one retention pass at a time holds. */
export const RETENTION_LOCK_NAME = 'pixbatch:retention-sweep';
const TERMINAL_REQUEST_STATES = `(${TERMINAL_REQUEST_STATUSES.map((status) => `'${status}'`).join(', ')})`;

/**
 * Owner of the processing_request table. Statements that take part in a
 * caller's transaction (the upload, finalize, the sweep) take its
 * EntityManager; the others run on a fork of their own.
 */
@Injectable()
export class RequestRepository {
  constructor(private readonly em: EntityManager) {}

  findById(requestId: string): Promise<ProcessingRequest | null> {
    return this.em.fork().findOne(ProcessingRequest, { id: requestId });
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
    const { where, params } = listConditions(tenant, filters);
    if (after) {
      where.push('(created_at, id) < (?::timestamptz, ?::uuid)');
      params.push(after.createdAt, after.id);
    }
    const em = this.em.fork();
    const rows = await em.execute<(Record<string, unknown> & { cursor_created_at: string })[]>(
      `SELECT *, created_at::text AS cursor_created_at FROM processing_request
        ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY created_at DESC, id DESC
        LIMIT ?`,
      [...params, limit],
    );
    return rows.map((row) => ({ request: em.map(ProcessingRequest, row), cursorCreatedAt: row.cursor_created_at }));
  }

  /** How many requests the list holds with these filters, over every page. */
  async countMatching(tenant: string | null, filters: ListFilters): Promise<number> {
    const { where, params } = listConditions(tenant, filters);
    const [row] = await this.em
      .fork()
      .execute<{ n: string }[]>(
        `SELECT count(*) AS n FROM processing_request ${where.length ? `WHERE ${where.join(' AND ')}` : ''}`,
        params,
      );
    return Number(row.n);
  }

  /** The tenant a request belongs to, or null when there is no such request. */
  async ownerOf(requestId: string): Promise<string | null> {
    const rows = await this.em
      .fork()
      .execute<{ tenant: string }[]>('SELECT tenant FROM processing_request WHERE id = ?', [requestId]);
    return rows[0]?.tenant ?? null;
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
    await tx.execute(
      `INSERT INTO processing_request
         (id, status, public_token, original_filename, options, columns, csv_delimiter, product_count, image_count,
          created_at)
       VALUES (?, ?, ?, ?, '{}'::jsonb, ?::jsonb, ?, 0, 0, now())`,
      [requestId, RequestStatus.Pending, newPublicToken(), originalFilename, JSON.stringify(columns), csvDelimiter],
    );
  }

  async completeDraft(tx: EntityManager, requestId: string, details: DraftDetails): Promise<void> {
    await tx.execute(
      `UPDATE processing_request
          SET webhook_url = ?, webhook_events = ?::jsonb, options = ?::jsonb, product_count = ?, image_count = ?,
              idempotency_key = ?, upload_fingerprint = ?, tenant = ?, deployment = ?
        WHERE id = ?`,
      [
        details.webhookUrl,
        details.webhookEvents && JSON.stringify(details.webhookEvents),
        JSON.stringify(details.options),
        details.productCount,
        details.imageCount,
        details.idempotencyKey,
        details.uploadFingerprint,
        details.tenant,
        details.deployment,
        requestId,
      ],
    );
  }

  /** Deletes the request; its products and images go with it (foreign key cascade). */
  async delete(requestId: string): Promise<void> {
    await this.em.fork().execute('DELETE FROM processing_request WHERE id = ?', [requestId]);
  }

  /** The request's status, its row locked for the rest of `tx` (a retry holds it while it reopens images). */
  async lockStatus(tx: EntityManager, requestId: string): Promise<RequestStatus | null> {
    const [row] = await tx.execute<{ status: RequestStatus }[]>(
      'SELECT status FROM processing_request WHERE id = ? FOR UPDATE',
      [requestId],
    );
    return row?.status ?? null;
  }

  /** The request's status and its folder of outputs, its row locked for the rest of `tx`. */
  async lockForDeletion(
    tx: EntityManager,
    requestId: string,
  ): Promise<{ status: RequestStatus; folder: RequestFolder } | null> {
    const [row] = await tx.execute<{ status: RequestStatus; public_token: string | null }[]>(
      'SELECT status, public_token FROM processing_request WHERE id = ? FOR UPDATE',
      [requestId],
    );
    return row ? { status: row.status, folder: { id: requestId, publicToken: row.public_token } } : null;
  }

  /** Removes requests; their products, images, deliveries and attempts go with them (ON DELETE CASCADE). */
  async deleteMany(tx: EntityManager, requestIds: readonly string[]): Promise<void> {
    if (requestIds.length > 0) await tx.execute('DELETE FROM processing_request WHERE id IN (?)', [requestIds]);
  }

  /**
   * Takes the retention pass's advisory lock for `tx`, then locks up to `limit`
   * requests finished more than `days` ago, skipping rows another transaction
   * holds; null when another process runs the pass.
   */
  async lockFinishedBefore(tx: EntityManager, days: number, limit: number): Promise<RequestFolder[] | null> {
    const [lock] = await tx.execute<{ acquired: boolean }[]>(
      'SELECT pg_try_advisory_xact_lock(hashtext(?)) AS acquired',
      [RETENTION_LOCK_NAME],
    );
    if (!lock?.acquired) return null;
    const rows = await tx.execute<{ id: string; public_token: string | null }[]>(
      `SELECT id, public_token FROM processing_request
        WHERE completed_at < now() - ? * interval '1 day' AND status IN ${TERMINAL_REQUEST_STATES}
        ORDER BY completed_at LIMIT ? FOR UPDATE SKIP LOCKED`,
      [days, limit],
    );
    return rows.map((row) => ({ id: row.id, publicToken: row.public_token }));
  }

  /** Locks the row for the rest of `tx`, so concurrent finalize jobs run one after the other. */
  async lockForFinalize(tx: EntityManager, requestId: string): Promise<LockedRequest | null> {
    const [row] = await tx.execute<
      { status: RequestStatus; images_succeeded: number; images_failed: number; all_recorded: boolean }[]
    >(
      `SELECT r.status, r.images_succeeded, r.images_failed, ${allImagesRecorded('r')} AS all_recorded
         FROM processing_request r WHERE r.id = ? FOR UPDATE`,
      [requestId],
    );
    if (!row) return null;
    return {
      status: row.status,
      imagesSucceeded: row.images_succeeded,
      imagesFailed: row.images_failed,
      allRecorded: row.all_recorded,
    };
  }

  async markTerminal(tx: EntityManager, requestId: string, status: RequestStatus): Promise<TerminalRequest> {
    const [row] = await tx.execute<TerminalRow[]>(
      `UPDATE processing_request SET status = ?, completed_at = now() WHERE id = ?
       RETURNING ${TERMINAL_RETURNING}`,
      [status, requestId],
    );
    return toTerminalRequest(requestId, row);
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
    const [row] = await tx.execute<TerminalRow[]>(
      `UPDATE processing_request
          SET status = '${RequestStatus.Cancelled}', completed_at = now(),
              images_cancelled = images_cancelled + ?, products_processed = products_processed + ?
        WHERE id = ? AND status IN ${OPEN_REQUEST_STATES}
       RETURNING ${TERMINAL_RETURNING}`,
      [cancelled, productsFinished, requestId],
    );
    return row ? toTerminalRequest(requestId, row) : null;
  }

  /**
   * Takes a finished request back to processing in a new round, giving back
   * the counts of the images the same transaction has just reopened, so each
   * image stays counted once, in its last outcome.
   */
  async reopen(tx: EntityManager, requestId: string, reopened: ReopenedCounts): Promise<void> {
    await tx.execute(
      `UPDATE processing_request
          SET status = '${RequestStatus.Processing}', completed_at = NULL, retry_round = retry_round + 1,
              images_failed = images_failed - ?, images_cancelled = images_cancelled - ?,
              products_processed = products_processed - ?
        WHERE id = ?`,
      [reopened.failed, reopened.cancelled, reopened.productsReopened, requestId],
    );
  }

  /** The counters of the given requests, in one indexed read: what every event stream of a process watches. */
  async progressOf(requestIds: readonly string[]): Promise<RequestProgressRow[]> {
    if (requestIds.length === 0) return [];
    const rows = await this.em.fork().execute<
      {
        id: string;
        status: RequestStatus;
        retry_round: number;
        product_count: number;
        products_processed: number;
        image_count: number;
        images_succeeded: number;
        images_failed: number;
        images_cancelled: number;
        started_at: Date | null;
        completed_at: Date | null;
      }[]
    >(
      `SELECT id, status, retry_round, product_count, products_processed, image_count, images_succeeded,
              images_failed, images_cancelled, started_at, completed_at
         FROM processing_request WHERE id IN (?)`,
      [requestIds],
    );
    return rows.map((row) => ({
      id: row.id,
      status: row.status,
      retryRound: row.retry_round,
      productCount: row.product_count,
      productsProcessed: row.products_processed,
      imageCount: row.image_count,
      imagesSucceeded: row.images_succeeded,
      imagesFailed: row.images_failed,
      imagesCancelled: row.images_cancelled,
      startedAt: row.started_at && new Date(row.started_at),
      completedAt: row.completed_at && new Date(row.completed_at),
    }));
  }

  /**
   * Takes the sweep's transaction-scoped advisory lock, or answers false when
   * another worker holds it. If a Redis call of the sweep hangs, PostgreSQL
   * ends the idle session so the lock cannot be held forever.
   */
  async tryTakeSweepLock(tx: EntityManager, deployment: string, idleTimeoutMs: number): Promise<boolean> {
    await tx.execute(`SET LOCAL idle_in_transaction_session_timeout = ${Math.max(10_000, Math.round(idleTimeoutMs))}`);
    const [lock] = await tx.execute<{ acquired: boolean }[]>(
      'SELECT pg_try_advisory_xact_lock(hashtext(?)) AS acquired',
      [SWEEP_LOCK_NAME + deployment],
    );
    return lock?.acquired ?? false;
  }

  /**
   * Open requests whose every image has an outcome, with their round: their
   * finalize job was lost or gave up, or is running right now.
   */
  async recordedButOpen(
    tx: EntityManager,
    deployment: string,
    limit: number,
  ): Promise<{ id: string; round: number }[]> {
    const rows = await tx.execute<{ id: string; retry_round: number }[]>(
      `SELECT r.id, r.retry_round FROM processing_request r
        WHERE r.status IN ${OPEN_REQUEST_STATES} AND ${allImagesRecorded('r')}
          AND (r.deployment = ? OR r.deployment IS NULL)
        LIMIT ${limit}`,
      [deployment],
    );
    return rows.map((row) => ({ id: row.id, round: row.retry_round }));
  }
}

/** The list's filters: the caller's tenant (null: everyone's), statuses and a creation window. */
export interface ListFilters {
  status?: readonly string[];
  createdAfter?: Date;
  createdBefore?: Date;
}

/** The WHERE conditions of a list page and of its count: the same filters, so the count is of what is paged. */
function listConditions(tenant: string | null, filters: ListFilters): { where: string[]; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  if (tenant !== null) {
    where.push('tenant = ?');
    params.push(tenant);
  }
  if (filters.status?.length) {
    where.push(`status IN (${filters.status.map(() => '?').join(', ')})`);
    params.push(...filters.status);
  }
  if (filters.createdAfter) {
    where.push('created_at >= ?');
    params.push(filters.createdAfter);
  }
  if (filters.createdBefore) {
    where.push('created_at < ?');
    params.push(filters.createdBefore);
  }
  return { where, params };
}

import { EntityName } from '@mikro-orm/core';
import { Entity, Enum, Index, PrimaryKey, Property, Unique } from '@mikro-orm/decorators/legacy';
import { DEFAULT_TENANT } from '../config/api-keys.js';
import type { ProcessingOptions } from './processing-options.js';
import { RequestStatus } from './request-status.js';

export type { ProcessingOptions };

// The list reads newest first within a tenant, or across tenants on an open
// service; retention finds finished requests by completion time.
@Entity({ tableName: 'processing_request' })
@Index({
  name: 'processing_request_tenant_created_at_id_index',
  columns: [{ name: 'tenant' }, { name: 'created_at', sort: 'desc' }, { name: 'id', sort: 'desc' }],
})
@Index({
  name: 'processing_request_created_at_id_index',
  columns: [
    { name: 'created_at', sort: 'desc' },
    { name: 'id', sort: 'desc' },
  ],
})
@Index({ name: 'processing_request_completed_at_index', properties: ['completedAt'] })
export class ProcessingRequest {
  /** The name typed SQL infers the table from (database/typed-sql.ts): `processing_request`. */
  declare [EntityName]?: 'ProcessingRequest';

  @PrimaryKey({ type: 'uuid' })
  id: string;

  @Enum({ items: () => RequestStatus, nativeEnumName: 'request_status' })
  @Index()
  status: RequestStatus = RequestStatus.Pending;

  /** Whose API key created it (API_KEYS names); rows from before tenants have the default one. */
  @Property({ type: 'text', default: DEFAULT_TENANT })
  tenant: string = DEFAULT_TENANT;

  @Property({ type: 'text' })
  originalFilename: string;

  @Property({ type: 'text', nullable: true })
  webhookUrl: string | null = null;

  /**
   * Names the request's public folder of output images (storage-keys.ts), so
   * that an output URL says nothing of the request id; null for requests
   * stored before tokens, whose folder is named by the id.
   */
  @Property({ type: 'text', nullable: true })
  publicToken: string | null = null;

  /**
   * The client's Idempotency-Key, scoped by API key: a retried upload with the
   * same key and file returns this request instead of creating another.
   */
  @Property({ type: 'text', nullable: true })
  @Unique()
  idempotencyKey: string | null = null;

  /** SHA-256 of the CSV bytes and the options, to tell a retry from a different upload under the same key. */
  @Property({ type: 'text', nullable: true })
  uploadFingerprint: string | null = null;

  /** Event types the webhook receives; null means the default, every terminal event. */
  @Property({ type: 'json', nullable: true })
  webhookEvents: string[] | null = null;

  @Property({ type: 'json' })
  options: ProcessingOptions;

  /** The CSV header row as uploaded, in order; the export echoes it. */
  @Property({ type: 'json' })
  columns: string[];

  /** The uploaded CSV's field separator; the export writes the same one. */
  @Property({ type: 'text', default: ',' })
  csvDelimiter: string = ',';

  @Property({ type: 'integer' })
  productCount: number;

  @Property({ type: 'integer' })
  productsProcessed = 0;

  @Property({ type: 'integer' })
  imageCount: number;

  @Property({ type: 'integer' })
  imagesSucceeded = 0;

  @Property({ type: 'integer' })
  imagesFailed = 0;

  /** Images a cancel stopped before they had an outcome; not failures. */
  @Property({ type: 'integer' })
  imagesCancelled = 0;

  /**
   * Of the images succeeded, those copied from an earlier request's output:
   * after a 304 to a conditional request (revalidated), or a body whose
   * digest matched (reused). The rest were fetched and encoded.
   */
  @Property({ type: 'integer', default: 0 })
  imagesRevalidated = 0;

  @Property({ type: 'integer', default: 0 })
  imagesReused = 0;

  /** 0 for the first run; each retry starts the next round, which gets its own terminal webhook event. */
  @Property({ type: 'integer' })
  retryRound = 0;

  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  @Property({ type: 'datetime', nullable: true })
  startedAt: Date | null = null;

  @Property({ type: 'datetime', nullable: true })
  completedAt: Date | null = null;

  /**
   * The deployment (queue prefix and Redis database) whose dispatcher feeds
   * this request's images to its workers; null for requests stored before
   * dispatching, which any deployment's dispatcher takes.
   */
  @Property({ type: 'text', nullable: true })
  deployment: string | null = null;

  /** When the dispatcher last handed out a chunk of this request: round-robin serves the oldest first. */
  @Property({ type: 'datetime', nullable: true })
  dispatchedAt: Date | null = null;
}

import { EntityName } from '@mikro-orm/core';
import { Entity, ManyToOne, PrimaryKey, Property, Unique } from '@mikro-orm/decorators/legacy';
import { WebhookDelivery } from './webhook-delivery.entity.js';

/**
 * One HTTP attempt of a delivery. A child table rather than a JSON array on
 * the delivery: each attempt is an INSERT and one guarded UPDATE instead of a
 * rewrite of a growing document, and the unique (delivery, number) pair makes
 * two workers making "the same" attempt impossible at the database level.
 */
@Entity({ tableName: 'webhook_attempt' })
@Unique({ properties: ['delivery', 'number'] })
export class WebhookAttempt {
  /** The name typed SQL infers the table from (database/typed-sql.ts): `webhook_attempt`. */
  declare [EntityName]?: 'WebhookAttempt';

  @PrimaryKey({ type: 'uuid' })
  id: string;

  @ManyToOne({ entity: () => WebhookDelivery, deleteRule: 'cascade' })
  delivery: WebhookDelivery;

  /** 1-based, in the order the attempts were made. */
  @Property({ type: 'integer' })
  number: number;

  /** Asked for through the redeliver endpoint rather than scheduled. */
  @Property({ type: 'boolean' })
  manual = false;

  @Property({ type: 'datetime' })
  startedAt: Date;

  /** Null while the attempt is in flight. */
  @Property({ type: 'datetime', nullable: true })
  finishedAt: Date | null = null;

  @Property({ type: 'integer', nullable: true })
  durationMs: number | null = null;

  /** The receiver's HTTP status; null when no response came (timeout, connection error, blocked). */
  @Property({ type: 'integer', nullable: true })
  statusCode: number | null = null;

  @Property({ type: 'text', nullable: true })
  errorCode: string | null = null;

  @Property({ type: 'text', nullable: true })
  errorMessage: string | null = null;

  /** The start of the response body, for the delivery log; never more than a few KB. */
  @Property({ type: 'text', nullable: true })
  responseBody: string | null = null;

  /** When the retry this attempt's failure scheduled is due; null when none was. */
  @Property({ type: 'datetime', nullable: true })
  nextAttemptAt: Date | null = null;
}

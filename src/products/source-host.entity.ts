import { EntityName } from '@mikro-orm/core';
import { Entity, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

/**
 * A source host that asked a deployment to wait (429 or 503 with
 * Retry-After): the dispatcher hands out none of its images until
 * `pausedUntil`. Hosts are shared by every request and tenant of the
 * deployment, as the supplier's rate limit is.
 */
@Entity({ tableName: 'source_host' })
export class SourceHost {
  /** The name typed SQL infers the table from (database/typed-sql.ts): `source_host`. */
  declare [EntityName]?: 'SourceHost';

  @PrimaryKey({ type: 'text' })
  deployment: string;

  @PrimaryKey({ type: 'text' })
  host: string;

  @Property({ type: 'datetime' })
  pausedUntil: Date;
}

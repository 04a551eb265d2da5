import { EntityName } from '@mikro-orm/core';
import { Entity, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

/**
 * When the dispatcher of a deployment last handed a chunk to a tenant: the
 * tenant served longest ago goes first. Kept per tenant rather than derived
 * from its requests, so that a tenant cannot jump the queue by sending many
 * small requests, each of which would otherwise look never served.
 */
@Entity({ tableName: 'tenant_turn' })
export class TenantTurn {
  /** The name typed SQL infers the table from (database/typed-sql.ts): `tenant_turn`. */
  declare [EntityName]?: 'TenantTurn';

  @PrimaryKey({ type: 'text' })
  deployment: string;

  @PrimaryKey({ type: 'text' })
  tenant: string;

  @Property({ type: 'datetime' })
  servedAt: Date;
}

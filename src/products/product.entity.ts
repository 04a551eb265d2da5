import { EntityName } from '@mikro-orm/core';
import { Entity, Index, ManyToOne, PrimaryKey, Property, Trigger } from '@mikro-orm/decorators/legacy';
import { ProcessingRequest } from '../requests/processing-request.entity.js';

@Entity({ tableName: 'product' })
@Index({ properties: ['request', 'rowNumber'] })
// The cascade image.product_id has no foreign key for (image.entity.ts): a
// product's images go with it, in one statement for all the products a
// DELETE removed (a request's, when the request is deleted).
@Trigger({
  name: 'delete_images',
  timing: 'after',
  events: ['delete'],
  forEach: 'statement',
  expression: `create function "product_delete_images_fn"() returns trigger language plpgsql as $$
begin
  delete from "image" where "product_id" in (select "id" from "deleted");
  return null;
end $$;
create trigger "delete_images" after delete on "product" referencing old table as "deleted" for each statement execute function "product_delete_images_fn"();`,
})
export class Product {
  /** The name typed SQL infers the table from (database/typed-sql.ts): `product`. */
  declare [EntityName]?: 'Product';

  @PrimaryKey({ type: 'uuid' })
  id: string;

  @ManyToOne({ entity: () => ProcessingRequest, deleteRule: 'cascade' })
  request: ProcessingRequest;

  /** 1-based position among the data rows of the CSV. */
  @Property({ type: 'integer' })
  rowNumber: number;

  @Property({ type: 'text' })
  serialNumber: string;

  @Property({ type: 'text' })
  name: string;

  /** Every cell of the row as uploaded, aligned with the request's columns. */
  @Property({ type: 'json' })
  cells: string[];

  @Property({ type: 'integer' })
  imageCount: number;

  /** Images of this product in a terminal state; processed once it reaches imageCount. */
  @Property({ type: 'integer' })
  imagesDone = 0;

  @Property({ type: 'boolean' })
  processed = false;
}

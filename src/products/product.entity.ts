import { EntityName } from '@mikro-orm/core';
import { Entity, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { ProcessingRequest } from '../requests/processing-request.entity.js';

@Entity({ tableName: 'product' })
@Index({ properties: ['request', 'rowNumber'] })
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

import { EntityName } from '@mikro-orm/core';
import { Entity, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { ProcessingRequest } from '../requests/processing-request.entity.js';

/**
 * An output a later request of the same tenant may copy instead of encoding
 * (docs/architecture.md, "Re-runs"): made from the bytes hashing to
 * `sourceXxh3` with the options `optionsKey` stands for, by the image
 * pipeline `pipelineVersion`. `outputKey` is the copy of the newest request
 * that used it, whose row it goes with (ON DELETE CASCADE): each reuse points
 * it at the new request's own copy, so deleting an older request breaks nothing.
 */
@Entity({ tableName: 'reusable_output' })
@Index({ properties: ['request'] })
export class ReusableOutput {
  /** The name typed SQL infers the table from (database/typed-sql.ts): `reusable_output`. */
  declare [EntityName]?: 'ReusableOutput';

  @PrimaryKey({ type: 'text' })
  tenant: string;

  @PrimaryKey({ type: 'text' })
  urlHash: string;

  /** SHA-256 of every option and setting that changes the output's bytes (reuse-key.ts). */
  @PrimaryKey({ type: 'text' })
  optionsKey: string;

  @PrimaryKey({ type: 'integer' })
  pipelineVersion: number;

  @Property({ type: 'text' })
  sourceXxh3: string;

  @Property({ type: 'text' })
  outputKey: string;

  @Property({ type: 'text' })
  format: string;

  @Property({ type: 'integer' })
  bytesIn: number;

  @Property({ type: 'integer' })
  bytesOut: number;

  @Property({ type: 'integer' })
  width: number;

  @Property({ type: 'integer' })
  height: number;

  @ManyToOne({ entity: () => ProcessingRequest, deleteRule: 'cascade' })
  request: ProcessingRequest;
}

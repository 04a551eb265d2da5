import { EntityName } from '@mikro-orm/core';
import { Entity, Enum, Index, ManyToOne, PrimaryKey, Property, Trigger } from '@mikro-orm/decorators/legacy';
import { ProcessingRequest } from '../requests/processing-request.entity.js';
import { ImageObtained } from './image-obtained.js';
import { ImageStatus } from './image-status.js';
import { Product } from './product.entity.js';

@Entity({ tableName: 'image' })
@Index({ properties: ['request', 'status'] })
@Index({ properties: ['product', 'position'] })
// Partial: only repeated URLs have a source, and the index is only searched for them.
@Index({
  name: 'image_source_image_id_index',
  expression:
    'create index "image_source_image_id_index" on "image" ("source_image_id") where "source_image_id" is not null',
})
// The dispatcher's scans (processing/dispatcher.ts): a request's images
// waiting for a chunk, by source host then file order (ids are UUIDv7), and
// the images being worked on, by lease.
@Index({
  name: 'image_waiting_index',
  expression:
    'create index "image_waiting_index" on "image" ("request_id", "source_host", "id") where "status" = \'pending\' and "chunk_id" is null and "source_image_id" is null',
})
@Index({
  name: 'image_lease_index',
  expression: 'create index "image_lease_index" on "image" ("lease_until") where "status" = \'processing\'',
})
@Index({
  name: 'image_chunk_index',
  expression: 'create index "image_chunk_index" on "image" ("chunk_id") where "chunk_id" is not null',
})
// What a foreign key on product_id would check, once per statement rather
// than once per row (why: the `product` property); the product deletes its
// images itself (product.entity.ts).
@Trigger({
  name: 'product_exists',
  timing: 'after',
  events: ['insert'],
  forEach: 'statement',
  expression: `create function "image_product_exists_fn"() returns trigger language plpgsql as $$
begin
  if exists (select 1 from "inserted" i where not exists (select 1 from "product" p where p."id" = i."product_id")) then
    raise foreign_key_violation using message = 'an image row names a product that does not exist';
  end if;
  return null;
end $$;
create trigger "product_exists" after insert on "image" referencing new table as "inserted" for each statement execute function "image_product_exists_fn"();`,
})
export class Image {
  /** The name typed SQL infers the table from (database/typed-sql.ts): `image`. */
  declare [EntityName]?: 'Image';

  @PrimaryKey({ type: 'uuid' })
  id: string;

  // No foreign key: the product already ties the image to the request, and
  // checking a second one on each of a large CSV's image rows doubled the
  // insert time.
  @ManyToOne({ entity: () => ProcessingRequest, createForeignKeyConstraint: false })
  request: ProcessingRequest;

  // Not a foreign key either: PostgreSQL checks one with a locking lookup per
  // inserted row, 12 of the 38 ms of an upload's INSERT of 1 000 products and
  // 3 000 images, and cascades a delete with one statement per product. Two
  // statement-level triggers hold the same rules instead: `product_exists`
  // above and the product's `delete_images`. The check takes no row lock: image
  // rows are only inserted with their products, in the statement of the
  // transaction that creates them, so no one else can delete those meanwhile.
  @ManyToOne({ entity: () => Product, createForeignKeyConstraint: false })
  product: Product;

  /** 0-based index of the URL within the product's Input Image Urls cell. */
  @Property({ type: 'integer' })
  position: number;

  @Property({ type: 'text' })
  inputUrl: string;

  /**
   * The host and port the URL names (the default port made explicit), as
   * uploads normalise URLs: what SOURCE_HOST_CONCURRENCY and a host's
   * Retry-After pause apply to. Written by the upload's INSERT
   * (ProductRepository.insertWithImages, hostAndPort), never changed.
   */
  @Property({ type: 'text' })
  sourceHost: string;

  /**
   * The first image of the request with the same input URL, when this one
   * repeats it: it gets no job of its own and takes that image's outcome.
   */
  @Property({ type: 'uuid', nullable: true })
  sourceImageId: string | null = null;

  @Enum({ items: () => ImageStatus, nativeEnumName: 'image_status' })
  status: ImageStatus = ImageStatus.Pending;

  @Property({ type: 'text', nullable: true })
  outputKey: string | null = null;

  /** What the output key ends in (storage-keys.ts ImageNames); null for images stored before names existed. */
  @Property({ type: 'text', nullable: true })
  fileName: string | null = null;

  @Property({ type: 'text', nullable: true })
  format: string | null = null;

  @Property({ type: 'text', nullable: true })
  errorCode: string | null = null;

  @Property({ type: 'text', nullable: true })
  errorMessage: string | null = null;

  /** Whether the retry policy judged the failure transient; `retry?only=transient` retries only those. */
  @Property({ type: 'boolean', nullable: true })
  errorTransient: boolean | null = null;

  /** How a succeeded image's output was obtained; null otherwise, and for images stored before re-runs. */
  @Enum({ items: () => ImageObtained, nativeEnumName: 'image_obtained', nullable: true })
  obtained: ImageObtained | null = null;

  @Property({ type: 'integer', nullable: true })
  bytesIn: number | null = null;

  @Property({ type: 'integer', nullable: true })
  bytesOut: number | null = null;

  @Property({ type: 'integer', nullable: true })
  width: number | null = null;

  @Property({ type: 'integer', nullable: true })
  height: number | null = null;

  @Property({ type: 'integer' })
  attempts = 0;

  @Property({ type: 'datetime', nullable: true })
  completedAt: Date | null = null;

  /** The chunk job the image was last handed to; only that chunk may claim it and record its outcome. */
  @Property({ type: 'uuid', nullable: true })
  chunkId: string | null = null;

  /**
   * Until when that chunk holds the image, dispatched or being worked on; its
   * worker extends it while alive. Past it, the image is dispatched again.
   */
  @Property({ type: 'datetime', nullable: true })
  leaseUntil: Date | null = null;

  /** Not dispatched before this time: the backoff after a transient failure or while storage is down. */
  @Property({ type: 'datetime', nullable: true })
  notBefore: Date | null = null;

  /**
   * When this image first had to wait for something that was not its fault
   * (the store down, its host pausing us), while it waits; such waits use no
   * attempt until they last too long (storage-outage.ts).
   */
  @Property({ type: 'datetime', nullable: true })
  waitingSince: Date | null = null;
}

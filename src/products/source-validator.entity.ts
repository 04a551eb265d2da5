import { EntityName } from '@mikro-orm/core';
import { Entity, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { ProcessingRequest } from '../requests/processing-request.entity.js';

/**
 * What a tenant last learnt of a source URL (docs/architecture.md, "Re-runs"):
 * its validators and the XXH3-128 digest of the bytes it sent. Written only by a
 * successful fetch; a URL answered with `Cache-Control: no-store` has no row.
 * The row belongs to the newest request that fetched the URL and goes with it
 * (ON DELETE CASCADE), so it lives no longer than the tenant's requests.
 */
@Entity({ tableName: 'source_validator' })
@Index({ properties: ['request'] })
export class SourceValidator {
  /** The name typed SQL infers the table from (database/typed-sql.ts): `source_validator`. */
  declare [EntityName]?: 'SourceValidator';

  @PrimaryKey({ type: 'text' })
  tenant: string;

  /** SHA-256 of the URL as uploaded, hex: a fixed-size key whatever the URL's length. */
  @PrimaryKey({ type: 'text' })
  urlHash: string;

  /** A strong ETag, quoted as the server sent it; weak ones are not kept (see ReuseRepository). */
  @Property({ type: 'text', nullable: true })
  etag: string | null = null;

  /** The Last-Modified header as the server sent it, sent back as If-Modified-Since. */
  @Property({ type: 'text', nullable: true })
  lastModified: string | null = null;

  /**
   * XXH3-128 of the bytes last fetched, hex (32 digits). A re-run compares the
   * bytes a URL sends now with those of the same tenant's last fetch of it: the
   * URL's own host could send the old bytes anyway, so a collision it crafted
   * would gain it nothing, and a non-cryptographic hash costs a third of SHA-256.
   */
  @Property({ type: 'text' })
  xxh3: string;

  @ManyToOne({ entity: () => ProcessingRequest, deleteRule: 'cascade' })
  request: ProcessingRequest;

  @Property({ type: 'datetime' })
  updatedAt: Date = new Date();
}

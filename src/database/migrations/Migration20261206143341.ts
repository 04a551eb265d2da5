import { Migration } from '@mikro-orm/migrations';

export class Migration20261206143341 extends Migration {
  override name = 'Migration20261206143341';

  // Scheduling in PostgreSQL: the dispatcher leases waiting images to chunk
  // jobs (chunk_id, lease_until), keeps their backoff and storage-outage wait
  // (not_before, storage_down_since), and serves requests round-robin
  // (tenant_turn, then dispatched_at) within their deployment. The partial indexes stay small:
  // images held by a chunk, images being worked on by lease, and waiting
  // images by request in file order.
  override up(): void | Promise<void> {
    this.addSql(
      `create table "tenant_turn" ("deployment" text not null, "tenant" text not null, "served_at" timestamptz not null, primary key ("deployment", "tenant"));`,
    );
    this.addSql(`alter table "processing_request" add "deployment" text null, add "dispatched_at" timestamptz null;`);

    this.addSql(
      `alter table "image" add "chunk_id" uuid null, add "lease_until" timestamptz null, add "not_before" timestamptz null, add "storage_down_since" timestamptz null;`,
    );
    this.addSql(`create index "image_chunk_index" on "image" ("chunk_id") where "chunk_id" is not null;`);
    this.addSql(`create index "image_lease_index" on "image" ("lease_until") where "status" = 'processing';`);
    this.addSql(
      `create index "image_dispatch_index" on "image" ("request_id", "id") where "status" = 'pending' and "source_image_id" is null;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "tenant_turn" cascade;`);
    this.addSql(`drop index "image_chunk_index";`);
    this.addSql(`drop index "image_lease_index";`);
    this.addSql(`drop index "image_dispatch_index";`);
    this.addSql(
      `alter table "image" drop column "chunk_id", drop column "lease_until", drop column "not_before", drop column "storage_down_since";`,
    );

    this.addSql(`alter table "processing_request" drop column "deployment", drop column "dispatched_at";`);
  }
}

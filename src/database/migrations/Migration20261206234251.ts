import { Migration } from '@mikro-orm/migrations';

export class Migration20261206234251 extends Migration {
  override name = 'Migration20261206234251';

  // Re-runs (issue 31): what each tenant remembers of the URLs it fetched
  // (source_validator) and the outputs a later request may copy
  // (reusable_output), each row going with the newest request that used it;
  // how each succeeded image was obtained, and the request's counters of
  // copies. Rows stored before have none: their images count as fetched.
  override up(): void | Promise<void> {
    this.addSql(`create type "image_obtained" as enum ('fetched', 'revalidated', 'reused');`);
    this.addSql(
      `create table "reusable_output" ("tenant" text not null, "url_hash" text not null, "options_key" text not null, "pipeline_version" int not null, "source_sha256" text not null, "output_key" text not null, "format" text not null, "bytes_in" int not null, "bytes_out" int not null, "width" int not null, "height" int not null, "request_id" uuid not null, primary key ("tenant", "url_hash", "options_key", "pipeline_version"));`,
    );
    this.addSql(`create index "reusable_output_request_id_index" on "reusable_output" ("request_id");`);

    this.addSql(
      `create table "source_validator" ("tenant" text not null, "url_hash" text not null, "etag" text null, "last_modified" text null, "sha256" text not null, "request_id" uuid not null, "updated_at" timestamptz not null, primary key ("tenant", "url_hash"));`,
    );
    this.addSql(`create index "source_validator_request_id_index" on "source_validator" ("request_id");`);

    this.addSql(
      `alter table "processing_request" add "images_revalidated" int not null default 0, add "images_reused" int not null default 0;`,
    );

    this.addSql(`alter table "image" add "obtained" "image_obtained" null;`);

    this.addSql(
      `alter table "reusable_output" add constraint "reusable_output_request_id_foreign" foreign key ("request_id") references "processing_request" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "source_validator" add constraint "source_validator_request_id_foreign" foreign key ("request_id") references "processing_request" ("id") on delete cascade;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "reusable_output" cascade;`);
    this.addSql(`drop table if exists "source_validator" cascade;`);
    this.addSql(`alter table "image" drop column "obtained";`);
    this.addSql(`alter table "processing_request" drop column "images_revalidated", drop column "images_reused";`);
    this.addSql(`drop type "image_obtained";`);
  }
}

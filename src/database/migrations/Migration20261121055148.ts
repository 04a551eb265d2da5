import { Migration } from '@mikro-orm/migrations';

export class Migration20261121055148 extends Migration {
  override name = 'Migration20261121055148';

  override up(): void | Promise<void> {
    this.addSql(
      `create type "request_status" as enum ('pending', 'processing', 'completed', 'completed_with_errors', 'failed');`,
    );
    this.addSql(`create type "image_status" as enum ('pending', 'processing', 'succeeded', 'failed');`);
    this.addSql(
      `create table "processing_request" ("id" uuid not null, "status" "request_status" not null default 'pending', "original_filename" text not null, "webhook_url" text null, "options" jsonb not null, "columns" jsonb not null, "product_count" int not null, "products_processed" int not null default 0, "image_count" int not null, "images_succeeded" int not null default 0, "images_failed" int not null default 0, "result_file_key" text null, "created_at" timestamptz not null, "started_at" timestamptz null, "completed_at" timestamptz null, primary key ("id"));`,
    );
    this.addSql(`create index "processing_request_status_index" on "processing_request" ("status");`);

    this.addSql(
      `create table "product" ("id" uuid not null, "request_id" uuid not null, "row_number" int not null, "serial_number" text not null, "name" text not null, "input_urls" jsonb not null, "output_urls" jsonb null, "cells" jsonb not null, "image_count" int not null, "images_done" int not null default 0, "processed" boolean not null default false, primary key ("id"));`,
    );
    this.addSql(`create index "product_request_id_row_number_index" on "product" ("request_id", "row_number");`);

    this.addSql(
      `create table "image" ("id" uuid not null, "request_id" uuid not null, "product_id" uuid not null, "position" int not null, "input_url" text not null, "status" "image_status" not null default 'pending', "output_key" text null, "format" text null, "error_code" text null, "error_message" text null, "bytes_in" int null, "bytes_out" int null, "width" int null, "height" int null, "attempts" int not null default 0, "completed_at" timestamptz null, primary key ("id"));`,
    );
    this.addSql(`create index "image_product_id_position_index" on "image" ("product_id", "position");`);
    this.addSql(`create index "image_request_id_status_index" on "image" ("request_id", "status");`);

    this.addSql(
      `alter table "product" add constraint "product_request_id_foreign" foreign key ("request_id") references "processing_request" ("id") on delete cascade;`,
    );

    this.addSql(
      `alter table "image" add constraint "image_request_id_foreign" foreign key ("request_id") references "processing_request" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "image" add constraint "image_product_id_foreign" foreign key ("product_id") references "product" ("id") on delete cascade;`,
    );
  }
}

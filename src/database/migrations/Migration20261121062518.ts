import { Migration } from '@mikro-orm/migrations';

export class Migration20261121062518 extends Migration {
  override name = 'Migration20261121062518';

  override up(): void | Promise<void> {
    this.addSql(
      `create type "webhook_delivery_status" as enum ('pending', 'sending', 'delivered', 'failed', 'exhausted');`,
    );
    this.addSql(
      `create table "webhook_delivery" ("id" uuid not null, "request_id" uuid not null, "event_id" text not null, "event_type" text not null, "url" text not null, "payload" text not null, "status" "webhook_delivery_status" not null default 'pending', "attempt_count" int not null default 0, "attempts_allowed" int not null, "redelivery_requested" boolean not null default false, "next_attempt_at" timestamptz null, "locked_until" timestamptz null, "last_status_code" int null, "last_error" text null, "created_at" timestamptz not null, "delivered_at" timestamptz null, primary key ("id"));`,
    );
    this.addSql(
      `alter table "webhook_delivery" add constraint "webhook_delivery_event_id_unique" unique ("event_id");`,
    );
    this.addSql(
      `create index "webhook_delivery_status_next_attempt_at_index" on "webhook_delivery" ("status", "next_attempt_at");`,
    );
    this.addSql(
      `alter table "webhook_delivery" add constraint "webhook_delivery_request_id_event_type_unique" unique ("request_id", "event_type");`,
    );

    this.addSql(
      `create table "webhook_attempt" ("id" uuid not null, "delivery_id" uuid not null, "number" int not null, "manual" boolean not null default false, "started_at" timestamptz not null, "finished_at" timestamptz null, "duration_ms" int null, "status_code" int null, "error_code" text null, "error_message" text null, "response_body" text null, "next_attempt_at" timestamptz null, primary key ("id"));`,
    );
    this.addSql(
      `alter table "webhook_attempt" add constraint "webhook_attempt_delivery_id_number_unique" unique ("delivery_id", "number");`,
    );

    this.addSql(`alter table "processing_request" add "webhook_events" jsonb null;`);

    this.addSql(
      `alter table "webhook_delivery" add constraint "webhook_delivery_request_id_foreign" foreign key ("request_id") references "processing_request" ("id") on delete cascade;`,
    );

    this.addSql(
      `alter table "webhook_attempt" add constraint "webhook_attempt_delivery_id_foreign" foreign key ("delivery_id") references "webhook_delivery" ("id") on delete cascade;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "webhook_attempt" drop constraint "webhook_attempt_delivery_id_foreign";`);

    this.addSql(`drop table if exists "webhook_delivery" cascade;`);
    this.addSql(`drop table if exists "webhook_attempt" cascade;`);

    this.addSql(`alter table "processing_request" drop column "webhook_events";`);

    this.addSql(`drop type "webhook_delivery_status";`);
  }
}

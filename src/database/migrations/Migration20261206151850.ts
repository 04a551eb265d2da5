import { Migration } from '@mikro-orm/migrations';

const HOST_AND_PORT = `substring(input_url from '^[a-z]+://([^/?#]+)')`;
// The rule of hostAndPort() (common/outbound/retry-after.ts), on URLs as uploads normalise them.
const SOURCE_HOST =
  `coalesce(CASE WHEN ${HOST_AND_PORT} ~ ':[0-9]+$' THEN ${HOST_AND_PORT} ` +
  `ELSE ${HOST_AND_PORT} || CASE WHEN input_url LIKE 'https:%' THEN ':443' ELSE ':80' END END, '')`;

export class Migration20261206151850 extends Migration {
  override name = 'Migration20261206151850';

  // Source hosts (SOURCE_HOST_CONCURRENCY, Retry-After): each image's host and
  // port, computed from its normalised URL by PostgreSQL (a stored generated
  // column, so rows of every age have it); the hosts a deployment was asked to
  // leave alone (source_host); the waiting images indexed by request and host.
  // storage_down_since becomes waiting_since: a host's pause is waited out the
  // same way as a storage outage.
  override up(): void | Promise<void> {
    this.addSql(
      `create table "source_host" ("deployment" text not null, "host" text not null, "paused_until" timestamptz not null, primary key ("deployment", "host"));`,
    );

    this.addSql(`drop index "image_dispatch_index";`);
    this.addSql(`alter table "image" rename column "storage_down_since" to "waiting_since";`);
    this.addSql(`alter table "image" add column "source_host" text generated always as (${SOURCE_HOST}) stored;`);
    this.addSql(
      `create index "image_waiting_index" on "image" ("request_id", "source_host", "id") where "status" = 'pending' and "chunk_id" is null and "source_image_id" is null;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "source_host" cascade;`);

    this.addSql(`drop index "image_waiting_index";`);
    this.addSql(`alter table "image" drop column "source_host";`);
    this.addSql(`alter table "image" rename column "waiting_since" to "storage_down_since";`);
    this.addSql(
      `create index "image_dispatch_index" on "image" ("request_id", "id") where "status" = 'pending' and "source_image_id" is null;`,
    );
  }
}

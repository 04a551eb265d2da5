import { Migration } from '@mikro-orm/migrations';

export class Migration20261128003000 extends Migration {
  override name = 'Migration20261128003000';

  // Cancel and retry (issue 12): a cancelled request and cancelled images,
  // counted apart from failed; a failed image remembers whether its fault was
  // transient, for `retry?only=transient`; each retry is a new round, with one
  // terminal event per round instead of one per event type for ever.
  override up(): void | Promise<void> {
    this.addSql(`alter type "request_status" add value if not exists 'cancelled';`);
    this.addSql(`alter type "image_status" add value if not exists 'cancelled';`);

    this.addSql(
      `alter table "processing_request" add "images_cancelled" int not null default 0, add "retry_round" int not null default 0;`,
    );

    this.addSql(`alter table "image" add "error_transient" boolean null;`);
    // Failures recorded before the flag existed, judged as the retry policy judged them then.
    this.addSql(
      `update "image" set "error_transient" = ("error_code" in ('FETCH_TIMEOUT', 'CONNECTION_ERROR', 'DNS_ERROR', 'PROCESSING_ERROR') or "error_code" ~ '^HTTP_(5[0-9][0-9]|408|425|429)$') where "error_code" is not null;`,
    );

    this.addSql(`alter table "webhook_delivery" add "request_round" int not null default 0;`);
    this.addSql(`alter table "webhook_delivery" drop constraint "webhook_delivery_request_id_event_type_unique";`);
    this.addSql(
      `alter table "webhook_delivery" add constraint "webhook_delivery_request_id_request_round_event_type_unique" unique ("request_id", "request_round", "event_type");`,
    );
  }

  override down(): void | Promise<void> {
    // Later rounds' events go; the first round's stay under the old key.
    this.addSql(`delete from "webhook_delivery" where "request_round" > 0;`);
    this.addSql(
      `alter table "webhook_delivery" drop constraint "webhook_delivery_request_id_request_round_event_type_unique";`,
    );
    this.addSql(
      `alter table "webhook_delivery" add constraint "webhook_delivery_request_id_event_type_unique" unique ("request_id", "event_type");`,
    );
    this.addSql(`alter table "webhook_delivery" drop column "request_round";`);
    // PostgreSQL cannot drop an enum value: cancelled rows become failed ones, the enums keep the value.
    this.addSql(
      `update "image" set "status" = 'failed', "error_code" = 'CANCELLED', "error_message" = 'Cancelled' where "status" = 'cancelled';`,
    );
    this.addSql(`update "processing_request" set "images_failed" = "images_failed" + "images_cancelled";`);
    this.addSql(`update "processing_request" set "status" = 'failed' where "status" = 'cancelled';`);
    this.addSql(`alter table "image" drop column "error_transient";`);
    this.addSql(`alter table "processing_request" drop column "images_cancelled", drop column "retry_round";`);
  }
}

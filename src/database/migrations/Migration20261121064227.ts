import { Migration } from '@mikro-orm/migrations';

export class Migration20261121064227 extends Migration {
  override name = 'Migration20261121064227';

  override up(): void | Promise<void> {
    this.addSql(
      `alter table "processing_request" add "idempotency_key" text null, add "upload_fingerprint" text null;`,
    );
    this.addSql(
      `alter table "processing_request" add constraint "processing_request_idempotency_key_unique" unique ("idempotency_key");`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "processing_request" drop constraint "processing_request_idempotency_key_unique";`);
    this.addSql(`alter table "processing_request" drop column "idempotency_key", drop column "upload_fingerprint";`);
  }
}

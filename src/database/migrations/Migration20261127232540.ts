import { Migration } from '@mikro-orm/migrations';

export class Migration20261127232540 extends Migration {
  override name = 'Migration20261127232540';

  override up(): void | Promise<void> {
    this.addSql(`alter table "processing_request" add "tenant" text not null default 'default';`);
    this.addSql(`create index "processing_request_completed_at_index" on "processing_request" ("completed_at");`);
    this.addSql(
      `create index "processing_request_created_at_id_index" on "processing_request" ("created_at" DESC, "id" DESC);`,
    );
    this.addSql(
      `create index "processing_request_tenant_created_at_id_index" on "processing_request" ("tenant", "created_at" DESC, "id" DESC);`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "processing_request_completed_at_index";`);
    this.addSql(`drop index "processing_request_created_at_id_index";`);
    this.addSql(`drop index "processing_request_tenant_created_at_id_index";`);
    this.addSql(`alter table "processing_request" drop column "tenant";`);
  }
}

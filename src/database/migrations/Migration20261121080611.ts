import { Migration } from '@mikro-orm/migrations';

export class Migration20261121080611 extends Migration {
  override name = 'Migration20261121080611';

  override up(): void | Promise<void> {
    this.addSql(`alter table "image" drop constraint "image_request_id_foreign";`);
  }

  override down(): void | Promise<void> {
    this.addSql(
      `alter table "image" add constraint "image_request_id_foreign" foreign key ("request_id") references "processing_request" ("id") on delete cascade;`,
    );
  }
}
